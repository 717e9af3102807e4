"""``--shard i/N`` and ``merge-shards``: N processes do disjoint parts; their merge is one run.

Generation runs go against the fault server (a well-behaved local OpenAI-compatible server
here), so the sharded and unsharded runs see the same answers. Every answer carries one planted
non-paraphrase that is the same for every source: the filter shards defer dedup, and only the
merge's dedup over all shards can leave exactly one copy of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support.commands import (
    assert_one_line_error,
    generate_ruhnp_args,
    rudatagen,
    set_args,
)
from tests.support.fault_server import FaultServer, default_answer

from rudatagen.core.funnel import Funnel
from rudatagen.core.manifest import Manifest, write_manifest
from rudatagen.core.rundir import prepare_output, write_records
from rudatagen.core.sharding import Shard, shard_of
from rudatagen.core.tables import read_table
from rudatagen.errors import RudatagenError
from rudatagen.mine.job import MineStage
from rudatagen.mine.settings import CorpusSettings, MineSettings
from rudatagen.shards.merge import merge_shards

N_TEXTS = 40
PLANTED = "Совсем другая история о погоде в северных горах прошлой зимой."
TEXT_FILTERS_ONLY = (
    "filters.biencoder.enabled=false",
    "filters.cross_encoder.enabled=false",
    "filters.min_pos=0",
    "filters.min_neg=0",
    "filters.lexical.enabled=false",
    "filters.heuristic.min_length_ratio=0.1",
)


def planted_answer(body: dict) -> str:
    answer = json.loads(default_answer(body))
    if isinstance(answer.get("non_paraphrases"), list) and answer["non_paraphrases"]:
        answer["non_paraphrases"][0] = PLANTED
    return json.dumps(answer, ensure_ascii=False)


@pytest.fixture(scope="module")
def server() -> Any:
    with FaultServer(answer=planted_answer) as srv:
        yield srv


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, server: FaultServer, wiki_sentences: Path):
    """One unsharded generation run, shards 0/2 and 1/2, and their merge."""
    root = tmp_path_factory.mktemp("shards")
    limit = f"source.limit={N_TEXTS}"
    whole = root / "whole"
    _generate(wiki_sentences, whole, server.url, limit)
    parts = [root / f"part-{i}" for i in range(2)]
    for i, part in enumerate(parts):
        _generate(wiki_sentences, part, server.url, limit, shard=f"{i}/2")
    merged = root / "merged"
    result = rudatagen(
        "merge-shards", "--in", str(parts[0]), "--in", str(parts[1]), "--out", str(merged)
    )
    assert result.returncode == 0, result.stderr
    return {"root": root, "whole": whole, "parts": parts, "merged": merged, "log": result.stderr}


def _generate(source: Path, out: Path, url: str, *overrides: str, shard: str | None = None) -> None:
    args = generate_ruhnp_args(source, out, url, *overrides)
    if shard is not None:
        args += ["--shard", shard]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def _rows(run: Path) -> list[dict[str, Any]]:
    return [
        r
        for p in sorted((run / "data").glob("shard-*.parquet"))
        for r in pq.read_table(p).to_pylist()
    ]


def test_shards_partition_the_keys_stably() -> None:
    keys = [f"doc-{i}" for i in range(3000)]
    for count in (1, 2, 3, 7):
        owners = [[s for s in range(count) if Shard(s, count).keeps(k)] for k in keys]
        assert all(len(o) == 1 for o in owners), "every key in exactly one shard"
        sizes = Counter(o[0] for o in owners)
        assert min(sizes.values()) > 0.8 * len(keys) / count
    # Another interpreter with another hash seed puts a key in the same shard.
    code = "from rudatagen.core.sharding import shard_of; print(shard_of('doc-17', 97))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONHASHSEED": "123"}
    )
    assert int(other.stdout) == shard_of("doc-17", 97)


def test_bad_shard_spec_is_one_line_error(tmp_path: Path, wiki_sentences: Path) -> None:
    for spec in ("2/2", "x", "1/0", "-1/3"):
        with pytest.raises(RudatagenError, match="--shard"):
            Shard.parse(spec)
    result = rudatagen(
        "generate",
        "ruhnp",
        "--source",
        str(wiki_sentences),
        "--out",
        str(tmp_path / "o"),
        "--shard",
        "2/2",
    )
    assert_one_line_error(result, "--shard 2/2")


@pytest.mark.slow
def test_merged_shards_equal_the_unsharded_run(runs: dict[str, Any]) -> None:
    whole, merged = _rows(runs["whole"]), _rows(runs["merged"])
    part_ids = [{r["id"] for r in _rows(p)} for p in runs["parts"]]
    assert part_ids[0] and part_ids[1] and not part_ids[0] & part_ids[1]
    assert sorted(r["id"] for r in merged) == sorted(r["id"] for r in whole)
    assert len(merged) == len(whole) == N_TEXTS
    manifest = json.loads((runs["merged"] / "manifest.json").read_text())
    assert manifest["stage"] == "generate" and manifest["kind"] == "ruhnp"
    assert manifest["merged_shards"]["count"] == 2
    assert manifest["counts"]["sources"] == N_TEXTS
    assert [i["path"] for i in manifest["inputs"]] == [str(p) for p in runs["parts"]]
    assert manifest["backend"]["name"] == "openai" and manifest["llm_calls"] >= N_TEXTS
    assert "40 rows, 40 sources; no id twice" in runs["log"]


@pytest.mark.slow
def test_merge_refuses_what_is_not_one_run(runs: dict[str, Any], tmp_path: Path) -> None:
    part0, part1 = (str(p) for p in runs["parts"])
    out = str(tmp_path / "m")
    assert_one_line_error(rudatagen("merge-shards", "--in", part0, "--out", out), "1/2 missing")
    assert_one_line_error(
        rudatagen("merge-shards", "--in", part0, "--in", part0, "--in", part1, "--out", out),
        "given twice",
    )
    assert_one_line_error(
        rudatagen("merge-shards", "--in", part0, "--in", str(runs["whole"]), "--out", out),
        "not a shard",
    )


@pytest.mark.slow
def test_a_shard_directory_resumes_only_as_that_shard(
    runs: dict[str, Any], server: FaultServer, wiki_sentences: Path
) -> None:
    args = generate_ruhnp_args(
        wiki_sentences, runs["parts"][0], server.url, f"source.limit={N_TEXTS}"
    )
    result = subprocess.run([*args, "--shard", "1/2"], capture_output=True, text=True)
    assert_one_line_error(result, "holds shard 0/2")


@pytest.mark.slow
def test_filter_shards_defer_dedup_to_the_merge(runs: dict[str, Any]) -> None:
    root, merged = runs["root"], runs["merged"]
    whole_filtered = root / "filtered-whole"
    result = rudatagen(
        "filter", "--in", str(merged), "--out", str(whole_filtered), *set_args(TEXT_FILTERS_ONLY)
    )
    assert result.returncode == 0, result.stderr
    parts = [root / f"filtered-{i}" for i in range(2)]
    for i, part in enumerate(parts):
        result = rudatagen(
            "filter",
            "--in",
            str(merged),
            "--out",
            str(part),
            "--shard",
            f"{i}/2",
            *set_args(TEXT_FILTERS_ONLY),
        )
        assert result.returncode == 0, result.stderr
        manifest = json.loads((part / "manifest.json").read_text())
        assert manifest["deferred_filters"] == ["dedup"]
        # Within one shard the planted sentence is still in every record.
        assert sum(PLANTED in r["neg"] for r in _rows(part)) > 1
    joined = root / "filtered-merged"
    result = rudatagen(
        "merge-shards", "--in", str(parts[0]), "--in", str(parts[1]), "--out", str(joined)
    )
    assert result.returncode == 0, result.stderr
    assert "then dedup over all of them" in result.stderr

    def kept(run: Path) -> set[tuple[str, str]]:
        candidates = pq.read_table(run / "candidates.parquet").to_pylist()
        return {(c["label"], c["text"]) for c in candidates if c["kept"]}

    rows = _rows(joined)
    assert sum(PLANTED in r["neg"] for r in rows) == 1
    assert sum(PLANTED in r["neg"] for r in _rows(whole_filtered)) == 1
    assert kept(joined) == kept(whole_filtered)
    assert sum(len(r["pos"]) + len(r["neg"]) for r in rows) == len(kept(joined))
    funnel = Funnel.model_validate_json((joined / "funnel.json").read_text())
    whole_funnel = Funnel.model_validate_json((whole_filtered / "funnel.json").read_text())
    assert funnel.check() == []
    assert funnel.counts_in == whole_funnel.counts_in
    assert funnel.counts_out == whole_funnel.counts_out
    # The shards' steps (added up), then the deferred dedup over all of them and its own
    # survivor check.
    names = [s.name for s in funnel.steps]
    assert names == ["heuristic", "min_survivors", "dedup", "min_survivors"], names
    rejects = pq.read_table(joined / "rejects.parquet").to_pylist()
    dedup = funnel.steps[2]
    assert sum(r["filter"] == "dedup" for r in rejects) == dedup.total_in - dedup.total_out > 0


@pytest.mark.slow
def test_mine_shards_merge_into_the_unsharded_negatives(
    tmp_path: Path, shared_data: Path, minilm: str
) -> None:
    """Each shard mines its queries against the whole corpus (which holds every positive), so
    the merged negatives are the unsharded ones, row for row."""
    rows = read_table(shared_data / "ru_wiki_sentences.tsv").to_pylist()[:120]
    records = [
        {
            "id": f"{row['sent_id']}-q",
            "query": " ".join(row["text"].split()[:5]),
            "positive": row["text"],
            "negatives": [],
            "query_type": "keyword",
            "passage_id": row["sent_id"],
        }
        for row in rows[:24]
    ]
    run = tmp_path / "gen"
    prepare_output(run)
    write_records(run, pa.Table.from_pylist(records))
    write_manifest(run, Manifest(stage="generate", kind="retrieval", counts={"rows": len(records)}))
    corpus = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"text": [row["text"] for row in rows]}), corpus)
    settings = MineSettings(
        model=minilm, num_negatives=3, device="cpu", corpus=CorpusSettings(path=str(corpus))
    )
    MineStage(settings).run([run], tmp_path / "whole")
    parts = [tmp_path / f"part-{i}" for i in range(2)]
    for i, part in enumerate(parts):
        MineStage(settings, shard=Shard(i, 2)).run([run], part)
    result = merge_shards(parts, tmp_path / "merged", progress=False)
    assert "24 rows" in result.summary

    def negatives(path: Path) -> dict[str, list[str]]:
        return {r["id"]: r["negatives"] for r in _rows(path)}

    assert negatives(tmp_path / "merged") == negatives(tmp_path / "whole")
    assert all(negatives(parts[0])) and all(negatives(parts[1]))
