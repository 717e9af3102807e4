"""The session's real Ray cluster (``ray start --head`` on loopback), shared by every test that
runs on Ray: starting one costs seconds, so the test files share it.

The cluster (two CPUs, its own directory, ports and token) starts the first time a test asks
for ``cluster`` and stops at the end of the session, only it. Starting it sets the loopback and
token environment, which Ray reads when it is first imported (or it dials the interface
address); the environment is restored when the cluster stops.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (pip install 'rudatagen[ray]')")
    from tests.support.ray_cluster import start_ray_cluster

    saved = dict(os.environ)
    # a short directory: Ray's socket paths under it must stay below the 107-byte limit
    root = Path(tempfile.mkdtemp(prefix="rdg-ray-", dir="/tmp"))
    started = start_ray_cluster(root / "r")  # sets the loopback/token environment...
    import ray  # ...which Ray reads when imported (or it dials the interface address)

    try:
        yield started
    finally:
        if ray.is_initialized():
            ray.shutdown()
        started.stop()
        shutil.rmtree(root, ignore_errors=True)
        os.environ.clear()
        os.environ.update(saved)
