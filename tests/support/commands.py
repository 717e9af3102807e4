"""Subprocesses of the tests: the ``rudatagen`` command as a user runs it, and local servers.

``rudatagen`` runs the installed command and captures its output; the ``assert_*`` helpers check
the contract of a failed command (exit status 2, one ``error:`` line, no traceback).
``generate_ruhnp_args`` is ``generate ruhnp`` against a local OpenAI-compatible test server
(the fault server, a stub) with retries fast enough for a test. ``llama_server_command`` is
the real llama.cpp server the integration tests and the benchmarks start.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("rudatagen"))

TEST_SERVER_OVERRIDES = (
    "llm.backend=openai",
    "llm.model=test",
    "llm.dialect=vllm",
    "llm.prompt_style=chat",
    "llm.max_concurrency=4",
    "llm.retry.backoff_base_s=0.01",
    "llm.retry.backoff_max_s=0.05",
)


def rudatagen(
    *args: str, cwd: Path = REPO, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``rudatagen ARGS`` in ``cwd``; stdout and stderr captured as text."""
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The command failed with status 2 and printed nothing but one ``error:`` line, which
    holds every needle; returns that line."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def assert_ends_with_one_error(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with status 2; its one ``error:`` line is its last word (progress may
    come before it) and no traceback was printed. Returns that line."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == errors[0]
    return errors[0]


def set_args(overrides: Iterable[str]) -> list[str]:
    """``--set KEY=VALUE`` for each override, in order."""
    return [arg for item in overrides for arg in ("--set", item)]


def generate_ruhnp_args(source: Path, out: Path, url: str, *overrides: str) -> list[str]:
    """The command line of ``generate ruhnp`` from ``source`` into ``out`` against the test
    server at ``url`` (``TEST_SERVER_OVERRIDES``), with ``overrides`` after those."""
    settings = [*TEST_SERVER_OVERRIDES, f"llm.base_url={url}", *overrides]
    command = [CLI, "generate", "ruhnp", "--source", str(source), "--out", str(out)]
    return [*command, *set_args(settings), "--no-progress"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llama_server_command(gguf: Path, port: int) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1:``port`` serving ``gguf`` as
    ``gemma`` (small context, two threads: the tests and benchmarks share a small machine)."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model_alias",
        "gemma",
        "--chat_format",
        "gemma",
        "--n_ctx",
        "4096",
        "--n_threads",
        "1",
        "--n_threads_batch",
        "2",
    ]


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server process; kill it if it has not exited within ten seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
