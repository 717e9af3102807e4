"""Two models on the same retrieval set: the paired difference of nDCG@10, MRR@10, Recall@10/@100
and MAP@100 with its interval, with the local all-MiniLM-L6-v2 on real Russian Wikipedia
passages. MiniLM cut to 8 tokens (the query, the passage's second sentence, is cut off every
passage) is worse, with an interval wholly below 0; the same model twice (through the CLI)
differs by exactly 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.test_retrieval_kind import retrieval_run
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.evaluation.encode import Encoder
from rudatagen.evaluation.evaluate import evaluate_model, markdown_comparison, model_slug
from rudatagen.evaluation.retrieval import (
    METRICS,
    RetrievalScores,
    paired_retrieval_differences,
)
from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.kinds import get_kind
from rudatagen.kinds.shapes import RetrievalSet

runner = CliRunner()
BOOTSTRAP = BootstrapSettings(n_resamples=400)


def retrieval_set(root: Path, shared_data: Path, count: int) -> RetrievalSet:
    from rudatagen.core.rundir import read_run_table

    rows = read_run_table(retrieval_run(root, shared_data, count)).to_pylist()
    rset = get_kind("retrieval").retrieval_set(rows, "wiki", str(root))
    assert rset is not None
    return rset


def test_a_model_cut_to_8_tokens_is_worse_with_an_interval_below_0(
    minilm: str, shared_data: Path, tmp_path: Path
) -> None:
    rset = retrieval_set(tmp_path / "run", shared_data, 30)
    full = Encoder.load(minilm, device="cpu", max_seq_length=128)
    cut = Encoder.load(minilm, device="cpu", max_seq_length=8)
    out = tmp_path / "report"
    first, baseline = evaluate_model(full, [rset], out, bootstrap=BOOTSTRAP, slug="full")
    worse, _ = evaluate_model(cut, [rset], out, bootstrap=BOOTSTRAP, baseline=baseline, slug="cut")

    rows = worse["comparison"]["datasets"]["wiki"]
    assert set(rows) == set(METRICS)
    for metric, row in rows.items():
        # the paired difference is the difference of the two reports' figures
        expected = worse["datasets"]["wiki"][metric] - first["datasets"]["wiki"][metric]
        assert row["difference"] == pytest.approx(expected, abs=1e-9)
        assert row["low"] <= row["difference"] <= row["high"]
    for metric in ("ndcg@10", "mrr@10", "map@100"):  # the ranking within the top 10 suffers
        assert rows[metric]["high"] < 0, rows[metric]
        assert " is worse than full on " in rows[metric]["statement"]
    # 30 documents: every relevant one is in the top 100 either way
    assert (rows["recall@100"]["difference"], rows["recall@100"]["high"]) == (0.0, 0.0)
    # the interval of the difference is narrower than the two models' own intervals side by side
    own = [r["datasets"]["wiki"]["intervals"]["ndcg@10"] for r in (first, worse)]
    widths = [interval["high"] - interval["low"] for interval in own]
    assert rows["ndcg@10"]["high"] - rows["ndcg@10"]["low"] < sum(widths)
    markdown = (out / "cut.md").read_text(encoding="utf-8")
    assert "### cut vs full, on the same queries\n" in markdown
    assert rows["ndcg@10"]["statement"] in markdown


@pytest.mark.parametrize(
    ("tasks", "heading"),
    [
        (["pairs"], "pairs"),
        (["retrieval"], "queries"),
        (["pairs", "retrieval"], "pairs and queries"),
    ],
)
def test_the_comparison_heading_says_what_both_models_were_scored_on(
    tasks: list[str], heading: str
) -> None:
    results = {
        f"set{i}": {"task": task} if task == "retrieval" else {} for i, task in enumerate(tasks)
    }
    comparison = {
        "labels": {"model": "b", "baseline": "a"},
        "model": "org/b",
        "baseline": "org/a",
        "rule": "a rule",
        "datasets": {name: {} for name in results},
    }
    markdown = markdown_comparison(comparison, results)
    assert markdown.splitlines()[0] == f"### b vs a, on the same {heading}"


def test_paired_differences_need_the_same_queries_and_resamples_to_have_intervals() -> None:
    values = np.random.default_rng(0).random((6, len(METRICS)))
    base = RetrievalScores({}, [f"q{i}" for i in range(6)], values)
    model = RetrievalScores({}, base.query_ids, values + 0.1)
    off = paired_retrieval_differences(base, model, BootstrapSettings(n_resamples=0))
    assert all(row["low"] is None and row["high"] is None for row in off.values())
    assert off["ndcg@10"]["difference"] == pytest.approx(0.1) and off["ndcg@10"]["n"] == 6
    shifted = RetrievalScores({}, list(reversed(base.query_ids)), values)
    with pytest.raises(ValueError, match="same queries"):
        paired_retrieval_differences(base, shifted, BOOTSTRAP)


def test_evaluate_cli_compares_two_models_on_a_retrieval_run(
    minilm: str, shared_data: Path, tmp_path: Path
) -> None:
    run = retrieval_run(tmp_path / "run", shared_data, 20)
    args = ["evaluate", "--model", minilm, "--model", minilm, "--data", str(run)]
    args += ["--out", str(tmp_path / "report"), "--device", "cpu", "--no-progress"]
    args += ["--max-seq-length", "64", "--set", "evaluate.bootstrap.n_resamples=200"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    slug = model_slug(minilm)
    second = json.loads((tmp_path / "report" / f"{slug}-2.json").read_text(encoding="utf-8"))
    rows = second["comparison"]["datasets"]["run:test"]
    assert set(rows) == set(METRICS)
    for row in rows.values():
        assert (row["difference"], row["low"], row["high"], row["n"]) == (0.0, 0.0, 0.0, 20)
        assert row["statement"] in result.output
    assert "no difference shown on nDCG@10" in result.output
