"""The Label Studio bridge: push samples with pre-annotations, pull, aggregate, agree."""
