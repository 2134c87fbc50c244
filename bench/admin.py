"""Admin API: server CPU spent serving a dashboard's polling, beside the idle server.

A real `appliance serve` (HTTP, converter on, no export) runs on loopback. In
each window of `--seconds` the server process's CPU time (utime + stime from
/proc, the main process only: the converter child is not the admin API's cost)
is measured with 0, 1 and 5 clients, each polling GET /v1/stats and
GET /v1/history once a second the way the dashboard does (its own keep-alive
connection, `appliance.admin.client.AdminClient`). 3 interleaved rounds,
medians with min-max; the difference from idle divided by the polls is the
CPU per poll. The history grows by one sample a second (up to 900), so the
in-process part renders /v1/history with a full 900-sample history
(DummyRequest, no sockets) to give the worst case per call.
Target: 5 clients cost < 5% of one core.

Run: `make bench` or `.venv/bin/python -m bench.admin [--seconds N]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from bench.common import interleaved, save, spread
from tests.integration.serverproc import ServerProcess

CLIENTS = (0, 1, 5)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def poll(server: ServerProcess, stop: threading.Event, counts: list[int]) -> None:
    """One dashboard: stats and history every second until `stop`."""
    client = server.admin()
    next_at = time.monotonic()
    while not stop.is_set():
        client.stats()
        client.history()
        counts.append(1)
        next_at += 1.0
        stop.wait(max(0.0, next_at - time.monotonic()))
    client.close()


def window(server: ServerProcess, clients: int, seconds: float) -> dict:
    stop, counts = threading.Event(), []
    threads = [threading.Thread(target=poll, args=(server, stop, counts))
               for _ in range(clients)]
    before, started = cpu_seconds(server.proc.pid), time.monotonic()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(server.proc.pid) - before
    return {"cpu_percent": 100 * cpu / elapsed, "cpu_seconds": cpu, "polls": len(counts),
            "history_samples": len(server.admin().history()["samples"])}


def history_render_ms(tmp: Path, samples: int = 900, calls: int = 200) -> float:
    """CPU ms to answer GET /v1/history with a full history, in process."""
    from tests.unit.admin_fakes import Api, FakeServer

    api = Api(FakeServer(tmp))
    api.view.history.samples = type(api.view.history.samples)(maxlen=samples)
    for _ in range(samples):
        api.view.history.take()
    assert len(api.call("GET", "/v1/history").json()["samples"]) == samples
    started = time.process_time()
    for _ in range(calls):
        api.call("GET", "/v1/history")
    return (time.process_time() - started) * 1000 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-admin-"))
    server = ServerProcess(tmp / "data", args=["--http"]).start()
    try:
        server.admin().stats()  # the admin API is up
        cases = {f"{n} client{'s' if n != 1 else ''}": (lambda n=n: window(server, n,
                                                                             args.seconds))
                 for n in CLIENTS}
        results = interleaved(cases)
    finally:
        server.stop()
    render_ms = history_render_ms(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    table = {name: {k: spread([r[k] for r in runs]) for k in ("cpu_percent", "polls")}
             for name, runs in results.items()}
    idle = table["0 clients"]["cpu_percent"]["median"]
    print(f"server CPU (main process) over {args.seconds:.0f} s windows; medians of 3 "
          f"interleaved rounds (min-max); each poll = GET /v1/stats + GET /v1/history")
    print(f"{'case':12} {'CPU % of a core':>24} {'polls':>8} {'extra CPU per poll':>20}")
    per_poll = {}
    for name, row in table.items():
        cpu = row["cpu_percent"]
        polls = row["polls"]["median"]
        extra = (cpu["median"] - idle) / 100 * args.seconds / polls * 1000 if polls else None
        per_poll[name] = extra
        shown = f"{extra:.2f} ms" if extra is not None else "-"
        print(f"{name:12} {cpu['median']:>10.2f} ({cpu['min']:.2f}-{cpu['max']:.2f}) "
              f"{polls:>8.0f} {shown:>20}")
    samples = max(r["history_samples"] for runs in results.values() for r in runs)
    print(f"history had up to {samples} samples; /v1/history with 900 samples, in process: "
          f"{render_ms:.2f} ms CPU per call")
    five = table["5 clients"]["cpu_percent"]["median"] - idle
    print(f"5 clients cost {five:.2f}% of a core over idle (target < 5%: "
          f"{'met' if five < 5 else 'not met'})")
    path = save("admin", {"seconds": args.seconds, "table": table, "extra_ms_per_poll": per_poll,
                          "history_render_ms_900": render_ms, "history_samples": samples,
                          "five_clients_over_idle_percent": five, "target_met": five < 5})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
