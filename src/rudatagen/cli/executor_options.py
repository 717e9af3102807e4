"""``--executor`` and ``--ray-address``: the options of the commands that can run on Ray
(``generate ruhnp|queries|wanli``, ``filter``, ``mine``), over the recipe's ``executor:``."""

from __future__ import annotations

from typing import Annotated

import typer

from rudatagen.executor.settings import ExecutorSettings

ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Where the work runs: local (this process) or ray (a Ray cluster; needs "
        "pip install 'rudatagen\\[ray]'). Default: the recipe's executor.kind.",
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="The Ray cluster: auto, HOST:PORT or ray://HOST:PORT (implies --executor ray).",
    ),
]


def executor_settings(
    section: ExecutorSettings, executor: str | None, ray_address: str | None
) -> ExecutorSettings:
    """The recipe's ``executor:`` section under the flags (flags win)."""
    return section.with_flags(executor, ray_address)
