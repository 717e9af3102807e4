"""Shared fixtures: paths, the real local LLM servers, small corpora.

Integration fixtures start real components (a llama.cpp server, the embedded GGUF); they skip
with a clear reason when the component is not installed, which `make test` always installs.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.commands import free_port, llama_server_command, stop

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CACHE = Path(os.environ.get("RUDATAGEN_CACHE_DIR", REPO / ".cache"))
VLLM_PYTHON = CACHE / "vllm-venv" / "bin" / "python"
HF_MODEL_DIR = CACHE / "models" / "gemma-3-270m-hf"
FIXTURES = Path(__file__).parent / "fixtures"
SMALL_CORPUS = (  # the small_corpus fixture's four short Russian sentences
    "Первый троллейбус в Москве вышел на линию в 1933 году.\n"
    "Художник Исаак Левитан написал картину «Золотая осень» в 1895 году.\n"
    "Байкал содержит около двадцати процентов мировых запасов пресной воды.\n"
    "Спортсменка выиграла две золотые медали на зимних Олимпийских играх.\n"
)

# Session fixtures: the publish/train/evaluate tests' (a trained MiniLM, published folders), the
# Ray cluster, the cartography run of the WANLI tests, the embedded model's shared runs.
pytest_plugins = [
    "tests.support.train_fixtures",
    "tests.support.ray_fixtures",
    "tests.support.nli_fixtures",
    "tests.support.embedded_runs",
]

os.environ.setdefault("RUDATAGEN_CACHE_DIR", str(CACHE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def wiki_sentences(shared_data: Path) -> Path:
    return shared_data / "ru_wiki_sentences.tsv"


@pytest.fixture(scope="session")
def embedded_gguf() -> Path:
    """The embedded Gemma 3 270M GGUF (assembled once into the project cache)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (make install)")
    from rudatagen.llm.embedded import embedded_gguf_path

    return embedded_gguf_path()


@pytest.fixture(scope="session")
def llama_server(embedded_gguf: Path) -> Iterator[str]:
    """A real llama.cpp OpenAI-compatible server on 127.0.0.1; yields its /v1 URL."""
    port = free_port()
    log = (CACHE / "logs").joinpath(f"llama-server-{port}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        proc = subprocess.Popen(
            llama_server_command(embedded_gguf, port),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/v1/models", proc, timeout=60)
        yield f"{url}/v1"
    finally:
        stop(proc)


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server at {url} not ready after {timeout}s")


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """Four short Russian sentences written for these tests."""
    path = tmp_path / "sentences.txt"
    path.write_text(SMALL_CORPUS, encoding="utf-8")
    return path
