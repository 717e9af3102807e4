"""The vLLM backend against a bare ``LLM.generate`` on the same prompts (run in the vLLM venv).

One engine serves both sides. Each request carries its own seed, so both sides generate the same
tokens; the ratio compares completion tokens per second.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import HF_MODEL_DIR, WIKI, ratio_line

PROMPTS = 16


def main() -> None:
    from vllm import LLM

    from rudatagen.config import load_recipe
    from rudatagen.generators.job import run_job
    from rudatagen.generators.ruhnp import RuHNPTask
    from rudatagen.llm.vllm_backend import VLLMBackend
    from rudatagen.sources import read_source

    recipe = load_recipe(
        None,
        [
            f"source.path={WIKI}",
            f"source.limit={PROMPTS}",
            "llm.backend=vllm",
            f"llm.model={HF_MODEL_DIR}",
            "llm.temperature=0",
            "llm.max_tokens=256",
            "llm.max_reasks=0",
            "ruhnp.n_paraphrases=2",
            "ruhnp.n_non_paraphrases=2",
            "ruhnp.max_candidate_chars=160",
            "cache.enabled=false",
        ],
    ).generate_settings()
    task = RuHNPTask(recipe)
    texts, _ = read_source(WIKI, recipe.source)
    engine = LLM(
        model=str(HF_MODEL_DIR), max_model_len=2048, dtype="bfloat16", enforce_eager=True, seed=0
    )
    backend = VLLMBackend(recipe.llm, engine=engine)
    requests = [task.request(t) for t in texts]
    prompts = [r.prompt for r in requests]
    params = [backend._sampling_params(r) for r in requests]
    engine.generate(prompts[:2], params[:2], use_tqdm=False)  # warm-up

    bare_best = ours_best = 0.0
    for round_ in range(2):
        started = time.perf_counter()
        outputs = engine.generate(prompts, params, use_tqdm=False)
        bare_s = time.perf_counter() - started
        bare_tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
        bare_best = max(bare_best, bare_tokens / bare_s)
        with tempfile.TemporaryDirectory() as tmp:
            result = run_job(
                recipe,
                task,
                Path(tmp) / "run",
                show_progress=False,
                backend_factory=lambda: VLLMBackend(recipe.llm, engine=engine),
            )
        ours_tokens = result.report.stats.usage.completion_tokens
        ours_best = max(ours_best, ours_tokens / result.report.wall_s)
        print(
            f"  round {round_ + 1}: bare {len(prompts)} prompts {bare_tokens} tok in "
            f"{bare_s:.1f}s; rudatagen {result.report.stats.llm_calls} calls {ours_tokens} tok "
            f"in {result.report.wall_s:.1f}s"
        )
    print(f"[2] vLLM (cpu), {PROMPTS} RuHNP prompts in one engine")
    print("  " + ratio_line("throughput", ours_best, bare_best, 0.9, "tok/s"))


if __name__ == "__main__":
    main()
