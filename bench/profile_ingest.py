"""Where the receiver's time goes: py-spy on `appliance serve` under the ingest load.

Starts the appliance as `bench.ingest` does (fsync on, converter off, pinned
to one core), loads it with wrk (64 connections, realistic gzip pings, HTTPS
unless --http), records it with py-spy (`py-spy record --format raw`, 200 Hz)
in the middle of the run, and prints the time per request by stage
(microseconds of sampled thread time per request) and the top functions.

Needs wrk and py-spy (`pip install py-spy`; root or ptrace permission).
Run: `.venv/bin/python -m bench.profile_ingest [--http] [--seconds S] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench.ingest import servers, wrk
from bench.payloads import PingGenerator

# Stage name -> substrings of a stack that put a sample in it (first match wins).
STAGES = (
    ("writer: writev (GIL released)", ("SegmentAppender._write",)),
    ("writer: frame encoding", ("frame.py",)),
    ("writer: fdatasync, locking, rotation", ("SegmentAppender",)),
    ("writer: queue and wake-ups", ("Thread._bootstrap",)),
    ("reactor: routing, checks, submit", ("SubmissionHandler", "SpoolWriter.submit")),
    ("reactor: HTTP parsing and answering", ("ReceiverProtocol",)),
    ("reactor: TLS (pyOpenSSL)", ("TLSMemoryBIOProtocol", "OpenSSL/SSL.py")),
    ("reactor: spool results back", ("SpoolWriter._deliver", "Deferred")),
    ("reactor: event loop, sockets, other", ("",)),
)


def _stage(stack: str) -> str:
    for name, marks in STAGES:
        if any(mark in stack for mark in marks):
            return name
    return STAGES[-1][0]


def summarise(raw: Path, requests: int, top: int = 15) -> None:
    """Print sampled microseconds per request by stage, and the top functions by self time."""
    stages: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        stages[_stage(stack)] += int(count)
        leaf = stack.rsplit(";", 1)[-1]
        leaves[re.sub(r"\(.*/(site-packages|appliance)/", "(", leaf)] += int(count)
    us = 1e6 / 200 / max(1, requests)  # one sample is 5 ms of one thread's time
    print(f"\nsampled thread time per request (us), {requests} requests in the window:")
    for name, _ in STAGES:
        print(f"  {stages[name] * us:7.1f}  {name}")
    print(f"\ntop {top} functions by self time (us per request):")
    for name, count in leaves.most_common(top):
        print(f"  {count * us:7.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    parser.add_argument("--out", type=Path, help="keep the raw py-spy profile here")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not shutil.which("wrk") or not Path(spy).exists():
        sys.exit("bench.profile_ingest needs wrk (apt-get install wrk) and py-spy "
                 "(pip install py-spy)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        body = tmp / "ping.gz"
        body.write_bytes(PingGenerator(seed=7).gzip_bytes(1))
        server = servers(tmp, tls=not args.http)["appliance fsync"].start()
        raw = args.out or tmp / "profile.raw"
        window = max(2, args.seconds - 4)
        recorder = threading.Timer(2.0, subprocess.run, args=([
            spy, "record", "-p", str(server.proc.pid), "-d", str(window), "-r", "200",
            "-f", "raw", "-o", str(raw), "--nonblocking"],),
            kwargs={"capture_output": True})
        try:
            recorder.start()
            scheme = "http" if args.http else "https"
            row = wrk(f"{scheme}://127.0.0.1:{server.port}", body, True, args.seconds)
            recorder.join()
        finally:
            server.stop()
        print(f"{scheme.upper()}, gzip ping: {row['rps']:.0f} req/s, p50 {row['p50_ms']:.1f} ms, "
              f"p99 {row['p99_ms']:.1f} ms")
        summarise(raw, int(row["rps"] * window))


if __name__ == "__main__":
    main()
