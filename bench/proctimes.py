"""CPU seconds per process of a benchmark run, sampled from /proc.

`CpuSampler` follows the process trees of some root processes (an appliance
server, SeaweedFS) and the benchmark's own children (wrk), reading each
process's user + system time every `interval` seconds, and names each process
by its role: the server's main (reactor) thread and its other threads apart,
the converter committer, each converter worker, a receiver child. A process
that ends keeps the time it had at its last sample (a short-lived one may be
missed); time a process had spent before the sampler started is left out.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from appliance.selfcmd import CONVERTER_WORKER, RECEIVER_WORKER

TICK = os.sysconf("SC_CLK_TCK")


def _stat(path: str) -> tuple[int, int] | None:
    """(parent pid, user + system ticks) from a /proc stat file; None if it is gone."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    stat = _stat(f"/proc/{pid}/stat")
    if stat is None:
        raise ProcessLookupError(pid)
    return stat[1] / TICK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


class CpuSampler:
    """Samples the CPU time of the processes of a benchmark case, by role."""

    def __init__(self, roots: dict[int, str], *, interval: float = 0.25):
        """`roots`: pid -> role of each root process (e.g. {server pid: "server"}); the
        benchmark's own children (wrk) are followed too, as their command's name."""
        self.roots = roots
        self.interval = interval
        self._roles: dict[int, str] = {}
        self._first: dict[str, int] = {}  # ticks at the first sample, per key
        self._last: dict[str, int] = {}
        self._workers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def start(self) -> CpuSampler:
        self.sample(baseline=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Stop sampling; CPU seconds per role since start()."""
        self._stop.set()
        self._thread.join()
        self.sample()
        out: dict[str, float] = {}
        for key, ticks in self._last.items():
            role = key.split("#", 1)[0]
            out[role] = out.get(role, 0.0) + (ticks - self._first.get(key, 0)) / TICK
        return dict(sorted(out.items()))

    def pids(self, role: str) -> list[int]:
        """The processes seen so far in `role`."""
        return [pid for pid, r in self._roles.items() if r == role]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self, baseline: bool = False) -> None:
        """Read every followed process's ticks once."""
        parents: dict[int, int] = {}
        ticks: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                stat = _stat(f"/proc/{name}/stat")
                if stat is not None:
                    parents[int(name)], ticks[int(name)] = stat
        me = os.getpid()
        for pid in sorted(ticks):
            role = self._role(pid, parents, me)
            if role is None:
                continue
            if role == "server":  # the reactor thread apart from the rest
                main = _stat(f"/proc/{pid}/task/{pid}/stat")
                if main is not None:
                    self._record(f"server main thread#{pid}", main[1], baseline)
                    self._record(f"server other threads#{pid}", ticks[pid] - main[1], baseline)
                continue
            self._record(f"{role}#{pid}", ticks[pid], baseline)

    def _record(self, key: str, ticks: int, baseline: bool) -> None:
        if baseline:
            self._first[key] = ticks
        self._last[key] = ticks

    def _role(self, pid: int, parents: dict[int, int], me: int) -> str | None:
        if pid in self._roles:
            return self._roles[pid]
        role = None
        if pid in self.roots:
            role = self.roots[pid]
        elif parents.get(pid) == me:
            role = _comm(pid)
        else:
            parent = parents.get(pid)
            parent_role = self._role(parent, parents, me) if parent in parents else None
            if parent_role is not None:
                role = self._child_role(pid, parent_role)
        if role is not None:
            self._roles[pid] = role
        return role

    def _child_role(self, pid: int, parent_role: str) -> str:
        cmdline = _cmdline(pid)
        if parent_role == "converter committer" and (
                CONVERTER_WORKER in cmdline or "spawn_main" in cmdline):  # forked or spawned
            name = f"converter worker {self._workers}"
            self._workers += 1
            return name
        if CONVERTER_WORKER in cmdline:
            return "converter committer"
        if RECEIVER_WORKER in cmdline:
            return "receiver child"
        return f"{parent_role} (child)"

