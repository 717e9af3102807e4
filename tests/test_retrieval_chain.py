"""The retrieval chain end to end through the CLI, on real components: Wikipedia passages →
``generate queries`` (the embedded llama.cpp model) → ``mine`` (all-MiniLM-L6-v2, a corpus of
more passages) → ``filter`` (easiness, copying, answerability with a MiniLM reranker) →
``annotate push`` to a real Label Studio, two annotators through its API → ``annotate pull`` →
``publish`` → ``train`` → ``evaluate``.

The embedded model's queries are poor and MiniLM reads Russian poorly, so the checks are about
what each seam guarantees (lineage, counts that follow the funnel, review decisions applied,
columns, prefixes, metrics with intervals), never about how good the data is. Easiness and
copying are loosened so that nothing depends on the LLM's wording; the answerability floor is
put between the two weakest reranker scores, so exactly the weakest pair goes.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support import label_studio
from tests.support.commands import CLI, REPO, set_args
from tests.support.embedded_runs import QUERIES_SMALL, QUERY_PASSAGES, EmbeddedRun

from rudatagen.config import load_recipe
from rudatagen.sources import read_source

A1, A2 = (user[0] for user in label_studio.ANNOTATORS)
TOKENS = {user[0]: user[2] for user in label_studio.ANNOTATORS}
CORPUS = 200  # further passages of the same file in the mining corpus
PROJECT = "Queries 01"
CORRECTED = "В каком году был основан город, о котором идёт речь?"
PREFIXES = {"query": "search_query: ", "document": "search_document: "}
COLUMNS = ["query", "positive", "negatives", "query_type", "passage_id"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[label_studio.LabelStudioServer]:
    if not label_studio.available():
        pytest.skip(
            f"Label Studio venv missing at {label_studio.LS_VENV} (make install-label-studio)"
        )
    pytest.importorskip("label_studio_sdk", reason="label-studio-sdk not installed")
    running = label_studio.start_server(tmp_path_factory.mktemp("label-studio"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def reranker(minilm: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    """MiniLM with a new one-logit head (a reranker's shape), saved; and the loaded model.

    Its judgement is arbitrary: it stands in for bge-reranker-v2-m3 to put real scores in the
    funnel and behind ``--strategy uncertain``."""
    from rudatagen.encoders import load_cross_encoder

    path = tmp_path_factory.mktemp("reranker") / "model"
    load_cross_encoder(minilm, "cpu", 64, num_labels=1).save_pretrained(str(path))
    return str(path), load_cross_encoder(str(path), "cpu", 64)


def rudatagen(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the command as a user does; it must succeed. Returns stdout + stderr."""
    done = subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"rudatagen {args[0]}: {output[-3000:]}"
    return output


def manifest(folder: Path, name: str = "manifest.json") -> dict[str, Any]:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def records_of(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def records(folder: Path) -> list[dict[str, Any]]:
    return records_of(folder / "data")


def assert_follows(
    folder: Path, stage: str, kind: str, upstream: Path, upstream_stage: str
) -> dict[str, Any]:
    """``folder``'s manifest says its stage and kind and that it was made from ``upstream``."""
    found = manifest(folder, "rudatagen.json" if stage == "publish" else "manifest.json")
    assert (found["stage"], found["kind"]) == (stage, kind)
    assert found["inputs"][0]["path"] == str(upstream)
    assert found["inputs"][0]["stage"] == upstream_stage
    return found


# -- Label Studio through its API, as the annotators' browsers would ------------------------------


def client(server: label_studio.LabelStudioServer, user: str = A1) -> Any:
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=server.url, api_key=TOKENS[user])


def task_ids(server: label_studio.LabelStudioServer, title: str) -> dict[str, int]:
    (project,) = [p for p in client(server).projects.list(title=title) if p.title == title]
    tasks = client(server).tasks.list(project=project.id, page_size=1000)
    return {task.data["item_key"]: task.id for task in tasks}


def annotate(
    server: label_studio.LabelStudioServer, user: str, task: int, label: str, query: str = ""
) -> None:
    """One annotation: a choice on the passage and, optionally, a corrected query."""
    choice = {"choices": [label]}
    result = [{"from_name": "label", "to_name": "passage", "type": "choices", "value": choice}]
    if query:
        text = {"text": [query]}
        result.append(
            {"from_name": "query_correction", "to_name": "query", "type": "textarea", "value": text}
        )
    client(server, user).annotations.create(id=task, result=result)


# -- the chain ---------------------------------------------------------------------------------


def test_the_shipped_recipe_filters_retrieval_rows_with_the_reranker() -> None:
    """``recipes/queries.yaml`` drives mine and filter too: its filters are retrieval's three,
    answerability on with the production reranker (built, not loaded: no download here)."""
    from rudatagen.filters.registry import build_filters

    recipe = load_recipe(REPO / "recipes" / "queries.yaml")
    filters = build_filters(recipe.filters.sections(), "retrieval")
    assert [f.name for f in filters] == ["easiness", "copying", "answerability"]
    assert recipe.filters.answerability.model == "BAAI/bge-reranker-v2-m3"
    assert recipe.mine.model == "deepvk/USER-bge-m3" and recipe.mine.corpus.column == "text"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_from_wiki_passages_to_an_evaluated_retriever(
    server: label_studio.LabelStudioServer,
    embedded_queries_run: EmbeddedRun,
    minilm: str,
    reranker: tuple[str, Any],
    wiki_sentences: Path,
    tmp_path: Path,
) -> None:
    from sentence_transformers import SentenceTransformer

    from rudatagen.evaluation.retrieval import METRICS
    from rudatagen.filters.answerability import AnswerabilityFilter
    from rudatagen.filters.settings import AnswerabilitySettings

    # generate queries: three per passage (keyword, question, partial), rows of kind retrieval;
    # the session's `generate queries` run (tests/support/embedded_runs.py, as test_queries.py)
    generated = embedded_queries_run.out
    made = manifest(generated)
    assert (made["stage"], made["kind"]) == ("generate", "retrieval")
    answered = QUERY_PASSAGES - made["counts"]["failed"]
    # the grammar holds the embedded model to the schema
    assert answered >= 3, embedded_queries_run.result.stderr[-3000:]
    generated_rows = records(generated)
    assert len(generated_rows) == made["counts"]["rows"] == 3 * answered
    assert {r["query_type"] for r in generated_rows} == {"keyword", "question", "partial"}

    # the corpus: the file's passages made as generate made them (the same settings)
    settings = load_recipe(None, ["task=retrieval", *QUERIES_SMALL]).generate_settings().source
    passages, _ = read_source(wiki_sentences, settings)
    text_of = {p.id: p.text for p in passages}
    for row in generated_rows:
        assert row["positive"] == text_of[row["passage_id"]]
    ours = {r["passage_id"] for r in generated_rows}
    chosen = [p.text for i, p in enumerate(passages) if i < CORPUS or p.id in ours]
    corpus = tmp_path / "wiki-passages.parquet"
    pq.write_table(pa.table({"text": chosen}), corpus)

    # mine: two corpus negatives per query; the positives are in the corpus
    mined = tmp_path / "q-01-mined"
    mine = ["mine", "--in", str(generated), "--out", str(mined), "--corpus", str(corpus)]
    mine += set_args([f"mine.model={minilm}", "mine.num_negatives=2", "mine.device=cpu"])
    rudatagen(*mine, *set_args(["mine.max_seq_length=128"]))
    mining = assert_follows(mined, "mine", "retrieval", generated, "generate")
    assert mining["counts"]["corpus_passages"] == len(set(chosen))
    assert mining["counts"]["positives_added_to_corpus"] == 0
    mined_rows = records(mined)
    assert [r["id"] for r in mined_rows] == [r["id"] for r in generated_rows]
    for row in mined_rows:
        assert len(row["negatives"]) <= 2 and row["positive"] not in row["negatives"]
        assert set(row["negatives"]) <= set(chosen)
        assert row["positive_score"] is not None and row["hardest_score"] is not None
    assert any(row["negatives"] for row in mined_rows)

    # filter: the weakest (query, passage) pair by the reranker goes, nothing else
    path, model = reranker
    judge = AnswerabilityFilter(AnswerabilitySettings(model=path, max_length=64), model)
    prob = judge.probabilities([(r["query"], r["positive"]) for r in mined_rows])
    lowest, second = np.unique(prob)[:2]
    floor = float((lowest + second) / 2)
    weakest = {r["id"] for r, p in zip(mined_rows, prob, strict=True) if p < floor}
    filtered = tmp_path / "q-01-filtered"
    loose = ["filters.easiness.max_margin=2", "filters.copying.max_share=1"]
    loose += ["filters.answerability.enabled=true", f"filters.answerability.model={path}"]
    loose += ["filters.answerability.max_length=64"]
    loose += [f"filters.answerability.min_probability={floor!r}"]
    rudatagen("filter", "--in", str(mined), "--out", str(filtered), *set_args(loose))
    assert_follows(filtered, "filter", "retrieval", mined, "mine")
    funnel = json.loads((filtered / "funnel.json").read_text(encoding="utf-8"))
    steps = {step["name"]: step for step in funnel["steps"]}
    assert list(steps) == ["easiness", "copying", "answerability", "min_survivors"]
    assert steps["answerability"]["rejected_by_rule"] == {
        "passage does not answer the query": len(weakest)
    }
    assert not steps["easiness"]["rejected_by_rule"] and not steps["copying"]["rejected_by_rule"]
    kept_rows = records(filtered)
    assert funnel["records"]["out"] == len(kept_rows) == len(mined_rows) - len(weakest)
    assert {r["id"] for r in kept_rows} == {r["id"] for r in mined_rows} - weakest
    candidates = pq.read_table(filtered / "candidates.parquet").to_pylist()
    assert {"easiness_margin", "copying_share", "answerability_prob"} <= set(candidates[0])

    # annotate push --strategy uncertain: the pairs nearest the reranker's floor go first
    env = {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.token}
    size = len(kept_rows) - 2  # two rows stay unreviewed (not sampled)
    push = ["annotate", "push", "--in", str(filtered), "--project", PROJECT]
    push += ["--sample", str(size), "--strategy", "uncertain", "--annotators-per-task", "2"]
    out = rudatagen(*push, env=env)
    assert f"{size} new tasks" in out and server.token not in out
    ids = task_ids(server, PROJECT)
    gap = {c["record_id"]: abs(c["answerability_prob"] - floor) for c in candidates if c["kept"]}
    assert len(ids) == size and set(ids) <= set(gap)
    assert max(gap[key] for key in ids) <= min(gap[key] for key in set(gap) - set(ids))

    # two annotators: a pair that does not answer, a corrected query, a broken query, a partial
    pushed = sorted(ids, key=lambda key: (gap[key], key))
    no_answer, corrected, broken, partly = pushed[:4]
    for key, task in ids.items():
        if key == no_answer:
            votes = {A1: ("does_not_answer", ""), A2: ("does_not_answer", "")}
        elif key == corrected:
            votes = {A1: ("answers", CORRECTED), A2: ("answers", CORRECTED)}
        elif key == broken:
            votes = {A1: ("broken_query", ""), A2: ("answers", "")}
        elif key == partly:
            votes = {A1: ("answers_partly", ""), A2: ("answers_partly", "")}
        else:
            votes = {A1: ("answers", ""), A2: ("answers", "")}
        for user, (label, query) in votes.items():
            annotate(server, user, task, label, query)

    # annotate pull: decisions applied to the rows
    reviewed = tmp_path / "q-01-reviewed"
    pull = ["annotate", "pull", "--project", PROJECT, "--in", str(filtered), "--out", str(reviewed)]
    out = rudatagen(*pull, env=env)
    assert server.token not in out
    pulled = assert_follows(reviewed, "annotate-pull", "retrieval", filtered, "filter")
    assert pulled["review"]["items"] == size and pulled["review"]["pending"] == 0
    reviewed_rows = {r["id"]: r for r in records(reviewed)}
    assert set(reviewed_rows) == {r["id"] for r in kept_rows} - {no_answer, broken}
    before = {r["id"]: r for r in kept_rows}
    assert reviewed_rows[corrected]["query"] == CORRECTED != before[corrected]["query"]
    assert reviewed_rows[partly]["review_label"] == "answers_partly"
    assert reviewed_rows[partly]["annotator_labels"] == ["answers_partly", "answers_partly"]
    statuses = [r["review_status"] for r in reviewed_rows.values()]
    assert statuses.count("not_sampled") == 2 and statuses.count("reviewed") == size - 2
    for key, row in reviewed_rows.items():
        assert row["negatives"] == before[key]["negatives"]  # review leaves the negatives
    assert (reviewed / "agreement.json").is_file()

    # publish: group-wise splits in the retrieval columns
    hub = tmp_path / "hub"
    held_out = ["--split", "validation=0", "--split", "test=2"]  # a few rows: no validation
    rudatagen("publish", "--in", str(reviewed), "--out", str(hub), *held_out)
    assert_follows(hub, "publish", "retrieval", reviewed, "annotate-pull")
    splits = {
        name: [row for f in (hub / "data").glob(f"{name}-*.parquet") for row in records_of(f)]
        for name in ("train", "test")
    }
    for rows in splits.values():
        assert rows and list(rows[0]) == COLUMNS
    assert len(splits["train"]) + len(splits["test"]) == len(reviewed_rows)
    test_passages = {r["passage_id"] for r in splits["test"]}
    assert not test_passages & {r["passage_id"] for r in splits["train"]}
    published = [r["query"] for rows in splits.values() for r in rows]
    assert CORRECTED in published
    card = (hub / "README.md").read_text(encoding="utf-8")
    assert "text-retrieval" in card
    assert "Steps after generation: mine → filter → annotate-pull." in card

    # train: MNRL on (query, passage, mined negatives), the prefixes saved as the model's prompts
    trained = tmp_path / "model"
    train = [f"train.model.base={minilm}", f"train.datasets.0.path={hub}"]
    train += ["train.datasets.0.name=queries", "train.training.max_steps=2"]
    train += ["train.training.batch_size=4", "train.model.max_seq_length=64"]
    train += [f"train.prefixes.{side}='{prefix}'" for side, prefix in PREFIXES.items()]
    recipe = str(REPO / "recipes" / "train-local.yaml")
    rudatagen("train", "--recipe", recipe, "--out", str(trained), "--no-progress", *set_args(train))
    report = manifest(trained, "training.json")
    assert report["steps"] == 2 and report["losses"] == {"queries": "mnrl"}
    (source,) = report["datasets"]
    assert source["kind"] == "retrieval"
    with_negatives = [r for r in splits["train"] if set(r["negatives"]) - {r["positive"]}]
    assert source["parts"] == {"queries": len(with_negatives or splits["train"])}
    assert SentenceTransformer(str(trained), device="cpu").prompts == PREFIXES

    # evaluate: the test split's queries against its passages and negatives, with intervals
    results = tmp_path / "report"
    evaluate = ["evaluate", "--model", str(trained), "--data", str(hub), "--out", str(results)]
    out = rudatagen(*evaluate, "--device", "cpu", "--no-progress", "--max-seq-length", "96")
    assert "ndcg@10" in out
    (report_file,) = results.glob("*.json")
    evaluated = json.loads(report_file.read_text(encoding="utf-8"))
    (scores,) = [d for d in evaluated["datasets"].values() if d.get("kind") == "retrieval"]
    documents = {r["positive"] for r in splits["test"]}
    documents |= {n for r in splits["test"] for n in r["negatives"]}
    assert scores["queries"] == len(splits["test"]) and scores["corpus"] == len(documents)
    for name in METRICS:
        interval = scores["intervals"][name]
        assert 0.0 <= interval["low"] <= scores[name] <= interval["high"] <= 1.0
