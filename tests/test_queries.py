"""``generate queries``: passage mode on the real wiki sentences, the query prompts and schema,
the command against a local test server and end to end on the embedded model, and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from jsonschema import Draft202012Validator
from tests.support.commands import (
    REPO,
    TEST_SERVER_OVERRIDES,
    assert_one_line_error,
    rudatagen,
    set_args,
)
from tests.support.embedded_runs import QUERY_PASSAGES, EmbeddedRun, copy_run
from tests.support.fault_server import FaultServer

from rudatagen.config import load_recipe
from rudatagen.errors import RudatagenError
from rudatagen.generators.queries import ROW_SCHEMA, QueriesTask
from rudatagen.kinds import KINDS, kind_of_run
from rudatagen.llm.client import Outcome
from rudatagen.llm.types import BackendInfo, LLMRequest, Usage
from rudatagen.sources import SourceSettings, SourceText, read_source
from rudatagen.text import normalise_text

TYPES = ("keyword", "question", "descriptive", "partial")
PASSAGES = ("source.passages.enabled=true", "source.passages.document_column=source")


def passage_settings(**passages: Any) -> SourceSettings:
    values = {"enabled": True, "document_column": "source", **passages}
    return SourceSettings(min_chars=150, max_chars=700, passages=values)


def wiki_documents(path: Path) -> dict[str, list[str]]:
    """The TSV read independently of rudatagen: each ``source``'s sentences in file order."""
    docs: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            docs.setdefault(row["source"], []).append(normalise_text(row["text"]))
    return docs


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["source\ttext", *(f"{doc}\t{text}" for doc, text in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- passage mode


def test_passages_are_consecutive_sentences_of_one_source_within_the_bounds(
    wiki_sentences: Path,
) -> None:
    settings = passage_settings(min_sentences=2, max_sentences=4)
    passages, report = read_source(wiki_sentences, settings)
    docs = wiki_documents(wiki_sentences)
    assert report.rows_read == sum(len(s) for s in docs.values()) == 9436
    assert report.kept == len(passages) > 1000
    assert report.kept + sum(report.skipped.values()) == report.candidates
    assert {p.id.rsplit("#", 1)[0] for p in passages} == set(docs)  # every source gave passages
    sizes = set()
    for passage in passages:
        document, first = passage.id.rsplit("#", 1)
        sentences = docs[document]
        start = int(first)
        joined = [" ".join(sentences[start : start + n]) for n in range(1, 5)]
        assert passage.text in joined, passage.id
        sizes.add(joined.index(passage.text) + 1)
        assert 150 <= len(passage.text) <= 700
    assert sizes <= {2, 3, 4} and len(sizes) > 1
    assert len({p.id for p in passages}) == len(passages)


def test_passage_ids_do_not_depend_on_other_documents(wiki_sentences: Path, tmp_path: Path) -> None:
    settings = passage_settings()
    whole, _ = read_source(wiki_sentences, settings)
    docs = wiki_documents(wiki_sentences)
    pud = "UD_Russian-PUD(test)"
    alone = write_tsv(tmp_path / "pud.tsv", [(pud, text) for text in docs[pud]])
    only_pud, _ = read_source(alone, settings)
    expected = [(p.id, p.text) for p in whole if p.id.startswith(pud + "#")]
    assert [(p.id, p.text) for p in only_pud] == expected
    again, _ = read_source(wiki_sentences, settings)
    assert [p.id for p in again] == [p.id for p in whole]


def test_a_passage_never_bridges_a_gap_and_short_runs_are_counted(
    wiki_sentences: Path, tmp_path: Path
) -> None:
    sentences = wiki_documents(wiki_sentences)["UD_Russian-GSD(dev)"][:5]
    rows = [("a", sentences[0]), ("a", sentences[1]), ("a", ""), ("a", sentences[2])]
    rows += [("b", sentences[3]), ("", sentences[4]), ("b", sentences[4])]
    path = write_tsv(tmp_path / "gap.tsv", rows)
    settings = SourceSettings(
        min_chars=10,
        max_chars=5000,
        passages={"document_column": "source", "enabled": True, "min_sentences": 2},
    )
    passages, report = read_source(path, settings)
    assert [(p.id, p.text) for p in passages] == [
        ("a#0", f"{sentences[0]} {sentences[1]}"),
        ("b#0", f"{sentences[3]} {sentences[4]}"),
    ]
    assert report.skipped == {"empty": 1, "no_document": 1, "few_sentences": 1}
    assert report.kept + sum(report.skipped.values()) == report.candidates


def test_each_row_is_a_document_when_sentences_are_split(
    wiki_sentences: Path, tmp_path: Path
) -> None:
    sentences = wiki_documents(wiki_sentences)["UD_Russian-PUD(test)"][:7]
    path = tmp_path / "docs.jsonl"
    documents = [" ".join(sentences[:4]), " ".join(sentences[4:])]
    path.write_text(
        "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in documents),
        encoding="utf-8",
    )
    settings = SourceSettings(
        split_sentences=True,
        min_chars=10,
        max_chars=5000,
        passages={"enabled": True, "max_sentences": 3},
    )
    passages, _ = read_source(path, settings)
    assert [p.text for p in passages] == [
        " ".join(sentences[:3]),
        sentences[3],
        " ".join(sentences[4:]),
    ]
    first_doc = passages[0].id.rsplit("#", 1)[0]
    assert [p.id for p in passages[:2]] == [f"{first_doc}#0", f"{first_doc}#3"]


def test_passage_settings_are_checked() -> None:
    with pytest.raises(RudatagenError, match="passages need a document"):
        load_recipe(None, ["source.passages.enabled=true"])
    with pytest.raises(RudatagenError, match="min_sentences"):
        load_recipe(None, ["source.passages.min_sentences=4", "source.passages.max_sentences=2"])


# --------------------------------------------------------------------------- prompts and schema


def task_for(*overrides: str) -> QueriesTask:
    return QueriesTask(load_recipe(None, ["task=retrieval", *overrides]).generate_settings())


def answer_for(counts: dict[str, int]) -> dict[str, list[str]]:
    return {name: [f"запрос {name} {i}" for i in range(n)] for name, n in counts.items()}


@pytest.mark.parametrize(
    "counts",
    [
        {"keyword": 1, "question": 1, "descriptive": 1, "partial": 1},
        {"keyword": 3, "question": 2, "descriptive": 0, "partial": 1},
        {"keyword": 0, "question": 1, "descriptive": 0, "partial": 0},
    ],
)
def test_schema_demands_exactly_the_counts(counts: dict[str, int]) -> None:
    task = task_for(*(f"queries.counts.{k}={v}" for k, v in counts.items()))
    asked = {k: v for k, v in counts.items() if v}
    validator = Draft202012Validator(task.schema)
    assert list(task.schema["properties"]) == task.schema["required"] == list(asked)
    assert validator.is_valid(answer_for(asked))
    for name, n in asked.items():
        assert not validator.is_valid(answer_for({**asked, name: n + 1}))
        assert not validator.is_valid(answer_for({**asked, name: n - 1}))
        missing = {k: v for k, v in answer_for(asked).items() if k != name}
        assert not validator.is_valid(missing)
    left_out = [t for t in TYPES if t not in asked]
    for name in left_out:
        assert not validator.is_valid({**answer_for(asked), name: ["лишний"]})


def test_max_query_chars_is_a_max_length() -> None:
    task = task_for("queries.max_query_chars=40")
    validator = Draft202012Validator(task.schema)
    assert not validator.is_valid({t: ["я" * 41] for t in TYPES})
    assert validator.is_valid({t: ["я" * 40] for t in TYPES})


def test_chat_prompt_states_counts_and_examples_are_valid_answers() -> None:
    task = task_for("queries.counts.keyword=2", "queries.counts.partial=0", "queries.n_examples=3")
    messages = task.messages("Фрагмент для проверки.")
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    system = messages[0]["content"]
    assert "Количество запросов в списке keyword: 2." in system
    assert "question — " in system and "partial" not in system
    assert messages[-1]["content"].startswith("Фрагмент:\nФрагмент для проверки.")
    validator = Draft202012Validator(task.schema)
    for turn in messages[2::2]:
        answer = json.loads(turn["content"])
        assert validator.is_valid(answer), answer
        assert list(answer) == ["keyword", "question", "descriptive"]


def test_completion_prompt_ends_where_the_model_answers() -> None:
    task = task_for("llm.prompt_style=completion")
    prompt = task.completion_prompt("Фрагмент для проверки.")
    assert prompt.endswith("Фрагмент: Фрагмент для проверки.\nЗапросы:")
    assert prompt.count("Запросы: {") == 2
    request = task.request(SourceText(id="doc#0", text="Фрагмент для проверки."))
    assert request.prompt == prompt and request.schema == task.schema and request.key == "doc#0"


def test_shipped_examples_cover_every_type_at_the_largest_count() -> None:
    examples = yaml.safe_load((REPO / "prompts" / "queries" / "examples.yaml").read_text())
    assert len(examples) == 4
    for example in examples:
        assert set(example["queries"]) == set(TYPES)
        assert all(len(example["queries"][t]) == 3 for t in TYPES)
        assert len(example["passage"]) > 200
    with pytest.raises(RudatagenError, match=r"counts\.keyword"):
        load_recipe(None, ["queries.counts.keyword=4"])
    with pytest.raises(RudatagenError, match="no query at all"):
        load_recipe(None, [f"queries.counts.{t}=0" for t in TYPES])


def test_rows_one_per_query_in_the_retrieval_record() -> None:
    task = task_for("queries.counts.question=2")
    source = SourceText(id="doc#4", text="Фрагмент.")
    request = LLMRequest(key=source.id, messages=(), schema=task.schema)
    answer = answer_for(task.counts)
    outcome = Outcome(request, answer, None, 1, Usage(100, 20))
    rows = task.rows(source, outcome, BackendInfo("llamacpp", "gemma"))
    assert [r["id"] for r in rows] == [
        "doc#4:keyword:0",
        "doc#4:question:0",
        "doc#4:question:1",
        "doc#4:descriptive:0",
        "doc#4:partial:0",
    ]
    assert {r["positive"] for r in rows} == {"Фрагмент."}
    assert all(r["negatives"] == [] and r["passage_id"] == "doc#4" for r in rows)
    assert set(KINDS["retrieval"].record_columns) <= set(ROW_SCHEMA.names)


# --------------------------------------------------------------------------- the command


def queries_args(source: Path, out: Path, *overrides: str) -> list[str]:
    return ["generate", "queries", "--source", str(source), "--out", str(out), *set_args(overrides)]


def read_rows(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "data").to_pylist()


def test_the_command_resumes_by_passage(wiki_sentences: Path, tmp_path: Path) -> None:
    """Against the local test server (answers that fit the schema): a passage that fails is the
    only one asked again; no passage is written twice."""
    out = tmp_path / "q"
    sentences = wiki_documents(wiki_sentences)["UD_Russian-PUD(test)"][:12]
    source = write_tsv(tmp_path / "doc.tsv", [("doc", s) for s in sentences])
    failing = sentences[6][:40]  # in the prompt of one passage only
    with FaultServer({failing: ["500", "500"]}) as srv:
        overrides = [
            *TEST_SERVER_OVERRIDES,
            f"llm.base_url={srv.url}",
            "llm.retry.max_retries=1",
            *PASSAGES,
            "source.passages.max_sentences=3",
            "source.min_chars=50",
        ]
        first = rudatagen(*queries_args(source, out, *overrides), "--no-progress")
        assert first.returncode == 0, first.stderr
        assert "no answer for 1 of 4 passages" in first.stderr
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["kind"] == "retrieval" and manifest["status"] == "incomplete"
        assert manifest["counts"] == {"sources": 4, "rows": 12, "failed": 1}
        assert manifest["recipe"]["queries"]["counts"]["partial"] == 1
        assert manifest["recipe"]["source"]["passages"]["document_column"] == "source"
        again = rudatagen(*queries_args(source, out, *overrides), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "resuming: 3 of 4 already done, 1 to go (1 failed before)" in again.stderr
    rows = read_rows(out)
    assert len(rows) == len({r["id"] for r in rows}) == 16
    assert sorted({r["passage_id"] for r in rows}) == ["doc#0", "doc#3", "doc#6", "doc#9"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "complete" and manifest["counts"]["rows"] == 16
    assert kind_of_run(out).name == "retrieval"
    repacked = rudatagen(
        *queries_args(source, out, *overrides, "source.passages.max_sentences=2"), "--no-progress"
    )
    assert_one_line_error(repacked, "other generation settings")


def test_no_text_column_is_a_one_line_error(wiki_sentences: Path, tmp_path: Path) -> None:
    result = rudatagen(
        *queries_args(wiki_sentences, tmp_path / "o", *PASSAGES), "--column", "passage"
    )
    assert_one_line_error(result, "no column 'passage'", "'source', 'sent_id', 'text'")


def test_no_document_column_is_a_one_line_error(wiki_sentences: Path, tmp_path: Path) -> None:
    result = rudatagen(
        *queries_args(
            wiki_sentences,
            tmp_path / "o",
            "source.passages.enabled=true",
            "source.passages.document_column=title",
        )
    )
    assert_one_line_error(result, "no column 'title'")


def test_passages_without_a_document_is_a_one_line_error(
    wiki_sentences: Path, tmp_path: Path
) -> None:
    result = rudatagen(
        *queries_args(wiki_sentences, tmp_path / "o", "source.passages.enabled=true")
    )
    assert_one_line_error(result, "passages need a document")


def test_the_shipped_recipe_checks() -> None:
    result = rudatagen("recipe", "check", "--recipe", str(REPO / "recipes" / "queries.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: task retrieval")
    task = QueriesTask(load_recipe(REPO / "recipes" / "queries.yaml").generate_settings())
    assert task.counts == dict.fromkeys(TYPES, 1)


@pytest.mark.integration
@pytest.mark.slow
def test_generate_queries_end_to_end_on_the_embedded_model(
    embedded_queries_run: EmbeddedRun, tmp_path: Path
) -> None:
    # the session's run (tests/support/embedded_runs.py), shared with the retrieval chain test
    first, n = embedded_queries_run.result, QUERY_PASSAGES
    assert "done: " in first.stderr and "LLM calls" in first.stderr
    manifest = json.loads((embedded_queries_run.out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "retrieval"
    assert manifest["recipe"]["llm"]["backend"] == "llamacpp"
    assert manifest["prompt"]["name"] == "queries"
    failed = manifest["counts"]["failed"]
    assert manifest["counts"]["sources"] == n
    assert manifest["counts"]["rows"] == 3 * (n - failed)
    assert f"{3 * (n - failed)} queries for {n - failed} passages" in first.stderr
    out = copy_run(embedded_queries_run, tmp_path / "q-01")  # the resume below changes it
    rows = read_rows(out)
    assert set(ROW_SCHEMA.names) <= set(rows[0])
    assert {r["query_type"] for r in rows} <= {"keyword", "question", "partial"}
    assert all(r["query"] and r["positive"] and r["negatives"] == [] for r in rows)
    assert kind_of_run(out).name == "retrieval"

    # resume: drop one passage's shard; the re-run asks only for it (the cache answers)
    shards = sorted((out / "data").glob("shard-*.parquet"))
    dropped = pq.read_table(shards[-1]).column("passage_id").to_pylist()[0]
    shards[-1].unlink()
    again = rudatagen(*embedded_queries_run.command(out))
    assert again.returncode == 0, again.stderr
    assert f"resuming: {n - failed - 1} of {n} already done, {failed + 1} to go" in again.stderr
    assert "1 cache hits" in again.stderr
    after = read_rows(out)
    assert sorted(r["id"] for r in after) == sorted(r["id"] for r in rows)
    assert dropped in {r["passage_id"] for r in after}
