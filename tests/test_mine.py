"""``rudatagen mine`` on real Russian Wikipedia passages with the local all-MiniLM-L6-v2.

A retrieval run is built here: each passage is a real sentence of ``ru_wiki_sentences.tsv``, its
query the sentence's first words; the corpus is the first few hundred sentences plus a planted
near-copy of one positive. MiniLM is English, so the checks are about what mining guarantees
(no positive or near-copy as a negative, reuse of the stored embeddings, the scores' order),
not about how good the negatives are.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support.commands import assert_one_line_error, rudatagen, set_args
from tests.support.run_dirs import GENERATION_MANIFEST, ruhnp_records, write_run

from rudatagen.core.manifest import Manifest, read_manifest, write_manifest
from rudatagen.core.rundir import prepare_output, read_run_table, write_records
from rudatagen.core.tables import read_table
from rudatagen.mine.job import MineStage
from rudatagen.mine.settings import CorpusSettings, MineSettings

pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")

N_QUERIES = 20
N_CORPUS = 160
QUERY_WORDS = 6


def near_copy(text: str) -> str:
    """The same sentence with its last word dropped: a different text, the same content."""
    return text.rsplit(" ", 1)[0] + "."


@pytest.fixture(scope="module")
def sentences(shared_data: Path) -> list[dict[str, Any]]:
    rows = read_table(shared_data / "ru_wiki_sentences.tsv").to_pylist()[:N_CORPUS]
    return [r for r in rows if len(r["text"].split()) > QUERY_WORDS + 2]


@pytest.fixture(scope="module")
def retrieval_run(tmp_path_factory: pytest.TempPathFactory, sentences: list[dict]) -> Path:
    """A generation run of kind ``retrieval``, written with the run-directory writer."""
    run = tmp_path_factory.mktemp("retrieval") / "gen"
    records = [
        {
            "id": f"{row['sent_id']}-keyword-0",
            "query": " ".join(row["text"].split()[:QUERY_WORDS]),
            "positive": row["text"],
            "negatives": [],
            "query_type": "keyword",
            "passage_id": row["sent_id"],
        }
        for row in sentences[:N_QUERIES]
    ]
    prepare_output(run)
    write_records(run, pa.Table.from_pylist(records))
    write_manifest(run, Manifest(stage="generate", kind="retrieval", counts={"rows": N_QUERIES}))
    return run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, sentences: list[dict]) -> Path:
    """The sentences (the positives among them) and a near-copy of the first positive."""
    texts = [row["text"] for row in sentences] + [near_copy(sentences[0]["text"])]
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    pq.write_table(pa.table({"text": texts, "source": ["wiki"] * len(texts)}), path)
    return path


def settings(minilm: str, corpus: Path, **changes: Any) -> MineSettings:
    base = {"model": minilm, "num_negatives": 3, "batch_size": 32, "device": "cpu"}
    return MineSettings(**base, corpus=CorpusSettings(path=str(corpus)), **changes)


@pytest.fixture(scope="module")
def mined(
    tmp_path_factory: pytest.TempPathFactory, retrieval_run: Path, corpus: Path, minilm: str
) -> tuple[Path, str]:
    """A first run with the default guard (relative_margin 0.05), and its summary."""
    out = tmp_path_factory.mktemp("mined") / "out"
    result = MineStage(settings(minilm, corpus)).run([retrieval_run], out)
    return out, result.summary


def test_retrieval_rows_get_corpus_negatives_and_scores(
    mined: tuple[Path, str], retrieval_run: Path
) -> None:
    out, summary = mined
    rows = read_run_table(out).to_pylist()
    source = read_run_table(retrieval_run).to_pylist()
    assert [r["id"] for r in rows] == [r["id"] for r in source]  # every record, in order
    # MiniLM reads Russian poorly: for a few queries every candidate is within 5% of the
    # positive, and the guard leaves them none; never a partial list with this corpus
    sizes = [len(r["negatives"]) for r in rows]
    assert set(sizes) <= {0, 3} and sizes.count(3) >= N_QUERIES * 2 // 3, summary
    for row in (r for r in rows if r["negatives"]):
        assert row["positive"] not in row["negatives"]
        assert len(row["negative_scores"]) == 3
        assert row["negative_scores"] == sorted(row["negative_scores"], reverse=True)
        # the guard: every negative scores at least 5% below the positive
        assert max(row["negative_scores"]) <= row["positive_score"] * 0.95 + 1e-5
        # the hardest passage is taken before the guard: no mined negative scores above it
        assert row["hardest_score"] >= max(row["negative_scores"]) - 1e-5
    manifest = read_manifest(out)
    assert manifest is not None and manifest.stage == "mine" and manifest.kind == "retrieval"
    assert manifest.input_path == retrieval_run
    assert manifest.counts["records_with_all_negatives"] == sizes.count(3)
    assert manifest.counts["records_without_negatives"] == sizes.count(0)
    assert manifest.extra("embeddings")["corpus"] == "encoded"
    assert "Positive" in (out / "mine.log").read_text(encoding="utf-8")  # the miner's table
    assert "embeddings encoded" in summary


def test_planted_near_copy_is_not_a_negative(mined: tuple[Path, str], sentences: list) -> None:
    """The near-copy is the hardest passage of the first query, yet the guard keeps it out."""
    out, _ = mined
    first = read_run_table(out).to_pylist()[0]
    copy = near_copy(sentences[0]["text"])
    assert copy not in first["negatives"]
    assert first["hardest_score"] > 0.95 * first["positive_score"]


def test_rerun_reuses_embeddings_and_guard_off_picks_the_copy(
    tmp_path: Path,
    mined: tuple[Path, str],
    retrieval_run: Path,
    corpus: Path,
    minilm: str,
    sentences: list,
) -> None:
    """A second run into the same OUT encodes nothing (files untouched, manifest says reused);
    with the guard off the near-copy becomes the first negative: the guard is what kept it out."""
    out = tmp_path / "again"
    shutil.copytree(mined[0], out)  # keeps the files' times
    stored = sorted((out / "embeddings").rglob("*.npy"))
    assert len(stored) == 2
    stamps = [os.stat(p).st_mtime_ns for p in stored]
    loose = settings(minilm, corpus, relative_margin=None)
    result = MineStage(loose).run([retrieval_run], out)
    assert sorted((out / "embeddings").rglob("*.npy")) == stored
    assert [os.stat(p).st_mtime_ns for p in stored] == stamps
    assert result.manifest.extra("embeddings") == {
        "folder": str(stored[0].parent.relative_to(out)),
        "corpus": "reused",
        "queries": "reused",
    }
    assert "embeddings reused" in result.summary
    first = read_run_table(out).to_pylist()[0]
    assert first["negatives"][0] == near_copy(sentences[0]["text"])
    assert first["negative_scores"][0] == pytest.approx(first["hardest_score"], abs=1e-5)


def test_cross_encoder_rescores_the_candidates(
    tmp_path: Path, mined: tuple[Path, str], retrieval_run: Path, corpus: Path, minilm: str
) -> None:
    """With a cross-encoder the negatives are ranked and scored by it (an untrained head on
    MiniLM here: only the plumbing is checked, against its own ``predict``); the bi-encoder
    embeddings are reused, not re-encoded. The miner rescores only when a score rule is set:
    a ``max_score`` that drops nothing, and a narrow window to keep the test short."""
    from rudatagen.encoders import load_cross_encoder

    reranker_dir = tmp_path / "reranker"
    load_cross_encoder(minilm, "cpu", num_labels=1).save(str(reranker_dir))
    out = tmp_path / "reranked"
    shutil.copytree(mined[0] / "embeddings", out / "embeddings")
    changes = {"relative_margin": None, "max_score": 1e6, "range_max": 4}
    rerank = settings(minilm, corpus, cross_encoder=str(reranker_dir), **changes)
    result = MineStage(rerank).run([retrieval_run], out)
    assert result.manifest.extra("embeddings")["corpus"] == "reused"
    plain = {r["id"]: r for r in read_run_table(mined[0]).to_pylist()}
    reranker = load_cross_encoder(str(reranker_dir), "cpu")
    for row in read_run_table(out).to_pylist()[:5]:
        assert len(row["negatives"]) == 3 and row["positive"] not in row["negatives"]
        expected = reranker.predict([(row["query"], n) for n in row["negatives"]])
        assert row["negative_scores"] == pytest.approx(expected.tolist(), abs=1e-4)
        assert row["negative_scores"] == sorted(row["negative_scores"], reverse=True)
        # positive_score stays the bi-encoder's (the easiness filter's scale)
        assert row["positive_score"] == pytest.approx(plain[row["id"]]["positive_score"])


def test_a_run_directory_as_the_corpus(tmp_path: Path, retrieval_run: Path, minilm: str) -> None:
    """A retrieval run's own passages (column ``positive``) as the corpus: the negatives of a
    query are the other queries' passages."""
    out = tmp_path / "out"
    result = MineStage(settings(minilm, retrieval_run, relative_margin=None)).run(
        [retrieval_run], out
    )
    assert result.manifest.extra("corpus")["column"] == "positive"
    passages = {r["positive"] for r in read_run_table(retrieval_run).to_pylist()}
    for row in read_run_table(out).to_pylist():
        assert len(row["negatives"]) == 3
        assert set(row["negatives"]) <= passages - {row["positive"]}


def test_bad_inputs_are_one_line_errors(
    tmp_path: Path, retrieval_run: Path, corpus: Path, minilm: str, shared_data: Path
) -> None:
    model = set_args([f"mine.model={minilm}"])
    out = str(tmp_path / "out")
    no_column = tmp_path / "sentences.csv"
    no_column.write_text("sentence\nПервое предложение.\n", encoding="utf-8")
    result = rudatagen("mine", "--in", str(retrieval_run), "--corpus", str(no_column), "-o", out)
    assert_one_line_error(result, "no passage column", "sentence")

    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": "  "}\n{"text": null}\n', encoding="utf-8")
    result = rudatagen("mine", "-i", str(retrieval_run), "-c", str(empty), "-o", out, *model)
    assert_one_line_error(result, "empty corpus")

    wiki = shared_data / "ru_wiki_sentences.tsv"
    others = tmp_path / "others.parquet"
    tail = read_table(wiki).slice(5000, 200)  # sentences far from the run's passages
    pq.write_table(tail, others)
    result = rudatagen("mine", "-i", str(retrieval_run), "-c", str(others), "-o", out, *model)
    assert_one_line_error(result, "holds none of the", "positive passages")

    result = rudatagen("mine", "-i", str(retrieval_run), "-o", out, *model)
    assert_one_line_error(result, "needs a corpus")

    wanli = write_run(tmp_path / "wanli", [{"id": "w1", "premise": "a", "hypothesis": "b"}])
    (wanli / "manifest.json").write_text('{"stage": "generate", "kind": "wanli"}')
    result = rudatagen("mine", "-i", str(wanli), "-c", str(corpus), "-o", out, *model)
    assert_one_line_error(result, "holds wanli records", "retrieval")

    too_narrow = set_args(["mine.range_max=2"])
    result = rudatagen("mine", "-i", str(retrieval_run), "-c", str(corpus), "-o", out, *too_narrow)
    assert_one_line_error(result, "num_negatives")


def test_ruhnp_run_gets_corpus_negatives_beside_its_own(
    tmp_path: Path, shared_data: Path, minilm: str, sentences: list
) -> None:
    """Through the CLI: the query's own sentence is in the corpus and is not its negative."""
    records = ruhnp_records(shared_data)[:12]
    run = write_run(tmp_path / "gen", records, GENERATION_MANIFEST)
    texts = [r["query"] for r in records] + [row["text"] for row in sentences[:50]]
    corpus_file = tmp_path / "corpus.tsv"
    corpus_file.write_text("passage\n" + "\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "mined"
    overrides = [f"mine.model={minilm}", "mine.num_negatives=2", "mine.device=cpu"]
    args = ["--in", str(run), "--corpus", str(corpus_file), "--out", str(out)]
    result = rudatagen("mine", *args, *set_args(overrides))
    assert result.returncode == 0, result.stderr
    assert "mined 12 queries" in result.stderr
    rows = read_run_table(out).to_pylist()
    assert len(rows) == 12
    for row, record in zip(rows, records, strict=True):
        assert row["neg"] == record["neg"] and row["pos"] == record["pos"]
        assert len(row["corpus_negatives"]) == 2
        assert row["query"] not in row["corpus_negatives"]
        assert not set(row["pos"]) & set(row["corpus_negatives"])
    manifest = read_manifest(out)
    assert manifest is not None and manifest.kind == "ruhnp"
    assert manifest.counts["negatives_column"] == "corpus_negatives"


def test_a_mined_ruhnp_run_publishes_and_trains_with_its_corpus_negatives(
    tmp_path: Path, shared_data: Path, minilm: str, sentences: list
) -> None:
    """Publish keeps ``corpus_negatives`` (and the card describes it); train appends them to
    the LLM-written ``neg``; a corpus negative that is the query itself is a one-line error."""
    from typer.testing import CliRunner

    from rudatagen.cli import app
    from rudatagen.kinds import get_kind
    from rudatagen.training.build import build_parts
    from rudatagen.training.recipe import TrainSettings

    records = ruhnp_records(shared_data)[:20]
    run = write_run(tmp_path / "gen", records, GENERATION_MANIFEST)
    corpus_file = tmp_path / "corpus.parquet"
    texts = [r["query"] for r in records] + [row["text"] for row in sentences[:40]]
    pq.write_table(pa.table({"text": texts}), corpus_file)
    mine_settings = settings(minilm, corpus_file).model_copy(
        update={"num_negatives": 2, "max_seq_length": 64}
    )
    MineStage(mine_settings).run([run], tmp_path / "mined")
    mined = {row["query"]: row for row in read_run_table(tmp_path / "mined").to_pylist()}

    hub = tmp_path / "hub"
    args = ["publish", "--in", str(tmp_path / "mined"), "--out", str(hub), "--split", "test=4"]
    result = CliRunner().invoke(app, [*args, "--split", "validation=0"])
    assert result.exit_code == 0, result.output
    published = pq.read_table(hub / "data").to_pylist()
    assert list(published[0]) == ["query", "pos", "neg", "corpus_negatives"]
    assert len(published) == 20
    for row in published:
        assert row["corpus_negatives"] == mined[row["query"]]["corpus_negatives"]
        assert len(row["corpus_negatives"]) == 2
    card = (hub / "README.md").read_text(encoding="utf-8")
    assert "- `corpus_negatives` (list of strings): further negatives mined" in card
    assert "| corpus_negatives |" in card  # its lengths in the statistics
    # an unmined run publishes the reference columns only, and its card says nothing of them
    plain = tmp_path / "plain"
    result = CliRunner().invoke(app, ["publish", "--in", str(run), "--out", str(plain)])
    assert result.exit_code == 0, result.output
    assert pq.read_table(plain / "data").column_names == ["query", "pos", "neg"]
    assert "corpus_negatives" not in (plain / "README.md").read_text(encoding="utf-8")

    # train: the corpus negatives come after each row's own negatives in the triplet grid
    train = TrainSettings.model_validate(
        {"datasets": [{"name": "hnp", "path": str(hub), "combinations_per_query": 25}]}
    )
    (part,), _ = build_parts(train)
    train_rows = pq.read_table(next((hub / "data").glob("train-*.parquet"))).to_pylist()
    llm_only = [{**row, "corpus_negatives": []} for row in train_rows]
    without = get_kind("ruhnp").training_rows(llm_only, 25, {}).triplets
    assert part.rows > len(without["anchor"])
    negatives = part.columns["negative"]
    assert set(negatives) == set(without["negative"]) | {
        text for row in train_rows for text in row["corpus_negatives"]
    }
    first = train_rows[0]
    assert part.columns["anchor"][0] == first["query"] and negatives[0] == first["neg"][0]

    bad = {**records[0], "corpus_negatives": [records[0]["query"]]}
    bad_run = write_run(tmp_path / "bad", [bad, *records[1:]], {"stage": "mine", "kind": "ruhnp"})
    result = CliRunner().invoke(
        app, ["publish", "--in", str(bad_run), "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 2
    assert "row 0: the query or a paraphrase is among its corpus_negatives" in result.output
    assert len(result.output.strip().splitlines()) == 1
