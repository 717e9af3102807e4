"""``rudatagen train``: a bi-encoder trained on published RuHNP / WANLI data with
sentence-transformers' own trainer, built from ``recipes/train.yaml``."""
