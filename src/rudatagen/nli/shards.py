"""``merge-shards`` of ``generate wanli --shard i/N`` runs: one generation, then the filters.

A WANLI shard generated its part of the prompts and did not filter: max variability keeps a
fraction of every label ranked over the whole set, which no shard has. The merge joins the
shards' ``generation/`` stores into ``OUT/generation`` (the generic generation merge: no id
twice, none missing), computes the seed selection again (deterministic; it must give the
prompts every shard recorded, ``prompts_digest``) and runs the WANLI filters once over all the
rows, as an unsharded ``generate wanli`` does. ``OUT`` is then an ordinary WANLI run: a plain
``generate wanli --out OUT`` with the same recipe and cartography resumes it (nothing left to
generate) and filters again, e.g. after a change of ``wanli.filter``.

The settings come from the shards' manifests (their ``recipe``), the cartography and the seed
set from the paths they recorded: the merge runs where those are readable (a shared disk), on
the device ``wanli.cartography.device`` names, and makes no LLM call.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rudatagen.core.manifest import now_iso
from rudatagen.core.rundir import prepare_output
from rudatagen.errors import RudatagenError
from rudatagen.generators.job import JobResult
from rudatagen.generators.runner import GenerationReport
from rudatagen.nli.job import GENERATION_DIR, WanliResult, filter_wanli
from rudatagen.nli.plan import generated_rows, plan_wanli
from rudatagen.nli.settings import WanliRunSettings
from rudatagen.shards.merge import ShardRun, merge_shards


def merge_wanli_shards(runs: list[ShardRun], out: Path, *, progress: bool = True) -> WanliResult:
    """Join the WANLI shard runs ``runs`` (checked by ``read_shard_runs``) into ``out``."""
    started = time.perf_counter()
    created = now_iso()
    first = runs[0].manifest
    digests = {run.manifest.extra("prompts_digest") for run in runs}
    if len(digests) != 1:
        raise RudatagenError(
            "the shards selected different prompts (another seed set, cartography or "
            "wanli.selection): shards of one run only"
        )
    filtering = {json.dumps(_filter_settings(run), sort_keys=True) for run in runs}
    if len(filtering) != 1:
        raise RudatagenError(
            "the shards differ in their wanli or filters.decontaminate settings: the merge "
            "filters with one recipe, so shards of one run only"
        )
    cartography = Path(first.extra("cartography")["path"])
    seed_data = Path(first.extra("seed_data"))
    for what, path in (("cartography directory", cartography), ("seed set", seed_data)):
        if not path.exists():
            raise RudatagenError(
                f"the shards' {what} {path} is not here: merge where the shards' files are "
                f"readable (the filters need the cartography checkpoints and the seeds)"
            )
    settings = WanliRunSettings.from_public_dict(first.recipe or {})
    plan = plan_wanli(settings, cartography, seed_data)
    if plan.prompts_digest not in digests:
        raise RudatagenError(
            "the seed selection computed here differs from the shards' (another device or "
            "library version?): merge on a machine like the ones the shards ran on"
        )
    if settings.generate.fingerprint(plan.task.fingerprint_digest) != first.fingerprint:
        raise RudatagenError(
            "the prompt files or generation settings found here differ from the shards': "
            "merge with the same rudatagen and prompt folder"
        )
    prepare_output(out, [run.path for run in runs])
    joined = merge_shards([run.path / GENERATION_DIR for run in runs], out / GENERATION_DIR)
    rows = len(generated_rows(out / GENERATION_DIR, plan.items))
    report = GenerationReport(sources=len(plan.items), already_done=rows, pending=0)
    generation = JobResult(
        out=out / GENERATION_DIR,
        manifest=joined.manifest,
        summary=joined.summary,
        report=report,
        source_report=plan.source_report,
        rows=rows,
        shards=len(list((out / GENERATION_DIR / "data").glob("shard-*.parquet"))),
        status="complete",
    )
    result = filter_wanli(
        settings,
        cartography,
        out,
        plan,
        generation,
        started=started,
        created=created,
        show_progress=progress,
        merged_shards={"count": len(runs), "rows": rows, "sources": len(plan.items)},
        shards=[
            {"index": run.shard.index, "path": str(run.path), "counts": run.manifest.counts}
            for run in runs
        ],
    )
    result.summary = (
        f"{len(runs)} shards → {rows} generated pairs for {len(plan.items)} prompts, no id twice; "
        f"then the WANLI filters over all of them: {result.summary}"
    )
    return result


def _filter_settings(run: ShardRun) -> list[Any]:
    """What a shard recorded of the settings the merge filters with."""
    recipe = run.manifest.recipe or {}
    return [recipe.get("wanli"), recipe.get("filters")]
