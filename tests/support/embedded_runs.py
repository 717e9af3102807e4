"""Session fixtures: the embedded model's generation runs, made once with the real command.

The embedded Gemma 3 270M writes about five tokens a second under its JSON grammar on two cores,
so each run costs a minute or more. Several tests check different things about the same run
(the command's output, the rows the embedded backend wrote, the card of a chain built on it, a
resume from its cache): they share one run here instead of generating it again. A test that
changes a run (a resume, a deleted shard) works on a copy (``copy_run``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import SMALL_CORPUS
from tests.support.commands import rudatagen, set_args

RUHNP_SMALL = (
    "ruhnp.n_paraphrases=2",
    "ruhnp.n_non_paraphrases=2",
    "ruhnp.max_candidate_chars=200",
    "llm.max_tokens=300",
)
QUERY_PASSAGES = 4  # passages the queries run writes queries for (3 queries each)
QUERIES_SMALL = (  # short passages and answers
    "source.passages.enabled=true",
    "source.passages.document_column=source",
    "source.passages.max_sentences=2",
    "source.max_chars=300",
    "queries.counts.descriptive=0",
    "queries.max_query_chars=120",
    "queries.n_examples=1",
    "llm.max_tokens=200",
)


@dataclass(frozen=True)
class EmbeddedRun:
    """A finished ``rudatagen generate`` run on the embedded model: its folder, the command's
    result and the arguments before ``--out``, to run the same command again on a copy."""

    out: Path
    result: subprocess.CompletedProcess[str]
    args: tuple[str, ...]

    def command(self, out: Path) -> list[str]:
        """The same command, writing into ``out``."""
        return [*self.args, "--out", str(out)]


def copy_run(run: EmbeddedRun, out: Path) -> Path:
    """A copy of the run's folder (its response cache included) that a test may change."""
    shutil.copytree(run.out, out)
    return out


def _generate(out: Path, *args: str) -> EmbeddedRun:
    run = EmbeddedRun(out, rudatagen(*args, "--out", str(out)), args)
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    return run


@pytest.fixture(scope="session")
def embedded_ruhnp_run(
    embedded_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> EmbeddedRun:
    """``generate ruhnp`` on the four small-corpus sentences, two of them (2 + 2 candidates)."""
    root = tmp_path_factory.mktemp("embedded-ruhnp")
    source = root / "sentences.txt"
    source.write_text(SMALL_CORPUS, encoding="utf-8")
    args = ("generate", "ruhnp", "--source", str(source), "--limit", "2", *set_args(RUHNP_SMALL))
    return _generate(root / "ruhnp-01", *args)


@pytest.fixture(scope="session")
def embedded_queries_run(
    embedded_gguf: Path, wiki_sentences: Path, tmp_path_factory: pytest.TempPathFactory
) -> EmbeddedRun:
    """``generate queries`` on the first ``QUERY_PASSAGES`` wiki passages, a shard per passage."""
    settings = set_args([*QUERIES_SMALL, "output.shard_size=1"])
    args = ("generate", "queries", "--source", str(wiki_sentences), *settings)
    args += ("--limit", str(QUERY_PASSAGES), "--no-progress")
    return _generate(tmp_path_factory.mktemp("embedded-queries") / "q-01", *args)
