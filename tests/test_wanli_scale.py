"""``generate wanli`` beyond one process: ``--shard i/N`` + ``merge-shards`` and
``--executor ray`` against one plain local run, decontamination included.

Generation goes to the fault server (a well-behaved OpenAI-compatible server in this process)
whose answer depends only on the prompt, so every run sees the same answers and the comparison
is exact: the same generated ids, the same kept rows (max-variability scores included). The
answer's premise is the seed's own premise (a real TERRa sentence); every third hypothesis
repeats its premise, for the heuristics to reject, and another third is a sentence planted in an
evaluation set, for decontamination (every run passes ``--decontaminate-against``). The
cartography run is the session's (tests/support/nli_fixtures.py); the Ray cluster too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from tests.support.commands import TEST_SERVER_OVERRIDES, rudatagen, set_args
from tests.support.fault_server import FaultServer, default_answer, digest, prompt_text
from tests.support.nli_fixtures import RECIPE

from rudatagen.config import load_recipe
from rudatagen.core.sharding import Shard
from rudatagen.errors import RudatagenError
from rudatagen.nli.plan import generated_rows
from rudatagen.nli.settings import WanliRunSettings
from rudatagen.shards.merge import merge_shards
from rudatagen.sources import SourceText

PROMPTS = 8  # --limit: prompts (seeds) per run
NUMBERED_PREMISE = re.compile(r"^\d+\. (.+)$", re.MULTILINE)  # prompts/wanli/pairs/user.md.j2
Wanli = Callable[..., str]  # (out, *extra flags) -> stderr


PLANTED = "Это предложение из оценочного набора не должно попасть в обучающие данные."


def wanli_answer(body: dict[str, Any]) -> str:
    prompt = prompt_text(body)
    answer = json.loads(default_answer(body))
    answer["premise"] = NUMBERED_PREMISE.findall(prompt)[-1]  # the seed comes last
    third = int(digest(prompt), 16) % 3
    if third == 0:
        answer["hypothesis"] = answer["premise"]
    elif third == 1:
        answer["hypothesis"] = PLANTED
    return json.dumps(answer, ensure_ascii=False)


@pytest.fixture(scope="module")
def server() -> Any:
    with FaultServer(answer=wanli_answer) as srv:
        yield srv


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo recipe without its llama.cpp section: the LLM is the test server."""
    demo = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    del demo["llm"]
    path = tmp_path_factory.mktemp("recipe") / "wanli-test-server.yaml"
    path.write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def wanli(
    recipe: Path,
    nli_carto: Path,
    nli_overrides: list[str],
    server: FaultServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Wanli:
    """``generate wanli`` into an output directory against the test server, with the
    evaluation set of the planted sentence; returns its stderr."""
    evaluation = tmp_path_factory.mktemp("eval") / "eval.txt"
    evaluation.write_text(f"{PLANTED}\n", encoding="utf-8")
    settings = [*TEST_SERVER_OVERRIDES, f"llm.base_url={server.url}"]

    def run(out: Path, *extra: str) -> str:
        result = rudatagen(
            "generate", "wanli", "--recipe", str(recipe), "--cartography", str(nli_carto),
            "--out", str(out), "--limit", str(PROMPTS), "--no-progress", *nli_overrides,
            *set_args([*settings, "wanli.generation.max_chars=1000"]),
            "--decontaminate-against", str(evaluation), *extra,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stderr

    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, wanli: Wanli) -> dict[str, Any]:
    """One unsharded run, shards 0/2 and 1/2, and their merge."""
    root = tmp_path_factory.mktemp("wanli-scale")
    whole = root / "whole"
    wanli(whole)
    parts = [root / f"part-{i}" for i in range(2)]
    logs = [wanli(part, "--shard", f"{i}/2") for i, part in enumerate(parts)]
    merged = root / "merged"
    result = rudatagen("merge-shards", "--in", str(parts[0]), "--in", str(parts[1]),
                       "--out", str(merged), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {"whole": whole, "parts": parts, "logs": logs, "merged": merged, "merge": result.stderr}


def generated_ids(run: Path) -> list[str]:
    return pq.read_table(run / "generation" / "data", columns=["id"]).column("id").to_pylist()


def table(path: Path) -> list[dict[str, Any]]:
    """The rows, with NaN (a score a rejected pair never got) as None, so that rows compare."""
    rows = pq.read_table(path).to_pylist()
    return [{k: None if v != v else v for k, v in row.items()} for row in rows]


def manifest_of(run: Path) -> dict[str, Any]:
    return json.loads((run / "manifest.json").read_text(encoding="utf-8"))


def funnel_steps(run: Path) -> list[dict[str, Any]]:
    """The funnel's steps without their timings."""
    steps = json.loads((run / "funnel.json").read_text(encoding="utf-8"))["steps"]
    return [{k: v for k, v in step.items() if k != "seconds"} for step in steps]


def assert_same_run(run: Path, whole: Path) -> None:
    """The same generated ids and the same filtered output as the unsharded local run."""
    assert sorted(generated_ids(run)) == sorted(generated_ids(whole))
    assert table(run / "data" / "shard-00000.parquet") == table(
        whole / "data" / "shard-00000.parquet"
    )
    assert table(run / "candidates.parquet") == table(whole / "candidates.parquet")
    assert manifest_of(run)["counts"] == manifest_of(whole)["counts"]


@pytest.mark.slow
@pytest.mark.integration
def test_wanli_shards_merge_into_the_unsharded_run(runs: dict[str, Any]) -> None:
    whole, parts, merged = runs["whole"], runs["parts"], runs["merged"]
    ids = generated_ids(whole)
    assert len(ids) == len(set(ids)) == PROMPTS
    candidates = table(whole / "candidates.parquet")
    reasons = {c["reason"] for c in candidates if not c["kept"]}
    assert "same_as_premise" in reasons and "below_label_quota" in reasons, reasons
    assert any(c["kept"] for c in candidates)
    # decontamination ran first and took exactly the planted pairs
    planted = [c for c in candidates if c["text"] == PLANTED]
    assert planted and all(c["filter"] == "decontaminate" for c in planted)
    assert all(c["filter"] != "decontaminate" for c in candidates if c["text"] != PLANTED)
    assert manifest_of(whole)["filters"][0]["name"] == "decontaminate"
    assert funnel_steps(whole)[3]["name"] == "decontaminate"

    # each shard selected the same prompts and generated its own, by the hash of the seed id,
    # and stopped before the filters (they rank the whole set)
    for i, (part, log) in enumerate(zip(parts, runs["logs"], strict=True)):
        assert sorted(generated_ids(part)) == sorted(x for x in ids if Shard(i, 2).keeps(x))
        assert not (part / "data").exists() and not (part / "candidates.parquet").exists()
        manifest = manifest_of(part)
        assert manifest["shard"] == {"index": i, "count": 2}
        assert manifest["prompts_digest"] == manifest_of(whole)["prompts_digest"]
        assert manifest["recipe"]["filters"]["decontaminate"]["against"]  # for the merge
        assert "not filtered" in log and "merge-shards" in log
    assert generated_ids(parts[0]) and generated_ids(parts[1])

    assert "2 shards → 8 generated pairs" in runs["merge"], runs["merge"]
    assert_same_run(merged, whole)
    manifest = manifest_of(merged)
    assert manifest["merged_shards"] == {"count": 2, "rows": PROMPTS, "sources": PROMPTS}
    assert manifest["status"] == "complete" and "shard" not in manifest
    assert funnel_steps(merged) == funnel_steps(whole)

    # the merge needs every shard (one line, before anything is written)
    with pytest.raises(RudatagenError, match=r"shard\(s\) 1/2 missing"):
        merge_shards([parts[0]], merged.parent / "half")
    assert not (merged.parent / "half").exists()


@pytest.mark.slow
@pytest.mark.integration
def test_wanli_on_ray_keeps_the_local_rows(
    cluster: Any, runs: dict[str, Any], wanli: Wanli, tmp_path: Path
) -> None:
    """Two replicas generate (two prompts a unit); selection and filters run in the driver."""
    out = tmp_path / "ray"
    ray = ("--set", "executor.replicas=2", "--set", "executor.batch_size=2")
    wanli(out, "--ray-address", cluster.address, *ray)
    assert_same_run(out, runs["whole"])
    manifest = manifest_of(out)
    assert manifest["executor"]["kind"] == "ray" and manifest["executor"]["units"] == PROMPTS // 2
    assert sum(r["completed"] for r in manifest["replicas"].values()) == PROMPTS


def test_rows_are_filtered_in_the_selection_order_whoever_wrote_them(tmp_path: Path) -> None:
    """Replicas and shards write in any order; the filters must see the same sequence."""
    items = [SourceText(id=str(i), text=f"seed {i}") for i in (5, 3, 9, 1)]
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.Table.from_pylist([{"id": "1"}, {"id": "7"}]), data / "shard-ub.parquet")
    pq.write_table(pa.Table.from_pylist([{"id": "9"}, {"id": "5"}]), data / "shard-00000.parquet")
    assert [row["id"] for row in generated_rows(tmp_path, items)] == ["5", "9", "1"]


def test_the_settings_come_back_from_a_wanli_manifest() -> None:
    """``merge-shards`` filters with the settings the shards recorded (decontamination too);
    with decontamination off, the recorded recipe is what it always was."""
    recipe = load_recipe(RECIPE, ["filters.decontaminate.against=[/eval/test.jsonl]"])
    settings = recipe.wanli_settings()
    public = settings.public_dict()
    assert public["filters"] == {"decontaminate": settings.decontaminate.model_dump(mode="json")}
    assert WanliRunSettings.from_public_dict(public) == settings
    plain = load_recipe(RECIPE).wanli_settings()
    assert "filters" not in plain.public_dict()
    assert WanliRunSettings.from_public_dict(plain.public_dict()) == plain
