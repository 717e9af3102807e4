"""The API key: read from the variable the recipe names, sent as a bearer token, written nowhere.

The CLI runs as a subprocess against :class:`FaultServer` whose handler is extended here to
record the ``Authorization`` header and to answer 401 to any other key (as a real server would).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import tests.support.fault_server as fault_server_module
from tests.support.commands import generate_ruhnp_args
from tests.support.fault_server import FaultServer

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "RUDATAGEN_TEST_KEY"

T_RETRIED = "Весной на старой пристани открылось маленькое кафе для рыбаков."
T_FAILS = "Музей получил в дар коллекцию старинных часов и барометров."
T_RESET = "Вечерний поезд до Казани отправился с опозданием на десять минут."
T_OK = "Библиотека продлила часы работы читального зала до полуночи."
TEXTS = [T_RETRIED, T_FAILS, T_RESET, T_OK]
# Retries, a dropped connection and an item that fails (so failed.jsonl holds an error).
PLAN: dict[str, list[Any]] = {
    T_RETRIED: ["429", "500"],
    T_FAILS: ["schema_invalid", "schema_invalid"],
    T_RESET: ["reset"],
}


def new_secret() -> str:
    return f"sk-test-{secrets.token_hex(16)}"


@dataclass
class KeyServer:
    server: FaultServer
    authorizations: list[str | None]  # the Authorization header of every POST, in order

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def key_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[KeyServer, str]]:
    """A FaultServer (with PLAN) that accepts only one key; yields it and that key."""
    accepted = new_secret()
    seen: list[str | None] = []

    class KeyCheckingHandler(fault_server_module._Handler):
        authorizations: ClassVar[list[str | None]] = seen

        def do_POST(self) -> None:
            auth = self.headers.get("Authorization")
            self.authorizations.append(auth)
            if auth != f"Bearer {accepted}":
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send_error_json(401, "Incorrect API key provided", "invalid_request_error")
                return
            super().do_POST()

    monkeypatch.setattr(fault_server_module, "_Handler", KeyCheckingHandler)
    with FaultServer(PLAN, retry_after_s=0.05) as srv:
        yield KeyServer(srv, seen), accepted


def write_sources(path: Path) -> Path:
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def run_cli(
    source: Path, out: Path, url: str, env_updates: dict[str, str], *, key_env: str = KEY_ENV
) -> subprocess.CompletedProcess[bytes]:
    args = generate_ruhnp_args(
        source,
        out,
        url,
        f"llm.api_key_env={key_env}",
        "llm.timeout_s=5",
        "llm.max_reasks=1",
        "ruhnp.n_paraphrases=2",
        "ruhnp.n_non_paraphrases=2",
    )
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, key_env)}
    env.update(env_updates)
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, timeout=60)


def leaks(secret: str, proc: subprocess.CompletedProcess[bytes], out: Path) -> list[str]:
    """Everywhere the secret (or its random part) shows up: stdout, stderr, files under out."""
    needles = [secret.encode(), secret.removeprefix("sk-test-").encode()]
    found = []
    for name, blob in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        if any(n in blob for n in needles):
            found.append(name)
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if any(n in path.read_bytes() for n in needles):
            found.append(str(path.relative_to(out)))
    return found


def error_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode().splitlines() if line.startswith("error:")]


def test_key_is_sent_as_bearer_and_written_nowhere(
    tmp_path: Path, key_server: tuple[KeyServer, str]
) -> None:
    server, secret = key_server
    source = write_sources(tmp_path / "texts.txt")
    out = tmp_path / "run"
    proc = run_cli(source, out, server.url, {KEY_ENV: secret})
    assert proc.returncode == 0, proc.stderr.decode()

    logged = server.server.requests
    assert len(logged) >= len(TEXTS) + 4  # the plan's retries and re-asks all happened
    assert server.authorizations == [f"Bearer {secret}"] * len(logged)

    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {"manifest.json", "failed.jsonl", "cache.sqlite"} <= files
    assert any(f.startswith("data/shard-") for f in files)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["backend"]["api_key_env"] == KEY_ENV  # the name is recorded ...
    assert manifest["recipe"]["llm"]["api_key_env"] == KEY_ENV
    failed = (out / "failed.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(failed) == 1 and "invalid_answer" in failed[0]
    assert leaks(secret, proc, out) == []  # ... the value nowhere


def test_refused_key_exits_2_without_echoing_it(
    tmp_path: Path, key_server: tuple[KeyServer, str]
) -> None:
    server, accepted = key_server
    wrong = new_secret()
    source = write_sources(tmp_path / "texts.txt")
    out = tmp_path / "run"
    proc = run_cli(source, out, server.url, {KEY_ENV: wrong})
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    errors = error_lines(proc.stderr)
    assert len(errors) == 1, stderr
    assert "401" in errors[0] and f"${KEY_ENV}" in errors[0]
    assert server.authorizations and set(server.authorizations) == {f"Bearer {wrong}"}
    assert leaks(wrong, proc, out) == []
    assert leaks(accepted, proc, out) == []


@dataclass
class UnsetRun:
    proc: subprocess.CompletedProcess[bytes]
    out: Path
    variable: str
    other_secret: str
    server: FaultServer


@pytest.fixture(scope="module")
def unset_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnsetRun]:
    """One CLI run whose llm.api_key_env names a variable that is not set."""
    tmp = tmp_path_factory.mktemp("unset")
    source = write_sources(tmp / "texts.txt")
    variable = f"RUDATAGEN_UNSET_{secrets.token_hex(4).upper()}"
    other = new_secret()  # another key in the environment must not show up either
    with FaultServer() as srv:
        proc = run_cli(source, tmp / "run", srv.url, {KEY_ENV: other}, key_env=variable)
        yield UnsetRun(proc, tmp / "run", variable, other, srv)


def test_unset_key_variable_exits_2_naming_it(unset_run: UnsetRun) -> None:
    proc = unset_run.proc
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    errors = error_lines(proc.stderr)
    assert len(errors) == 1, stderr
    assert unset_run.variable in errors[0]
    assert stderr.rstrip().splitlines()[-1] == errors[0]
    assert unset_run.server.requests == []  # nothing was asked without a key
    assert leaks(unset_run.other_secret, proc, unset_run.out) == []


def test_unset_key_variable_leaves_no_running_manifest(unset_run: UnsetRun) -> None:
    assert unset_run.proc.returncode == 2
    manifest = unset_run.out / "manifest.json"
    if manifest.is_file():
        status = json.loads(manifest.read_text(encoding="utf-8"))["status"]
        assert status != "running", "the run ended, but its manifest says it is still running"
