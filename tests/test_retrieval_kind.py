"""The ``retrieval`` kind: its record, checks, candidates and review, training rows with
asymmetric prefixes, and information-retrieval evaluation (a retrieval split, a BEIR folder) with
the local all-MiniLM-L6-v2, and a short ``rudatagen train`` on a retrieval run."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.commands import set_args
from tests.support.run_dirs import write_run
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.errors import RudatagenError
from rudatagen.kinds import get_kind, kind_of_table
from rudatagen.kinds.review import REVIEWED, Review
from rudatagen.training.build import build_parts
from rudatagen.training.recipe import TrainSettings

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
KIND = get_kind("retrieval")


def record(i: int, negatives: list[str], query_type: str = "question") -> dict[str, Any]:
    return {
        "id": f"p{i}-{query_type}-0",
        "query": f"запрос {i}",
        "positive": f"Фрагмент номер {i} о чём-то.",
        "negatives": negatives,
        "query_type": query_type,
        "passage_id": f"p{i}",
        "model": "test-model",
    }


# -- the kind on hand-made rows ---------------------------------------------------------------


def test_the_record_schema_group_and_detection() -> None:
    assert KIND.reference_columns == ("query", "positive", "negatives", "query_type", "passage_id")
    assert KIND.group_column == "passage_id" and not KIND.symmetric
    assert kind_of_table(["query", "positive", "negatives"], "x").name == "retrieval"
    assert kind_of_table(["query", "pos", "neg"], "x").name == "ruhnp"  # unchanged


def test_row_checks_are_one_line_errors() -> None:
    good = record(1, ["другой фрагмент"])
    KIND.check_row(KIND.normalise(dict(good)), 0)
    cases = [
        ({**good, "positive": ""}, "row 3: retrieval rows need a query and a positive passage"),
        ({**good, "passage_id": None}, "row 3: retrieval rows need a passage_id"),
        ({**good, "negatives": [good["positive"]]}, "row 3: the positive passage is among"),
    ]
    for row, message in cases:
        with pytest.raises(RudatagenError, match=message) as error:
            KIND.check_row(KIND.normalise(dict(row)), 3)
        assert "\n" not in str(error.value)


def test_training_rows_are_n_tuples_of_the_mined_negatives() -> None:
    rows = [
        record(1, ["a", "b", "c"]),
        record(2, ["d"]),
        record(3, []),
        {**record(4, ["e"]), "query": ""},
    ]
    out = KIND.training_rows(rows, 2, {})
    assert list(out.triplets) == ["anchor", "positive", "negative_1", "negative_2"]
    assert out.triplets["anchor"] == ["запрос 1", "запрос 2"]
    assert out.triplets["negative_1"] == ["a", "d"] and out.triplets["negative_2"] == ["b", "d"]
    assert out.skipped == {
        "retrieval row without mined negatives (others have them)": 1,
        "retrieval row without a query or a passage": 1,
    }
    # nothing mined yet: (anchor, positive) pairs, in-batch negatives only
    unmined = KIND.training_rows([record(1, []), record(2, [])], 5, {})
    assert list(unmined.triplets) == ["anchor", "positive"] and not unmined.skipped
    # a slip of mining (the positive among its negatives) never becomes a negative
    slipped = KIND.training_rows([record(1, [record(1, [])["positive"], "x"])], 5, {})
    assert list(slipped.triplets) == ["anchor", "positive", "negative_1"]


def test_training_prefixes_are_asymmetric_per_side(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "run",
        [record(i, [f"негатив {i}", f"негатив {i + 1}"]) for i in range(4)],
        {"stage": "mine", "kind": "retrieval"},
    )
    settings = TrainSettings.model_validate(
        {
            "prefixes": {"query": "search_query: ", "document": "search_document: "},
            "datasets": [{"name": "q", "path": str(run), "combinations_per_query": 2}],
        }
    )
    (part,), (info,) = build_parts(settings)
    assert info.kind == "retrieval" and part.loss == "mnrl" and part.rows == 4
    assert part.prompts == {
        "anchor": "search_query: ",
        "positive": "search_document: ",
        "negative_1": "search_document: ",
        "negative_2": "search_document: ",
    }


def test_candidates_rebuild_and_review_round_trip() -> None:
    records = [record(1, ["x"]), record(2, []), record(3, []), record(4, [])]
    table = KIND.candidates(records)
    assert len(table) == 4 and table.labels[0] == "answers"
    assert {table.label_of(r) for r in range(4)} == {"answers"}
    assert (table.anchor[0], table.text[0]) == ("запрос 1", records[0]["positive"])
    table.anchor[0] = "исправленный запрос"  # a filter tidied the query
    table.reject(np.array([1]), "answerability", ["score 0.1 < 0.5"])
    kept, dropped = KIND.reassemble(table, records, {"answers": 1})
    assert [r["id"] for r in kept] == ["p1-question-0", "p3-question-0", "p4-question-0"]
    assert kept[0]["query"] == "исправленный запрос" and kept[0]["negatives"] == ["x"]
    assert dropped == [{"id": "p2-question-0", "reason": "too few survivors: 0 answers (min 1)"}]

    review = Review(KIND.candidates(records, KIND.candidate_labels))
    reviewed = review.table
    for row in range(4):
        review.status[row], review.annotators[row] = REVIEWED, ["a", "b"]
    reviewed.anchor[0] = "запрос, исправленный человеком"
    reviewed.label[1] = reviewed.code("does_not_answer")
    reviewed.label[2] = reviewed.code("answers_partly")
    reviewed.reject(np.array([3]), "review", ["broken_query"])
    out = KIND.apply_review(review, records)
    assert [r["id"] for r in out] == ["p1-question-0", "p3-question-0"]
    assert out[0]["query"] == "запрос, исправленный человеком"
    assert [r["review_label"] for r in out] == ["answers", "answers_partly"]
    assert set(KIND.review_columns) <= set(out[0])


def test_split_stats_and_retrieval_set() -> None:
    rows = [
        record(1, ["n1", "n2"]),
        record(1, ["n2"], "keyword"),
        record(2, [record(1, [])["positive"]]),
    ]
    stats = KIND.split_stats([KIND.normalise(dict(r)) for r in rows])
    assert stats["rows"] == 3 and stats["passages"] == 2
    assert stats["labels"] == {"keyword": 1, "question": 2}
    rset = KIND.retrieval_set(rows, "t", "src")
    assert rset is not None and len(rset.queries) == 3
    # two passages and two negatives, each once (a passage mined for another query is one doc)
    assert sorted(rset.corpus.values()) == sorted(
        [rows[0]["positive"], rows[2]["positive"], "n1", "n2"]
    )
    assert all(len(docs) == 1 for docs in rset.relevant.values())
    pairs = KIND.evaluation_pairs(rows, "t", "src")
    assert (pairs.positives, pairs.negatives) == (3, 4) and pairs.role1 == "query"


# -- information-retrieval evaluation with a real model ----------------------------------------


def wiki_passages(shared_data: Path, count: int, size: int = 3) -> list[tuple[str, list[str]]]:
    """``count`` passages of ``size`` consecutive sentences of one source: (id, sentences)."""
    by_source: dict[str, list[str]] = defaultdict(list)
    with (shared_data / "ru_wiki_sentences.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            by_source[row["source"]].append(row["text"])
    passages = []
    for source, sentences in by_source.items():
        for start in range(0, len(sentences) - size + 1, size):
            passages.append((f"{source}-{start}", sentences[start : start + size]))
            if len(passages) == count:
                return passages
    return passages


def write_beir(folder: Path, passages: list[tuple[str, list[str]]], qrels: bool = True) -> str:
    """A BEIR folder: each passage's middle sentence is its query; one planted query is its
    passage's exact text. Returns the planted passage's id."""
    folder.mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for pid, sentences in passages:
            out.write(json.dumps({"_id": pid, "title": "", "text": " ".join(sentences)}) + "\n")
    planted = passages[0][0]
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        for pid, sentences in passages:
            out.write(json.dumps({"_id": f"q-{pid}", "text": sentences[1]}) + "\n")
        out.write(json.dumps({"_id": "planted", "text": " ".join(passages[0][1])}) + "\n")
    if qrels:
        (folder / "qrels").mkdir()
        lines = ["query-id\tcorpus-id\tscore", f"planted\t{planted}\t1"]
        lines += [f"q-{pid}\t{pid}\t1" for pid, _ in passages]
        (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return planted


def test_beir_folder_a_planted_exact_match_and_per_query_values(
    minilm: str, shared_data: Path, tmp_path: Path
) -> None:
    from rudatagen.evaluation.encode import Encoder
    from rudatagen.evaluation.retrieval import (
        METRICS,
        from_beir,
        per_query_metrics,
        retrieval_evaluator,
    )

    planted = write_beir(tmp_path / "beir", wiki_passages(shared_data, 30, size=2))
    rset = from_beir(tmp_path / "beir")
    assert len(rset.queries) == 31 and len(rset.corpus) == 30
    encoder = Encoder.load(minilm, device="cpu", max_seq_length=96)
    evaluator = retrieval_evaluator(rset, encoder, progress=False)
    scores = evaluator(encoder.model)
    hits = evaluator.hits[evaluator.queries_ids.index("planted")]
    assert max(hits, key=lambda hit: hit["score"])["corpus_id"] == planted
    assert scores["beir_cosine_recall@100"] == 1.0  # 30 documents: all in the top 100
    # the per-query values behind the intervals average to the evaluator's own metrics
    values = per_query_metrics(evaluator.hits, evaluator.queries_ids, rset.relevant)
    assert ((values >= 0) & (values <= 1)).all()
    for column, (key, _) in enumerate(METRICS.values()):
        assert values[:, column].mean() == pytest.approx(scores[f"beir_{key}"])


def retrieval_run(root: Path, shared_data: Path, count: int) -> Path:
    """A mined retrieval run: each passage's middle sentence as its query, the next two
    passages as its negatives."""
    passages = wiki_passages(shared_data, count, size=2)
    rows = [
        {
            "id": f"{pid}-question-0",
            "query": sentences[1],
            "positive": " ".join(sentences),
            "negatives": [" ".join(passages[(i + k) % count][1]) for k in (1, 2)],
            "query_type": "question",
            "passage_id": pid,
        }
        for i, (pid, sentences) in enumerate(passages)
    ]
    return write_run(root, rows, {"stage": "mine", "kind": "retrieval"})


def test_evaluate_cli_on_a_retrieval_run_and_a_beir_folder(
    minilm: str, shared_data: Path, tmp_path: Path
) -> None:
    from rudatagen.evaluation.retrieval import METRICS

    run = retrieval_run(tmp_path / "run", shared_data, 30)
    write_beir(tmp_path / "beir", wiki_passages(shared_data, 20, size=2))
    args = ["evaluate", "--model", minilm, "--data", str(run), "--extra", str(tmp_path / "beir")]
    args += ["--out", str(tmp_path / "report"), "--device", "cpu", "--no-progress"]
    args += ["--max-seq-length", "96"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.output and "30 queries against 30 documents" in result.output
    (report_file,) = (tmp_path / "report").glob("*.json")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    run_result = report["datasets"]["run:test"]
    assert run_result["queries"] == 30 and run_result["corpus"] == 30  # negatives are passages
    for name in METRICS:
        low, high = run_result["intervals"][name]["low"], run_result["intervals"][name]["high"]
        assert 0.0 <= low <= run_result[name] <= high <= 1.0
    assert report["datasets"]["beir"]["kind"] == "beir"
    assert report["datasets"]["beir"]["queries"] == 21


def test_bad_retrieval_inputs_are_one_line_errors(minilm: str, tmp_path: Path) -> None:
    write_beir(tmp_path / "beir", [("a", ["x", "y", "z"]), ("b", ["u", "v", "w"])], qrels=False)
    no_passage = write_run(
        tmp_path / "run",
        [{"id": "1", "query": "запрос", "negatives": [], "passage_id": "p"}],
        {"stage": "mine", "kind": "retrieval"},
    )
    cases = [
        (["--extra", str(tmp_path / "beir")], "is not a BEIR-style folder: no qrels/test.tsv"),
        (["--data", str(no_passage)], "retrieval data needs a 'positive' (passage) column"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["evaluate", "--model", minilm, *extra, "--out", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        assert result.output.count("\n") == 1


@pytest.mark.slow
def test_train_on_a_retrieval_run_with_mined_negatives(
    minilm: str, shared_data: Path, tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    run = retrieval_run(tmp_path / "run", shared_data, 24)
    overrides = [
        f"train.model.base={minilm}",
        f"train.datasets.0.path={run}",
        "train.datasets.0.name=queries",
        "train.training.max_steps=2",
        "train.training.batch_size=8",
        "train.model.max_seq_length=64",
        "train.prefixes.query='search_query: '",
        "train.prefixes.document='search_document: '",
    ]
    recipe = str(REPO / "recipes" / "train-local.yaml")
    out = tmp_path / "model"
    result = runner.invoke(
        app, ["train", "--recipe", recipe, "--out", str(out), "--no-progress", *set_args(overrides)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert report["steps"] == 2 and report["losses"] == {"queries": "mnrl"}
    (source,) = report["datasets"]
    assert source["kind"] == "retrieval" and source["parts"] == {"queries": 24}
    model = SentenceTransformer(str(out), device="cpu")
    assert model.prompts == {"query": "search_query: ", "document": "search_document: "}
    assert report["seen_pairs"]["pairs"] == 24 * 3  # (query, passage) and two negatives each
