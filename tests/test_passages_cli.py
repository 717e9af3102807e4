"""``rudatagen passages``: the passages a ``generate queries`` run reads, as a table that
``rudatagen mine`` takes as its corpus. Real Wikipedia sentences, the local test server for the
queries, the local all-MiniLM-L6-v2 for mining."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.support.commands import TEST_SERVER_OVERRIDES, rudatagen, set_args
from tests.support.fault_server import FaultServer
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.mine.corpus import read_corpus
from rudatagen.mine.settings import CorpusSettings

runner = CliRunner()
PASSAGE_MODE = (
    "source.passages.enabled=true",
    "source.passages.document_column=source",
    "source.passages.max_sentences=3",
    "source.min_chars=50",
)
SAMPLE = ("--limit", "6", "--seed", "3")  # a sample, so that --limit and --seed must match too


@pytest.fixture(scope="module")
def written(wiki_sentences: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``wiki-passages.parquet`` (the command run as a user runs it), its
    ``stderr`` and ``q/``, a ``generate queries`` run with the same flags (the local test
    server answers every passage)."""
    root = tmp_path_factory.mktemp("passages")
    table = root / "wiki-passages.parquet"
    made = rudatagen(
        *("passages", "--source", str(wiki_sentences), "--out", str(table), *SAMPLE),
        *set_args(PASSAGE_MODE),
    )
    assert made.returncode == 0, made.stderr
    (root / "stderr").write_text(made.stderr, encoding="utf-8")
    with FaultServer() as server:
        queries = ["generate", "queries", "--source", str(wiki_sentences), "--out", str(root / "q")]
        overrides = [*TEST_SERVER_OVERRIDES, f"llm.base_url={server.url}", *PASSAGE_MODE]
        result = runner.invoke(app, [*queries, *SAMPLE, "--no-progress", *set_args(overrides)])
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.integration
def test_the_passages_are_those_generate_queries_writes_queries_for(written: Path) -> None:
    table = written / "wiki-passages.parquet"
    assert (written / "stderr").read_text(encoding="utf-8").splitlines() == [
        f"wrote 6 passages to {table}; source: read 9436 rows → 3146 texts, kept 6; "
        "skipped: over_limit 3140"
    ]
    passages = pq.read_table(table).to_pylist()
    assert [list(row) for row in passages] == [["id", "text"]] * 6
    rows = pq.read_table(written / "q" / "data").to_pylist()
    assert {(r["passage_id"], r["positive"]) for r in rows} == {
        (p["id"], p["text"]) for p in passages
    }
    # what `mine` reads of it: the passage texts, in order, from the `text` column
    texts, column = read_corpus(table, CorpusSettings())
    assert (texts, column) == ([p["text"] for p in passages], "text")


@pytest.mark.integration
@pytest.mark.slow
def test_mine_takes_the_table_as_its_corpus(written: Path, minilm: str) -> None:
    texts = pq.read_table(written / "wiki-passages.parquet").column("text").to_pylist()
    mined = written / "mined"
    mine = ["mine", "--in", str(written / "q"), "--corpus", str(written / "wiki-passages.parquet")]
    settings = [f"mine.model={minilm}", "mine.device=cpu", "mine.num_negatives=2"]
    result = runner.invoke(app, [*mine, "--out", str(mined), *set_args(settings)])
    assert result.exit_code == 0, result.output
    counts = json.loads((mined / "manifest.json").read_text(encoding="utf-8"))["counts"]
    assert counts["corpus_passages"] == 6 and counts["positives_added_to_corpus"] == 0
    for row in pq.read_table(mined / "data").to_pylist():
        assert row["positive"] not in row["negatives"]
        assert set(row["negatives"]) <= set(texts)


def test_jsonl_holds_the_same_passages_and_bad_input_is_one_line(
    wiki_sentences: Path, tmp_path: Path
) -> None:
    head = wiki_sentences.read_text(encoding="utf-8").splitlines()[:401]  # header + 400 rows
    source = tmp_path / "wiki-head.tsv"
    source.write_text("\n".join(head) + "\n", encoding="utf-8")
    wiki = ("--source", str(source))

    def passages(out: Path, *flags: str) -> str:
        args = ["passages", *wiki, "--out", str(out), *set_args(PASSAGE_MODE), *flags]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return result.output

    parquet, jsonl = tmp_path / "p.parquet", tmp_path / "nested" / "p.jsonl"
    passages(parquet)
    passages(jsonl)
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == pq.read_table(parquet).to_pylist()
    assert len(lines) > 20 and all("#" in json.loads(line)["id"] for line in lines)
    plain = passages(tmp_path / "rows.jsonl", "--set", "source.passages.enabled=false")
    assert "texts (passage mode is off)" in plain

    def fails(*args: str) -> str:
        result = runner.invoke(app, ["passages", *args])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        return lines[0]

    assert "name a .parquet or .jsonl file" in fails(*wiki, "--out", str(tmp_path / "p.csv"))
    folder = tmp_path / "folder.parquet"
    folder.mkdir()
    assert "is a directory" in fails(*wiki, "--out", str(folder))
    assert "no source texts" in fails("--out", str(parquet))
    copy = tmp_path / "one.jsonl"
    copy.write_text('{"text": "Одна строка."}\n', encoding="utf-8")
    assert "is the source itself" in fails("--source", str(copy), "--out", str(copy))
    error = fails(*wiki, "--out", str(parquet), "--set", "source.passages.enabled=true")
    assert "passages need a document" in error
    assert "no column 'passage'" in fails(*wiki, "--out", str(parquet), "--column", "passage")
    assert "limit" in fails(*wiki, "--out", str(parquet), "--limit", "0")
