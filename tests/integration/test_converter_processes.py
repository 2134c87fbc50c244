"""`[converter] processes = 2` under kill -9: the converter child (the committer) or one of
its worker processes is killed 20 times during a load through a running server; every
acknowledged record ends in the store exactly once and the ledger balances."""

from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path

import pytest

from tests import pings
from tests.integration.serverproc import ServerProcess, eventually, read_response
from tests.integration.test_poison_records import FAST, settled, store_outcomes

KILLS = 20


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def converter_processes(server: ServerProcess) -> tuple[int | None, list[int]]:
    """The converter child's pid (or None) and its worker processes' pids."""
    for pid in children(server.proc.pid):
        if "_convert-worker" in cmdline(pid):
            # multiprocessing's resource tracker is a child too, but converts nothing
            return pid, [c for c in children(pid) if "resource_tracker" not in cmdline(c)]
    return None, []


def tree(pid: int) -> dict:
    """Processes under `pid` with their command lines, for failure reports."""
    return {f"{p} {cmdline(p)[:80]}": tree(p) for p in children(pid)}


def running(server: ServerProcess) -> tuple[int, list[int]] | None:
    """The converter child and its 2 workers, once they all run."""
    committer, workers = converter_processes(server)
    return (committer, workers) if committer and len(workers) == 2 else None


def load(server: ServerProcess, acked: list[str], stop: threading.Event) -> None:
    """Post pings on one connection until `stop`; record the docIds answered 200."""
    n = 0
    with server.connect(timeout=30) as sock:
        while not stop.is_set():
            doc = f"k-{n}"
            body = pings.body(n)
            sock.sendall(f"POST /submit/telemetry/{doc}/{pings.DIMS} HTTP/1.1\r\n"
                         f"Host: x\r\nContent-Encoding: gzip\r\nContent-Length: {len(body)}"
                         f"\r\n\r\n".encode() + body)
            if read_response(sock).status == 200:
                acked.append(doc)
            n += 1


@pytest.mark.slow
def test_kill_9_of_any_converter_process_loses_and_duplicates_nothing(tmp_path):
    data_dir = tmp_path / "data"
    env = dict(FAST, APPLIANCE_HISTOGRAMS_SPEC_DIR=str(pings.write_spec(tmp_path / "specs")),
               APPLIANCE_CONVERTER_PROCESSES="2")
    server = ServerProcess(data_dir, env=env).start()
    rng = random.Random(12)
    acked: list[str] = []
    stop = threading.Event()
    loader = threading.Thread(target=load, args=(server, acked, stop))
    loader.start()
    killed = {"committer": 0, "worker": 0}
    try:
        for _ in range(KILLS):
            # converting with its workers: a commit reported since the last restart
            server.wait_for_log(r"converter: [1-9]\d* converted")
            committer, workers = eventually(lambda: running(server),
                                            "the converter and its 2 workers",
                                            show=lambda: tree(server.proc.pid))
            victim = rng.choice([committer, *workers])
            killed["committer" if victim == committer else "worker"] += 1
            os.kill(victim, signal.SIGKILL)
            server.wait_for_log(r"converter exited")
        stop.set()
        loader.join(timeout=60)
        client = server.admin()
        days = eventually(lambda: settled(client, len(acked)), "every record converted",
                          timeout=120, show=lambda: client.ledger()["days"])
        stats = client.stats()
    finally:
        stop.set()
        assert server.stop() == 0
    assert killed["committer"] and killed["worker"]
    assert stats["converter"]["restarts"] == KILLS
    assert stats["converter"]["quarantined"] == 0
    assert sum(d["converted"] for d in days) == len(acked)
    outcomes = store_outcomes(data_dir / "store")
    assert outcomes == {doc: ["ok"] for doc in acked}  # each acknowledged record once
    assert not [p for p in (data_dir / "store").rglob("*") if ".tmp" in p.parts and p.is_file()]
