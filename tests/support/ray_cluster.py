"""A real Ray cluster on loopback, as a user starts one (``ray start --head``), for the Ray
executor's tests and benchmark.

The cluster gets its own temporary directory, ports and authentication token (set in this
process's environment, so the ``rudatagen`` subprocesses and ``ray.init`` here use it), and
``stop`` ends only its processes: the ones whose command line names its directory, and
their children. ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps Ray on 127.0.0.1 (it would
otherwise pick the machine's interface address).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from tests.support.commands import free_port

RAY = str(Path(sys.executable).with_name("ray"))


@dataclass
class RayCluster:
    address: str  # "127.0.0.1:PORT"
    temp_dir: Path
    env: dict[str, str]  # what a driver needs: auth mode, token, loopback

    def processes(self) -> list[psutil.Process]:
        """The cluster's processes: those naming its directory (but this one and its parents),
        and all their descendants."""
        found: dict[int, psutil.Process] = {}
        me = psutil.Process()
        spared = {me.pid, *(parent.pid for parent in me.parents())}  # whoever named the dir
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if proc.pid in spared:
                    continue
                if str(self.temp_dir) in " ".join(proc.info["cmdline"] or ()):
                    found[proc.pid] = proc
                    for child in proc.children(recursive=True):
                        found[child.pid] = child
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return list(found.values())

    def workers(self, title: str) -> list[psutil.Process]:
        """The cluster's live worker processes whose title holds ``title`` (Ray names an actor's
        process ``ray::MapWorker(MapBatches(GenerateReplica))``)."""
        alive = []
        for proc in self.processes():
            try:
                if title in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return alive

    def stop(self) -> None:
        """SIGTERM every process of this cluster, SIGKILL what is left after 2 s (the GCS, the
        raylet and their agents take 10 s and more to end on SIGTERM; nothing of theirs is kept)."""
        procs = self.processes()
        for proc in procs:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                continue
        _, alive = psutil.wait_procs(procs, timeout=2)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(alive, timeout=5)


def start_ray_cluster(temp_dir: Path, num_cpus: int = 2) -> RayCluster:
    """``ray start --head`` on 127.0.0.1 with a fresh token; its environment is also set in
    ``os.environ`` (drivers started from here inherit it)."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    port = free_port()
    command = [
        RAY,
        "start",
        "--head",
        "--node-ip-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--num-cpus",
        str(num_cpus),
        "--num-gpus",
        "0",
        "--include-dashboard=false",
        "--dashboard-port",
        str(free_port()),
        "--dashboard-agent-listen-port",
        str(free_port()),
        "--temp-dir",
        str(temp_dir),
        "--disable-usage-stats",
    ]
    os.environ.update(env)
    cluster = RayCluster(f"127.0.0.1:{port}", temp_dir, env)
    log = temp_dir / "ray-start.log"
    started = time.monotonic()
    with log.open("w") as sink:  # not a pipe: the daemons it starts would hold it open
        returncode = subprocess.call(command, stdout=sink, stderr=subprocess.STDOUT, timeout=180)
    if returncode != 0:
        cluster.stop()
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"ray start failed after {time.monotonic() - started:.0f}s: {tail}")
    return cluster
