"""``rudatagen publish``: group-wise splits, the Hub folder layout, the dataset card, the push."""
