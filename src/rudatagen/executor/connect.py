"""Import Ray and join a cluster, with one-line errors; the resources a replica asks for.

Ray is an optional extra (``rudatagen[ray]``): it is imported only when a recipe or
``--executor ray`` asks for it, so the local path never pays for it.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from types import ModuleType
from typing import Any

from rudatagen.errors import MissingDependencyError, RudatagenError
from rudatagen.executor.settings import FORWARDED_ENV, ExecutorSettings

# How long an actor pool waits for its replicas to start (a GPU node may have to come up).
REPLICAS_START_S = 900


def require_ray() -> ModuleType:
    """The ``ray`` module (with Ray Data), or a one-line error naming the extra to install."""
    try:
        import ray
        import ray.data  # the executor needs Ray Data, not only Ray Core
    except ImportError:
        raise MissingDependencyError("ray[data]", "ray", "--executor ray") from None
    return ray


def connect(settings: ExecutorSettings) -> ModuleType:
    """Join the Ray cluster ``settings.address`` names (once per process) and quiet Ray Data.

    Workers get the driver's model and cache locations (:data:`FORWARDED_ENV` and
    ``forward_env``), so a replica finds the same models as a local run. Any failure to join
    (no cluster there, a refused token, another Ray version) is one line.
    """
    ray = require_ray()
    if not ray.is_initialized():
        names = [*FORWARDED_ENV, *settings.forward_env]
        env = {name: os.environ[name] for name in names if name in os.environ}
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if env:
            options["runtime_env"] = {"env_vars": env}
        if settings.address is None:
            options["include_dashboard"] = False  # only a new instance takes this option
        if settings.address:
            _check_reachable(settings.address)
        try:
            ray.init(address=settings.address, **options)
        except Exception as exc:  # noqa: BLE001 - Ray raises many types here; all are one line
            where = settings.address or "a local Ray instance"
            raise RudatagenError(
                f"cannot join the Ray cluster at {where}: {first_line(exc)}"
            ) from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # rudatagen draws its own, counted over all replicas
    context.print_on_execution_start = False
    # An actor pool starts working once all its replicas are up: else the first one up takes
    # its share of a short run (``units_in_flight`` units) before the others can; and a
    # cluster too small for the pool is a one-line error, not a wait without end.
    context.wait_for_min_actors_s = REPLICAS_START_S
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    # "progress bars disabled" is what rudatagen asked for; other warnings stay
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    return ray


def _check_reachable(address: str) -> None:
    """A ``HOST:PORT`` nobody listens on is one line within seconds (``ray.init`` would retry
    for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return  # "auto", "local": Ray finds the cluster itself
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RudatagenError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def replica_options(settings: ExecutorSettings) -> dict[str, Any]:
    """Resources and fault tolerance of one replica (an actor) or one task."""
    options: dict[str, Any] = {"num_cpus": settings.cpus_per_replica}
    if settings.gpus_per_replica:
        options["num_gpus"] = settings.gpus_per_replica
    return options


def actor_options(settings: ExecutorSettings) -> dict[str, Any]:
    """:func:`replica_options` plus restarts: a replica whose process dies (kill -9, OOM) is
    started again and its unfinished work retried."""
    return {
        **replica_options(settings),
        "max_restarts": settings.max_restarts,
        "max_task_retries": settings.max_task_retries,
    }


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (Ray's are long)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def map_on_replicas(
    dataset: Any,
    replica: type,
    settings: ExecutorSettings,
    constructor: dict[str, Any],
    batch_size: int,
    calls_per_replica: int = 1,
) -> Any:
    """``dataset.map_batches`` over a fixed pool of ``settings.replicas`` actors of
    ``replica`` (built with ``constructor``), each given up to ``calls_per_replica`` batches at
    once (the next goes to whichever replica has the fewest: no queue behind a slow one) and
    restarted, its batches retried, when its process dies.

    ``calls_per_replica`` above 1 is for a ``replica`` whose ``__call__`` is a coroutine (Ray
    Data runs those on one loop per actor): Ray lets that many calls into the actor at once
    (``max_concurrent_calls_per_actor``, the actor's ``max_concurrency``) and sends it no more
    than that (``max_tasks_in_flight_per_actor``: a batch never waits inside a busy replica
    while another has room)."""
    ray = require_ray()
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing max_restarts/max_task_retries this way but offers no
        # other one for Ray Data's actor pools yet.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
        return dataset.map_batches(
            replica,
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(
                size=settings.replicas,
                max_tasks_in_flight_per_actor=calls_per_replica,
                max_concurrent_calls_per_actor=calls_per_replica,
            ),
            fn_constructor_kwargs=constructor,
            **actor_options(settings),
        )
