"""``rudatagen evaluate`` and ``rudatagen shift``: metrics of an encoder on labelled pairs, and
how the cosine distributions of positive and negative pairs move between two encoders."""
