"""The ``executor:`` section: where a stage runs, and how the Ray executor sizes its replicas."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError

from rudatagen.errors import RudatagenError
from rudatagen.strict import StrictModel

# Environment variables every Ray worker gets from the driver (where models and caches live,
# offline mode). Secrets are not forwarded unless a recipe names them: Ray keeps a job's
# environment in the cluster's metadata.
FORWARDED_ENV = (
    "RUDATAGEN_CACHE_DIR",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "HF_ENDPOINT",
    "TRANSFORMERS_OFFLINE",
    "SENTENCE_TRANSFORMERS_HOME",
)


class ExecutorSettings(StrictModel):
    """Where `generate`, `filter` and `mine` run: here, or spread over a Ray cluster.

    `kind: ray` runs the LLM engines, the model filters and mine's encoding as Ray actor pools
    (one replica = one engine or model) and the text filters as Ray tasks; reading, resume,
    global filters, the mining itself and the manifest stay in the `rudatagen` process.
    """

    kind: Literal["local", "ray"] = Field(
        "local", description="`local`: this process (the default); `ray`: a Ray cluster."
    )
    address: str | None = Field(
        None,
        description="The Ray cluster: `auto` (the one started on this node), `HOST:PORT` or "
        "`ray://HOST:PORT`; null: `RAY_ADDRESS`, else a new Ray instance on this machine.",
    )
    replicas: int = Field(
        1, ge=1, description="Actors of each pool: LLM engines, filter models, encoders."
    )
    gpus_per_replica: float = Field(
        0, ge=0, description="GPUs each replica reserves (vLLM: its `tensor_parallel_size`)."
    )
    cpus_per_replica: float = Field(
        1, gt=0, description="CPUs each replica (and each text-filter task) reserves."
    )
    batch_size: int = Field(
        32,
        ge=1,
        description="Sources per generation work unit: one shard, and what a killed replica "
        "redoes per unit it had in flight (answers already cached are not asked again).",
    )
    units_in_flight: int | None = Field(
        None,
        ge=1,
        description="Work units each generation replica runs at once, all feeding its one "
        "engine, so one unit's slowest answers never leave the engine idle; its engine still "
        "holds at most the requests a local run sends (`llm.max_concurrency`, vLLM: "
        "`llm.vllm.batch_size` if larger). null: enough to keep that full and one more, "
        "`ceil(requests / batch_size) + 1` (vLLM's defaults: 512 / 32 + 1 = 17; a server at "
        "`max_concurrency` 8: 2).",
    )
    chunk_size: int = Field(
        4096,
        ge=1,
        description="Candidates per filter task (whole records) and texts per encoding task.",
    )
    max_restarts: int = Field(
        3, ge=-1, description="Restarts of a replica whose process died (-1: no limit)."
    )
    max_task_retries: int = Field(
        3, ge=-1, description="Retries of a work unit whose replica died (-1: no limit)."
    )
    forward_env: list[str] = Field(
        default_factory=list,
        description="More environment variables the workers get from this process (e.g. an "
        "API key's; besides the model/cache ones always forwarded).",
    )

    def with_flags(self, kind: str | None, address: str | None) -> ExecutorSettings:
        """These settings under the CLI's ``--executor``/``--ray-address`` (flags win;
        ``--ray-address`` alone means ``--executor ray``)."""
        update: dict[str, object] = {}
        if address is not None:
            update["address"] = address
            if kind is None:
                kind = "ray"
        if kind is not None:
            update["kind"] = kind
        if update.get("kind") == "local" and address is not None:
            raise RudatagenError("--ray-address needs --executor ray")
        try:
            return ExecutorSettings.model_validate({**self.model_dump(), **update})
        except ValidationError:
            raise RudatagenError(f"--executor {kind!r}: choose local or ray") from None

    def facts(self) -> dict[str, object]:
        """What a manifest records about the executor (no environment values)."""
        return self.model_dump(mode="json", exclude={"forward_env"})
