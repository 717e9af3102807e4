"""Model merging: the weighted average, LM-Cocktail's tuned weights against a hand computation,
SLERP, one-line errors, the recipe's ``merge:`` hook, and ``evaluate`` of a merge beside its
parents (integration: after a real training).

The parents are all-MiniLM-L6-v2 and copies of it with seeded noise on every parameter (two
fine-tunes of one base, in seconds): each has other prompts, so the prefixes are checked too.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support.run_dirs import ruhnp_records
from tests.support.train_fixtures import SHARED

from rudatagen.errors import RudatagenError
from rudatagen.training.merge import merge_models, read_merge, run_merge_section
from rudatagen.training.merge_settings import MergeSettings, TuneSet

PROMPTS_A = {"query": "query: ", "document": "passage: "}
PROMPTS_B = {"symmetric": "query: "}


def _perturbed(minilm: str, seed: int, prompts: dict[str, str], out: Path) -> str:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(minilm, device="cpu")
    noise = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=noise) * 0.01)
    model.prompts = prompts
    model.save_pretrained(str(out))
    return str(out)


@pytest.fixture(scope="module")
def parents(minilm: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``{"a": folder, "b": folder, "base": minilm}``: two perturbed copies and the original."""
    root = tmp_path_factory.mktemp("parents")
    return {
        "a": _perturbed(minilm, 1, PROMPTS_A, root / "a"),
        "b": _perturbed(minilm, 2, PROMPTS_B, root / "b"),
        "base": minilm,
    }


@functools.cache
def _load(path: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


def _state(path: str) -> dict[str, Any]:
    return _load(path).state_dict()


def test_linear_merge_is_the_weighted_average(parents: dict[str, str], tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from typer.testing import CliRunner

    from rudatagen.cli import app

    out = tmp_path / "merged"
    args = ["merge-models", "--out", str(out)]
    for name, weight in (("a", "1"), ("b", "2"), ("base", "1")):
        args += ["--model", parents[name], "--weight", weight]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"loading {parents['a']}" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("merged 3 models, linear: ")
    assert "0.250" in result.stderr and "0.500" in result.stderr

    states = [_state(parents[name]) for name in ("a", "b", "base")]
    merged = _state(str(out))
    assert merged.keys() == states[0].keys()
    for key, tensor in merged.items():
        expected = 0.25 * states[0][key] + 0.5 * states[1][key] + 0.25 * states[2][key]
        assert torch_allclose(tensor, expected), key
        assert not torch_allclose(tensor, states[0][key]) or key.endswith("position_ids")

    model = SentenceTransformer(str(out), device="cpu")
    assert model.prompts == PROMPTS_A | PROMPTS_B  # the parents' prompts together
    vectors = model.encode(["Кошка спит.", "Кот спит."], normalize_embeddings=True)
    assert vectors.shape == (2, 384) and float(vectors[0] @ vectors[1]) > 0.5
    recorded = json.loads((out / "merge.json").read_text())
    assert recorded["stage"] == "merge" and recorded["weights"] == [0.25, 0.5, 0.25]
    assert recorded["models"] == [parents["a"], parents["b"], parents["base"]]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "library_name: sentence-transformers" in card
    assert f"| `{parents['b']}` | 0.5000 |" in card
    assert read_merge(out)["summary"].startswith("linear: ")  # what evaluate reports


def torch_allclose(a: Any, b: Any) -> bool:
    import torch

    return torch.allclose(a.float(), b.float(), atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def toy_tasks(tmp_path_factory: pytest.TempPathFactory) -> list[TuneSet]:
    """Two fixed tasks from real ParaPhraser pairs: 5 RuHNP rows (query, pos, neg) and 4
    anchor/positive rows in sentence-transformers' conventions (other queries)."""
    if not SHARED.is_dir():
        pytest.skip(f"real data not found at {SHARED}")
    root = tmp_path_factory.mktemp("tune")
    records = ruhnp_records(SHARED)[:9]
    ruhnp = [{"query": r["query"], "pos": r["pos"][:1], "neg": r["neg"][:1]} for r in records[:5]]
    pairs = [{"anchor": r["query"], "positive": r["pos"][0]} for r in records[5:]]
    pq.write_table(pa.Table.from_pylist(ruhnp), root / "ruhnp.parquet")
    pq.write_table(pa.Table.from_pylist(pairs), root / "pairs.parquet")
    return [
        TuneSet(path=str(root / "ruhnp.parquet"), name="ruhnp"),
        TuneSet.model_validate(f"{root / 'pairs.parquet'}:train"),
    ]


def _hand_loss(path: str, columns: list[list[str]], roles: list[str]) -> float:
    """MNRL by hand: cross-entropy of 20 × cosine of each anchor against every positive and
    negative of the batch (the whole task here), the right answer being its own positive."""
    from scipy.special import logsumexp

    model = _load(path)
    vectors = [
        model.encode(texts, prompt=model.prompts.get(role) or None, normalize_embeddings=True)
        for texts, role in zip(columns, roles, strict=True)
    ]
    scores = 20.0 * vectors[0] @ np.concatenate(vectors[1:]).T
    rows = np.arange(len(columns[0]))
    return float(np.mean(logsumexp(scores, axis=1) - scores[rows, rows]))


def test_tuned_weights_match_a_hand_computation(
    parents: dict[str, str], toy_tasks: list[TuneSet], tmp_path: Path
) -> None:
    models = [parents["a"], parents["b"]]
    result = merge_models(
        models,
        tune_on=toy_tasks,
        out=tmp_path / "tuned",
        temperature=0.05,
        examples_per_task=8,  # more than the tasks hold: every row, in one batch
        batch_size=8,
    )
    ruhnp = pq.read_table(toy_tasks[0].path).to_pylist()
    pairs = pq.read_table(toy_tasks[1].path).to_pylist()
    ruhnp_columns = [[r["query"] for r in ruhnp], [r["pos"][0] for r in ruhnp]]
    ruhnp_columns.append([r["neg"][0] for r in ruhnp])
    pair_columns = [[r["anchor"] for r in pairs], [r["positive"] for r in pairs]]
    hand = {
        "ruhnp": [_hand_loss(m, ruhnp_columns, ["query", "document", "document"]) for m in models],
        "pairs.parquet:train": [_hand_loss(m, pair_columns, ["query", "document"]) for m in models],
    }
    assert result.losses.keys() == hand.keys()
    for task, losses in hand.items():
        assert np.allclose(result.losses[task], losses, atol=1e-4), (task, result.losses)
    mean = np.mean(list(hand.values()), axis=0)
    expected = np.exp(-mean / 0.05) / np.exp(-mean / 0.05).sum()
    assert np.allclose(result.weights, expected, atol=1e-4)
    assert abs(result.weights[0] - 0.5) > 0.01  # the losses differ: so do the weights
    assert [s["examples"] for s in result.tune_sets] == [5, 4]
    card = (tmp_path / "tuned" / "README.md").read_text(encoding="utf-8")
    assert "lm-cocktail" in card and "## Tuning sets" in card and "| ruhnp |" in card


def test_slerp_ends_and_midpoint(parents: dict[str, str], tmp_path: Path) -> None:
    import torch

    a, b = _state(parents["a"]), _state(parents["b"])
    ends = {}
    for t in (0.0, 1.0, 0.5):
        merge_models([parents["a"], parents["b"]], method="slerp", t=t, out=tmp_path / f"{t}")
        ends[t] = _state(str(tmp_path / f"{t}"))
    curved = 0
    for key in a:
        assert torch_allclose(ends[0.0][key], a[key]) and torch_allclose(ends[1.0][key], b[key])
        x, y, mid = a[key].flatten().double(), b[key].flatten().double(), ends[0.5][key].flatten()
        cosine = float(x @ y / (x.norm() * y.norm()))
        if abs(cosine) > 0.9995:  # nearly parallel (LayerNorm weights): linear
            assert torch_allclose(mid, (x + y) / 2), key
            continue
        curved += 1
        half_angle = np.arccos(cosine) / 2  # midpoint = (a + b) sin(θ/2) / sin θ
        assert torch.allclose(mid.double(), (x + y) / (2 * np.cos(half_angle)), atol=1e-5), key
        assert float(mid.norm()) > float(((x + y) / 2).norm())  # the arc, not the chord
        if abs(float(x.norm() / y.norm()) - 1) < 1e-3:  # equal norms: the norm is kept
            assert abs(float(mid.norm()) - float(x.norm())) < 1e-3 * float(x.norm())
    assert curved > 20


def test_mismatched_architectures_are_one_line(
    parents: dict[str, str], tmp_path: Path, minilm: str
) -> None:
    from sentence_transformers import SentenceTransformer
    from typer.testing import CliRunner

    from rudatagen.cli import app

    short = SentenceTransformer(minilm, device="cpu")  # MiniLM with 3 of its 6 layers
    encoder = short[0].auto_model
    encoder.encoder.layer = encoder.encoder.layer[:3]
    encoder.config.num_hidden_layers = 3
    short.save_pretrained(str(tmp_path / "short"))
    args = ["merge-models", "-m", parents["a"], "-m", str(tmp_path / "short")]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    last = result.stderr.rstrip().splitlines()[-1]
    assert last.startswith(f"error: cannot merge {tmp_path / 'short'} with {parents['a']}: ")
    assert "different architectures (48 of 103 parameters differ" in last, last
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"models": ["x", "y", "z"], "method": "slerp"}, "slerp merges exactly two models"),
        ({"models": ["x", "y"], "weights": [1.0]}, "1 weights for 2 models"),
        ({"models": ["x", "y"], "weights": [1.0, -1.0]}, "weights must be ≥ 0"),
        ({"models": ["x", "y"], "weights": [1, 1], "tune_on": ["d"]}, "not both"),
        ({"models": ["x", "y"], "method": "slerp", "weights": [1, 1]}, "slerp takes t"),
        ({"models": ["x"]}, "models: List should have at least 2 items"),
        ({"models": ["x", "y"], "tune_on": ["a/d:dev", "b/d:dev"]}, "named alike"),
    ],
)
def test_bad_merge_options_are_one_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(RudatagenError, match=message) as caught:
        merge_models(out=Path("unused"), **options)
    assert "\n" not in str(caught.value)


def test_tune_set_short_form() -> None:
    assert TuneSet.model_validate("hub/ru-hnp-mine:validation").path == "hub/ru-hnp-mine"
    assert TuneSet.model_validate("data/run").split == "validation"
    assert TuneSet.model_validate("data/run:test").label == "run:test"
    settings = MergeSettings(models=["sym", "asym"], tune_on=["a:dev", {"path": "b"}])
    assert [(s.path, s.split) for s in settings.tune_on] == [("a", "dev"), ("b", "validation")]
    assert settings.given_weights() is None
    assert MergeSettings(models=["x", "y", "z"]).given_weights() == [1 / 3] * 3


def test_recipe_merge_section_names_trainings(parents: dict[str, str], tmp_path: Path) -> None:
    """``run_merge_section``: a training's name is its output folder, anything else a model."""
    settings = MergeSettings(models=["sym", parents["base"]], weights=[3, 1])
    result = run_merge_section(settings, {"sym": Path(parents["a"])}, tmp_path / "merged")
    assert result.models == [parents["a"], parents["base"]] and result.weights == [0.75, 0.25]
    recorded = json.loads((tmp_path / "merged" / "merge.json").read_text())
    assert recorded["recipe"]["models"] == [parents["a"], parents["base"]]


@pytest.mark.integration
def test_merge_after_training_then_evaluate_side_by_side(
    trained: tuple[Path, Any], published: dict[str, Path], minilm: str, tmp_path: Path
) -> None:
    """A real training merged with its base (LM-Cocktail weights tuned on the validation split),
    then ``evaluate`` of the merge and both parents on the same test pairs."""
    from tests.support.commands import rudatagen

    model, _ = trained
    merged = tmp_path / "merged"
    tune = f"{published['ruhnp']}:validation"
    result = rudatagen(
        "merge-models", "-m", str(model), "-m", minilm, "--tune-on", tune,
        "--examples-per-task", "8", "--out", str(merged),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "tuning on ruhnp:validation (8 examples): MNRL loss" in result.stderr
    weights = json.loads((merged / "merge.json").read_text())["weights"]
    assert len(weights) == 2 and abs(sum(weights) - 1) < 1e-6
    reports = tmp_path / "reports"
    evaluated = rudatagen(
        "evaluate", "-m", str(merged), "-m", str(model), "-m", minilm,
        "--data", str(published["ruhnp"]), "--out", str(reports), "--no-progress",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"{merged} is a merge, linear: {model} {weights[0]:.3f}" in evaluated.stderr
    report = json.loads(next(reports.glob("*merged.json")).read_text())
    assert report["merge"]["weights"] == weights and report["merge"]["tuned"] is True
    assert "A merge, linear:" in next(reports.glob("*merged.md")).read_text()
    assert len(list(reports.glob("*.json"))) == 3  # the merge and both parents, side by side
