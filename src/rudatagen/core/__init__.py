"""core: pieces every stage uses."""
