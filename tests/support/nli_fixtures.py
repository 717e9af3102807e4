"""The session's cartography run: a real slice of TERRa, the local MiniLM, a few epochs.

``rudatagen cartography`` trains for tens of seconds, so the test files that need a cartography
directory (tests/test_nli_cartography.py, tests/test_wanli_scale.py) share this one. ``minilm``
is the session fixture of tests/support/train_fixtures.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.commands import REPO, rudatagen

from rudatagen.config import Recipe, load_recipe

RECIPE = REPO / "recipes" / "wanli-terra-demo.yaml"
EPOCHS = 3
ROWS = 160
MAX_LENGTH = 48


@pytest.fixture(scope="session")
def nli_overrides(minilm: str, shared_data: Path) -> list[str]:
    """``--set`` arguments shared by the cartography run and the ``generate wanli`` runs."""
    values = [
        f"wanli.seeds.path={shared_data / 'terra_train.jsonl'}",
        f"wanli.seeds.limit={ROWS}",
        f"wanli.cartography.model={minilm}",
        f"wanli.cartography.epochs={EPOCHS}",
        f"wanli.cartography.max_length={MAX_LENGTH}",
        "wanli.cartography.learning_rate=2e-4",
    ]
    return [arg for value in values for arg in ("--set", value)]


@pytest.fixture(scope="session")
def nli_recipe(nli_overrides: list[str]) -> Recipe:
    return load_recipe(RECIPE, nli_overrides[1::2])


@pytest.fixture(scope="session")
def nli_carto(tmp_path_factory: pytest.TempPathFactory, nli_overrides: list[str]) -> Path:
    out = tmp_path_factory.mktemp("nli") / "carto"
    result = rudatagen(
        "cartography", "--recipe", str(RECIPE), "--out", str(out), "--no-progress", *nli_overrides
    )
    assert result.returncode == 0, result.stderr
    assert f"done: {ROWS} examples, {EPOCHS} epochs" in result.stderr
    assert result.stderr.count("train accuracy") == EPOCHS
    return out
