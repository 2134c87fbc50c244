"""A Dask cluster of separate `dask scheduler` and `dask worker` processes, for tests.

Loopback only, no dashboards, the worker profiler off (it costs an idle
cluster a good part of a core), each worker one thread and a memory limit.
Started once per test session (tests/conftest.py, fixture ``dask_cluster``);
stopped with SIGTERM to each process group, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.s3server import free_ports

WORKERS = 2
START_TIMEOUT = 60.0
QUIET = {  # dask reads its config from DASK_* variables
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "2s",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "200ms",
}


class DaskCluster:
    """`start()` runs a scheduler and `WORKERS` workers under `workdir`; `address` is the
    scheduler's; `stop()` ends them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.address = ""
        self.procs: list[subprocess.Popen] = []

    def _spawn(self, name: str, module: str, *args: str) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (kept for the process)
        env = dict(os.environ, **QUIET)
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=self.workdir, env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True))
        log.close()

    def start(self) -> DaskCluster:
        from distributed import Client

        [port] = free_ports(1)
        self.address = f"tcp://127.0.0.1:{port}"
        self._spawn("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                    "--port", str(port), "--no-dashboard")
        for i in range(WORKERS):
            self._spawn(f"worker-{i}", "distributed.cli.dask_worker", self.address,
                        "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                        "--no-dashboard", "--memory-limit", "1GiB", "--name", f"w{i}",
                        "--local-directory", str(self.workdir / f"w{i}"))
        try:
            with Client(self.address, timeout=START_TIMEOUT) as client:
                client.wait_for_workers(WORKERS, timeout=START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every process group, SIGKILL those still there after `grace` seconds."""
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []

    def logs(self) -> str:
        """The processes' logs, for a failed test's message."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.workdir.glob("*.log")))
