"""``rudatagen mine``: hard negatives from a corpus, by sentence-transformers' miner.

``settings.py`` is the ``mine:`` recipe section, ``corpus.py`` reads the corpus, ``shapes.py``
says how each kind's records become (anchor, positive) pairs and where the negatives go,
``miner.py`` makes the one ``mine_hard_negatives`` call (and reads its embedding cache back),
``job.py`` is the stage.
"""
