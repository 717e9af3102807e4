"""Filters that prune generated pairs. Each scores and explains; nothing is dropped silently."""
