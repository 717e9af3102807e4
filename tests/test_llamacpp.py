"""The embedded model for real: in-process llama.cpp, and llama.cpp's OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.support.embedded_runs import EmbeddedRun

from rudatagen.config import load_recipe
from rudatagen.generators.job import run_job
from rudatagen.generators.ruhnp import RuHNPTask
from rudatagen.llm.openai_backend import OpenAIBackend
from rudatagen.llm.structured import parse_answer
from rudatagen.sources import SourceText

pytestmark = pytest.mark.integration

SMALL = ["ruhnp.n_paraphrases=2", "ruhnp.n_non_paraphrases=2", "llm.max_tokens=400"]
TEXT = SourceText("t1", "Первый троллейбус в Москве вышел на линию в 1933 году.")


def rows(out: Path) -> list[dict]:
    return [
        r for p in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()
    ]


def test_in_process_llamacpp_generates_valid_rows(embedded_ruhnp_run: EmbeddedRun) -> None:
    """The embedded backend (llama.cpp in the command's process) on two sources: the session's
    shared ``generate ruhnp`` run (tests/support/embedded_runs.py)."""
    out = embedded_ruhnp_run.out
    produced = rows(out)
    failed = (out / "failed.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(produced) + len(failed) == 2
    assert produced, "the embedded model produced no valid answer at all"
    for row in produced:
        assert len(row["pos"]) == 2 and len(row["neg"]) == 2
        assert all(text.strip() for text in row["pos"] + row["neg"])
        assert row["backend"] == "llamacpp"
        assert row["completion_tokens"] > 0 and row["prompt_tokens"] > 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["backend"]["name"] == "llamacpp"
    assert manifest["recipe"]["llm"]["backend"] == "llamacpp"
    assert manifest["llm_calls"] == manifest["last_run"]["llm_calls"] >= 2
    assert manifest["completion_tokens"] == sum(r["completion_tokens"] for r in produced) + sum(
        json.loads(line)["completion_tokens"] for line in failed
    )


@pytest.mark.parametrize("style", ["completion", "chat"])
def test_openai_backend_against_a_real_llamacpp_server(llama_server: str, style: str) -> None:
    """llama.cpp's dialect: a GBNF grammar for completions, json_object+schema for chat."""
    recipe = load_recipe(
        None,
        [
            *SMALL,
            "llm.backend=openai",
            f"llm.base_url={llama_server}",
            "llm.model=gemma",
            "llm.dialect=llamacpp",
            f"llm.prompt_style={style}",
            "llm.temperature=0",
        ],
    ).generate_settings()
    task = RuHNPTask(recipe)
    request = task.request(TEXT)
    assert request.is_chat == (style == "chat")

    async def ask() -> dict:
        backend = OpenAIBackend(recipe.llm)
        try:
            response = await backend.complete(request)
        finally:
            await backend.aclose()
        assert response.prompt_tokens > 0 and response.completion_tokens > 0
        return parse_answer(response.text, request.schema, response.finish_reason)

    answer = asyncio.run(ask())
    assert len(answer["paraphrases"]) == 2
    assert len(answer["non_paraphrases"]) == 2


def test_server_run_resumes_from_cache_without_calls(
    llama_server: str, small_corpus: Path, tmp_path: Path
) -> None:
    """A run against the real server, its shards deleted: the re-run answers from the cache."""
    overrides = [
        *SMALL,
        # one candidate of each: the cache is the point here, not the counts (half the tokens)
        "ruhnp.n_paraphrases=1",
        "ruhnp.n_non_paraphrases=1",
        "llm.backend=openai",
        f"llm.base_url={llama_server}",
        "llm.model=gemma",
        "llm.dialect=llamacpp",
        f"source.path={small_corpus}",
        "source.limit=1",
    ]
    recipe = load_recipe(None, overrides).generate_settings()
    out = tmp_path / "run"
    first = run_job(recipe, RuHNPTask(recipe), out, show_progress=False)
    assert first.report.stats.llm_calls >= 1
    if first.rows == 0:
        pytest.fail(f"no valid answer from the server: {first.report.failure_reasons}")
    before = rows(out)
    for shard in (out / "data").glob("*.parquet"):
        shard.unlink()  # as if the run had been killed before writing its shard
    second = run_job(recipe, RuHNPTask(recipe), out, show_progress=False)
    assert second.report.stats.llm_calls == 0
    assert second.report.stats.cache_hits == 1
    content = ("id", "query", "pos", "neg")
    assert [{k: r[k] for k in content} for r in rows(out)] == [
        {k: r[k] for k in content} for r in before
    ]
    assert rows(out)[0]["attempts"] == 0  # 0 attempts: answered from the cache
