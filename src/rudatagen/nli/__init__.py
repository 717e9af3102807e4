"""WANLI-style NLI generation: seed data, dataset cartography, neighbour prompts, filtering.

Modules import torch and sentence-transformers lazily, so ``rudatagen.nli.settings`` (read by
every recipe) stays cheap.
"""
