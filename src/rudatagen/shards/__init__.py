"""Joining the runs of `--shard i/N` processes (`rudatagen merge-shards`)."""
