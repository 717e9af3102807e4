"""Cartography on a real slice of TERRa with the local MiniLM, then ``generate wanli`` with the
embedded LLM; the CLI's one-line errors for bad seed data and a foreign cartography directory."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.support.commands import assert_one_line_error, rudatagen
from tests.support.nli_fixtures import EPOCHS, MAX_LENGTH, RECIPE, ROWS

from rudatagen.config import Recipe
from rudatagen.core.funnel import Funnel
from rudatagen.filters.base import FilterContext
from rudatagen.filters.pipeline import run_stages
from rudatagen.filters.registry import build_filters
from rudatagen.filters.variability import max_variability, score_with_checkpoints
from rudatagen.kinds import get_kind
from rudatagen.nli import datamap
from rudatagen.nli.cartography import checkpoint_dirs
from rudatagen.nli.seeds import fingerprint, read_seeds
from rudatagen.nli.selection import select_groups

FILTERS = ["nli_heuristic", "max_variability"]


# The session's cartography run (tests/support/nli_fixtures.py, shared with test_wanli_scale.py).
@pytest.fixture
def overrides(nli_overrides: list[str]) -> list[str]:
    return nli_overrides


@pytest.fixture
def recipe(nli_recipe: Recipe) -> Recipe:
    return nli_recipe


@pytest.fixture
def carto(nli_carto: Path) -> Path:
    return nli_carto


def test_cartography_writes_dynamics_checkpoints_metrics_and_the_map(
    carto: Path, recipe: Recipe
) -> None:
    seeds = read_seeds(recipe.wanli.seeds.path, recipe.wanli.seeds)  # type: ignore[arg-type]
    guids = [s.guid for s in seeds]
    logits = []
    for epoch in range(EPOCHS):
        lines = (carto / "training_dynamics" / f"dynamics_epoch_{epoch}.jsonl").read_text()
        entries = [json.loads(line) for line in lines.splitlines()]
        assert [e["guid"] for e in entries] == guids
        assert [e["gold"] for e in entries] == [s.label_id for s in seeds]
        assert all(len(e[f"logits_epoch_{epoch}"]) == 2 for e in entries)
        logits.append([e[f"logits_epoch_{epoch}"] for e in entries])
    assert [p.name for p in checkpoint_dirs(carto)] == [f"epoch-{e}" for e in range(EPOCHS)]

    metrics = pq.read_table(carto / "metrics.parquet").to_pandas()
    assert metrics["guid"].tolist() == guids
    probs = datamap.softmax(np.array(logits))
    gold = np.array([s.label_id for s in seeds])
    gold_probs = datamap.gold_probabilities(probs, gold)
    assert metrics["confidence"].to_numpy() == pytest.approx(datamap.confidence(gold_probs))
    assert metrics["variability"].to_numpy() == pytest.approx(datamap.variability(gold_probs))
    assert metrics["correctness"].to_numpy() == pytest.approx(datamap.correctness(probs, gold))
    assert metrics["variability"].max() > 0  # the classifier moved between epochs
    for label, part in metrics.groupby("label"):
        # the most ambiguous quarter of each label
        assert part["ambiguous"].sum() == pytest.approx(len(part) * 0.25, abs=1), label
        threshold = part.loc[part["ambiguous"], "variability"].min()
        assert (part.loc[~part["ambiguous"], "variability"] < threshold).all()

    assert (carto / "data_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((carto / "manifest.json").read_text())
    assert manifest["seed_fingerprint"] == fingerprint(seeds, ["entailment", "not_entailment"])
    assert manifest["epochs"] == EPOCHS and manifest["examples"] == ROWS
    assert manifest["settings"]["cartography"]["epochs"] == EPOCHS


def test_each_checkpoint_is_the_model_that_wrote_its_epoch(carto: Path, recipe: Recipe) -> None:
    seeds = read_seeds(recipe.wanli.seeds.path, recipe.wanli.seeds)[:6]  # type: ignore[arg-type]
    pairs = [(s.premise, s.hypothesis) for s in seeds]
    probs = score_with_checkpoints(
        checkpoint_dirs(carto),
        pairs,
        device="cpu",
        max_length=MAX_LENGTH,
        batch_size=8,
        show_progress=False,
    )
    assert probs.shape == (EPOCHS, 6, 2)
    assert probs.sum(axis=2) == pytest.approx(np.ones((EPOCHS, 6)))
    for epoch in range(EPOCHS):
        lines = (carto / "training_dynamics" / f"dynamics_epoch_{epoch}.jsonl").read_text()
        logits = [json.loads(line)[f"logits_epoch_{epoch}"] for line in lines.splitlines()[:6]]
        assert probs[epoch] == pytest.approx(datamap.softmax(np.array(logits)), abs=1e-4)


def test_the_variability_filter_scores_with_every_checkpoint_and_keeps_the_quota(
    carto: Path, recipe: Recipe
) -> None:
    seeds = read_seeds(recipe.wanli.seeds.path, recipe.wanli.seeds)[:12]  # type: ignore[arg-type]
    rows = [
        {"id": s.guid, "premise": s.premise, "hypothesis": s.hypothesis, "label": s.label}
        for s in seeds
    ]
    table = get_kind("wanli").candidates(rows, recipe.wanli.seeds.labels)
    sections = recipe.wanli.filter.model_copy(update={"keep_fraction": 0.5}).sections()
    context = FilterContext(
        checkpoints=tuple(checkpoint_dirs(carto)),
        device="cpu",
        max_length=recipe.wanli.cartography.max_length,
    )
    filters = build_filters({"max_variability": sections["max_variability"]}, "wanli", context)
    funnel = run_stages(table, filters)
    expected = max_variability(
        score_with_checkpoints(
            checkpoint_dirs(carto),
            [(s.premise, s.hypothesis) for s in seeds],
            device="cpu",
            max_length=recipe.wanli.cartography.max_length,
            batch_size=8,
            show_progress=False,
        )
    )
    assert table.scores["max_variability"] == pytest.approx(expected, abs=1e-5)
    present = {table.label_of(row) for row in range(len(table))}
    quota = max(1, math.floor(0.5 * len(seeds) / len(present) + 0.5))
    step = funnel.steps[0]
    assert step.name == "max_variability" and step.rejected_by_rule
    for label, counts in step.counts.items():
        assert counts.n_out == min(quota, counts.n_in)
        kept = table.is_label(label) & table.alive
        dropped = table.is_label(label) & ~table.alive
        if kept.any() and dropped.any():
            assert table.scores["max_variability"][kept].min() >= (
                table.scores["max_variability"][dropped].max()
            )


def test_neighbours_are_ambiguous_examples_of_the_seed_label(carto: Path, recipe: Recipe) -> None:
    path = recipe.wanli.seeds.path
    assert path is not None
    seeds = read_seeds(path, recipe.wanli.seeds)
    groups, report = select_groups(recipe.wanli, carto, seeds, path)
    metrics = pq.read_table(carto / "metrics.parquet").to_pandas().set_index("guid")
    assert len(groups) == report.groups == recipe.wanli.selection.max_seeds == 4
    assert {g.seed.label for g in groups} == {"entailment", "not_entailment"}  # interleaved
    for group in groups:
        assert len(group.neighbours) == recipe.wanli.selection.k
        assert group.examples[-1] == group.seed
        assert group.seed not in group.neighbours
        for example in group.examples:
            assert example.label == group.seed.label
            assert metrics.loc[example.guid, "ambiguous"]


@pytest.mark.integration
@pytest.mark.slow
def test_generate_wanli_end_to_end_on_the_embedded_model(
    embedded_gguf: Path, carto: Path, overrides: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "wanli"
    args = [
        "generate", "wanli", "--recipe", str(RECIPE), "--cartography", str(carto),
        "--out", str(out), "--limit", "2", "--no-progress", *overrides,
        "--set", "llm.max_tokens=100", "--set", "wanli.generation.max_chars=120",
    ]  # fmt: skip
    result = rudatagen(*args)
    assert result.returncode == 0, result.stderr
    assert f"selection: {ROWS} seeds" in result.stderr and "2 prompts" in result.stderr
    assert "--recipe recipes/wanli.yaml" in result.stderr  # the embedded-model notice

    generated = pq.read_table(out / "generation" / "data").to_pylist()
    assert len(generated) + len((out / "generation" / "failed.jsonl").read_text().splitlines()) == 2
    candidates = pq.read_table(out / "candidates.parquet").to_pylist()
    assert len(candidates) == len(generated)
    for cand in candidates:
        assert cand["kept"] == (cand["reason"] is None)
        assert cand["field"] == "hypothesis" and cand["filter"] in (None, *FILTERS)
    kept = pq.read_table(out / "data").to_pylist()
    assert [r["id"] for r in kept] == [c["record_id"] for c in candidates if c["kept"]]
    assert all(len(r["neighbour_ids"]) == 4 for r in kept)
    assert set(pq.read_schema(out / "data" / "shard-00000.parquet").names) == {
        "id", "premise", "hypothesis", "label", "seed_id", "neighbour_ids", "max_variability",
        "heuristic_flags",
    }  # fmt: skip
    for row in kept:
        assert row["label"] in ("entailment", "not_entailment")
        assert 0 <= row["max_variability"] <= 0.5

    funnel = Funnel.model_validate(json.loads((out / "funnel.json").read_text()))
    assert funnel.check() == []
    assert [s.name for s in funnel.steps] == ["ambiguous seeds", "prompts", "generation", *FILTERS]
    assert funnel.steps[1].total_out == 2 and funnel.steps[2].total_out == len(generated)
    assert sum(funnel.counts_in.values()) == len(candidates)
    rejected = sum(s.total_in - s.total_out for s in funnel.steps[3:])
    assert sum(funnel.counts_in.values()) - rejected == sum(funnel.counts_out.values()) == len(kept)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["kept"] == len(kept)
    assert manifest["cartography"]["checkpoints"] == [f"epoch-{e}" for e in range(EPOCHS)]
    assert "# WANLI funnel" in (out / "funnel.md").read_text()

    again = rudatagen(*args)  # resumes: nothing left to generate
    assert again.returncode == 0, again.stderr
    assert "0 LLM calls" in again.stderr
    assert pq.read_table(out / "data").to_pylist() == kept


def test_a_cartography_dir_from_another_seed_set_is_refused(
    carto: Path, overrides: list[str], tmp_path: Path
) -> None:
    result = rudatagen(
        "generate", "wanli", "--recipe", str(RECIPE), "--cartography", str(carto),
        "--out", str(tmp_path / "w"), *overrides, "--set", "wanli.seeds.limit=150",
    )  # fmt: skip
    assert_one_line_error(result, "different seed set", "run `rudatagen cartography`")
    assert not (tmp_path / "w").exists()


def write_seeds(path: Path, labels: list[str]) -> Path:
    lines = [
        json.dumps({"premise": f"Посылка {i}.", "hypothesis": f"Гипотеза {i}.", "label": label})
        for i, label in enumerate(labels)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("labels", "settings", "needles"),
    [
        (
            ["entailment", "not_entailment", "unknown"] * 10,
            ["wanli.seeds.labels=[entailment, not_entailment]"],
            ["label 'unknown' (10 rows)", "label_map"],
        ),
        (
            ["follows", "other"] * 10,
            [
                "wanli.seeds.labels=[entailment, not_entailment]",
                "wanli.seeds.label_map={follows: entailment}",
            ],
            ["label 'other' (10 rows)", "label_map"],
        ),
        (
            ["entailment", "not_entailment"] * 10,
            ["wanli.seeds.labels=[entailment, not_entailment]"],
            ["seed set too small", "has 10 rows"],
        ),
        (
            ["entailment", "not_entailment"] * 10,
            ["wanli.seeds.labels=[entailment, maybe]"],
            ["invalid recipe", "unknown label(s) maybe"],
        ),
    ],
    ids=["unknown-label", "unmapped-label", "too-small", "unknown-label-in-recipe"],
)
def test_bad_seed_data_is_a_one_line_error(
    tmp_path: Path, labels: list[str], settings: list[str], needles: list[str]
) -> None:
    path = write_seeds(tmp_path / "seeds.jsonl", labels)
    flags = [arg for value in settings for arg in ("--set", value)]
    result = rudatagen(
        "cartography", "--seed-data", str(path), "--out", str(tmp_path / "c"), *flags
    )
    assert_one_line_error(result, *needles)
