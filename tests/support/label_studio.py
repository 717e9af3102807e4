"""Start a real Label Studio server (from its own venv) for tests and benchmarks.

The database is migrated once into a template data directory under the cache (30-45 s, with both
annotator accounts and their legacy tokens); each server then runs on a copy of it, ready in a few
seconds. The venv is built by ``make label-studio`` (``$CACHE/label-studio-venv``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("RUDATAGEN_CACHE_DIR", REPO / ".cache"))
LS_VENV = CACHE / "label-studio-venv"
LS_BIN = LS_VENV / "bin" / "label-studio"
TEMPLATE = CACHE / "label-studio-template"

# Test-only accounts of a throwaway local server (never a real secret).
ANNOTATORS = (
    ("annotator1@example.com", "test-password-1", "rudatagen-test-token-annotator-1"),
    ("annotator2@example.com", "test-password-2", "rudatagen-test-token-annotator-2"),
)


def available() -> bool:
    return LS_BIN.is_file() and (LS_VENV / ".installed").is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"USERNAME", "PASSWORD", "HOST", "PORT"} and not key.startswith("LABEL_")
    }
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=ANNOTATORS[0][0],
        LABEL_STUDIO_PASSWORD=ANNOTATORS[0][1],
        LABEL_STUDIO_USER_TOKEN=ANNOTATORS[0][2],
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        LATEST_VERSION_CHECK="false",
        COLLECT_ANALYTICS="false",
        AZURE_MOUNT_FIX="1",
    )
    return env


def _init_user(data_dir: Path, user: tuple[str, str, str]) -> None:
    subprocess.run(
        [
            str(LS_BIN),
            "init",
            "-q",
            "--data-dir",
            str(data_dir),
            "--username",
            user[0],
            "--password",
            user[1],
            "--user-token",
            user[2],
        ],
        env=_env(data_dir),
        check=True,
        capture_output=True,
        timeout=300,
    )


def ensure_template() -> Path:
    """The migrated data directory with both accounts (built once, then reused)."""
    if (TEMPLATE / ".ready").is_file():
        return TEMPLATE
    building = TEMPLATE.with_name(TEMPLATE.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for user in ANNOTATORS:
        _init_user(building, user)
    (building / ".ready").touch()
    shutil.rmtree(TEMPLATE, ignore_errors=True)
    building.rename(TEMPLATE)
    return TEMPLATE


@dataclass
class LabelStudioServer:
    """A running server on a copy of the template; ``url`` and the annotators' tokens."""

    data_dir: Path
    log: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return ANNOTATORS[0][2]

    def start(self, timeout: float = 120.0) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as handle:
            self.proc = subprocess.Popen(
                [
                    str(LS_BIN),
                    "start",
                    "--no-browser",
                    "--internal-host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=_env(self.data_dir),
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait(timeout, offset)

    def _log_since(self, offset: int) -> str:
        with self.log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")

    def _wait(self, timeout: float, offset: int) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        line = f"Starting development server at http://127.0.0.1:{self.port}/"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Label Studio exited early; see {self.log}")
            text = self._log_since(offset)
            if line in text:
                try:
                    response = httpx.get(
                        f"{self.url}/api/current-user/whoami",
                        headers={"Authorization": f"Token {self.token}"},
                        timeout=5,
                    )
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            elif "Starting development server at" in text:
                self.stop()
                raise RuntimeError(
                    f"Label Studio took another port than {self.port}; see {self.log}"
                )
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"Label Studio not ready in {timeout:.0f}s; see {self.log}")

    def stop(self) -> None:
        """Kill the server (its whole process group), as a crash would."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def start_server(work_dir: Path) -> LabelStudioServer:
    """Copy the template into ``work_dir`` and start a server on a free port."""
    template = ensure_template()
    data_dir = work_dir / "label-studio-data"
    shutil.copytree(template, data_dir, symlinks=True)
    server = LabelStudioServer(data_dir, work_dir / "label-studio.log", free_port())
    server.start()
    return server
