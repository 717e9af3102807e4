"""Where a stage's work runs: here (``local``, the default) or on a Ray cluster (``ray``).

The local executor is the stages' own code path, unchanged. The Ray executor spreads the part of
a stage that scales with the data over a cluster and keeps everything that decides the result
on the driver (the ``rudatagen`` process): reading inputs, resume, locks, global filters, the
mining itself, the manifest. ``settings.py``: the recipe's ``executor:`` section;
``connect.py``: importing and joining Ray with one-line errors; ``generate.py`` (driver) and
``replica.py`` (one actor per engine): generation; ``answer_cache.py``: the response cache
every replica shares; ``filters.py``: row-local filters as Ray tasks and actor pools;
``encode.py``: mine's embeddings as an actor pool.
"""
