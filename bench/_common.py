"""Shared by the benchmark scripts: paths, the real data, a llama.cpp server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
WIKI = SHARED_DATA / "ru_wiki_sentences.tsv"
CACHE = Path(os.environ.get("RUDATAGEN_CACHE_DIR", REPO / ".cache"))
VLLM_PYTHON = CACHE / "vllm-venv" / "bin" / "python"
HF_MODEL_DIR = CACHE / "models" / "gemma-3-270m-hf"
os.environ.setdefault("RUDATAGEN_CACHE_DIR", str(CACHE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_llama_server(gguf: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("llama.cpp server did not start")


def ratio_line(name: str, ours: float, bare: float, goal: float, unit: str) -> str:
    ratio = ours / bare if bare else float("nan")
    verdict = "meets" if ratio >= goal else "BELOW"
    return (
        f"{name}: rudatagen {ours:.2f} {unit}, bare {bare:.2f} {unit}, "
        f"ratio {ratio:.3f} (goal >= {goal}) -> {verdict} goal"
    )
