"""End to end on one node: receiver -> spool -> converter -> store -> exporter -> SeaweedFS.

Generated 2013-style gzip pings (bench.payloads, ~15 KB each, valid for a spec
the benchmark installs) are POSTed over HTTPS by wrk (unpinned: the node uses
both cores, as it would in production, and the load generator competes with
it). Three measurements, side by side in one run:

1. receiver only: the converter and exporter off; pings/s answered 200.
2. end to end: everything on (the default `[converter] processes`: one per
   core), the same load for the same time; "end-to-end
   pings/s" = pings accepted / time from the first request until every one of
   them is in S3 (record counts from the object keys). Its ratio to (1) is how
   much of what the receiver takes in the node can also process: below 1 the
   spool grows on a busy node.
3. drain: a backlog spooled with the converter off (the same load for
   `--drain-seconds`, 40 by default), then the server restarted with the
   converter (and exporter) on, with 1 and, where the configuration has
   `[converter] processes`, 2 converter processes; the time until the whole
   backlog is in S3, the receiver idle, the server's start included. About
   2.3 s of each drain do not depend on the number of processes (the server's
   start, the last commit's way to S3): the backlog is long enough for them
   not to decide the ratio (40 s of load makes a 2-process drain ~31 s long).

Beside each case's figures it reports CPU seconds per process (receiver and
exporter share the server's process: its main thread is the reactor, the rest
its threads; then the converter committer, each converter worker, SeaweedFS and
wrk), sampled from /proc (bench.proctimes), and CPU milliseconds per ping: on a
shared machine the robust figure. With `--profile DIR` and py-spy installed, each
drain is also profiled (py-spy's raw stacks of the converter committer and its
workers, waiting included, `DIR/drain<N>.txt`); the profiler's CPU slows the drains.

Latency settings of an operator who wants data in S3 soon (the same in every
case): segments sealed after 1 s, store files committed after 2 s, the store
scanned for export every 0.5 s.

Run: `make bench` or `.venv/bin/python -m bench.e2e [--seconds S] [--drain-seconds S]
[--profile DIR]`.
Needs wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance.admin.client import AdminClient
from appliance.config import load_config
from appliance.config.schema import KEYS
from appliance.receiver.tls import ensure_self_signed
from bench.common import save
from bench.ingest import Server, check_answers, free_port, wrk
from bench.payloads import REVISION_HASH, PingGenerator
from bench.proctimes import CpuSampler
from tests.s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

BUCKET = "e2e"
POLL = 0.25


class Node:
    """One appliance server on a fresh data dir, exporting to the benchmark's bucket."""

    def __init__(self, root: Path, s3: SeaweedS3, prefix: str, *, converter: bool,
                 processes: int | None = None):
        self.root = root
        self.prefix = prefix
        cert, key, _ = ensure_self_signed(root.parent / "tls")
        spec_dir = root.parent / "specs"
        if not spec_dir.exists():
            spec_dir.mkdir()
            (spec_dir / f"{REVISION_HASH}.Histograms.json").write_text(
                json.dumps(PingGenerator().spec))
        self.env = {
            "APPLIANCE_SPOOL_MIN_FREE_BYTES": "0", "APPLIANCE_SPOOL_MIN_FREE_PERCENT": "0",
            "APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "1", "APPLIANCE_STORE_MAX_FILE_AGE": "2",
            "APPLIANCE_CONVERTER_IDLE_WAIT": "0.2",
            "APPLIANCE_SERVER_LOG_LEVEL": "warn", "APPLIANCE_ADMIN_LISTEN": "127.0.0.1:0",
            "APPLIANCE_RECEIVER_CERT_FILE": str(cert), "APPLIANCE_RECEIVER_KEY_FILE": str(key),
            "APPLIANCE_HISTOGRAMS_SPEC_DIR": str(spec_dir),
            "APPLIANCE_CONVERTER_ENABLED": "true" if converter else "false",
            "APPLIANCE_EXPORT_ENABLED": "true" if converter else "false",
            "APPLIANCE_EXPORT_BUCKET": BUCKET, "APPLIANCE_EXPORT_PREFIX": prefix,
            "APPLIANCE_EXPORT_ENDPOINT_URL": s3.endpoint,
            "APPLIANCE_EXPORT_ACCESS_KEY_ID": ACCESS_KEY,
            "APPLIANCE_EXPORT_SECRET_ACCESS_KEY": SECRET_KEY,
            "APPLIANCE_EXPORT_INTERVAL": "0.5",
        }
        if processes is not None:  # else the default: one per core
            self.env["APPLIANCE_CONVERTER_PROCESSES"] = str(processes)
        self.port = free_port()
        argv = [sys.executable, "-m", "appliance", "serve", "--data-dir", str(root),
                "--listen", f"127.0.0.1:{self.port}"]
        # Unpinned: the node uses both cores, as in production.
        self.server = Server("appliance", argv, self.port, self.env, ready="listening on",
                             cpus=None)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> Node:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def sampler(self, s3: SeaweedS3) -> CpuSampler:
        """CPU time of this server's processes and of SeaweedFS, from now on."""
        return CpuSampler({self.server.proc.pid: "server", s3.proc.pid: "seaweedfs"}).start()

    def admin(self) -> AdminClient:
        """A client of the running server's admin API (close it)."""
        config = load_config(env={}, overrides={("server", "data_dir"): str(self.root)})
        return AdminClient.from_config(config)

    def accepted(self) -> int:
        """Submissions the running server answered 200 (its spool writer's count)."""
        client = self.admin()
        try:
            return client.stats()["spool"]["records"]
        finally:
            client.close()

    @staticmethod
    def settled(admin: AdminClient, expected: int) -> bool:
        """Whether the server says it converted `expected` records and has nothing left
        to upload (the bucket is the proof: see wait_exported)."""
        stats = admin.stats()
        converter, export = stats["converter"], stats["export"]
        return (converter.get("records", 0) >= expected
                and export.get("backlog_files", 0) == 0 and export.get("in_flight", 0) == 0)



def has_converter_processes() -> bool:
    return any(k.section == "converter" and k.name == "processes" for k in KEYS)


def exported_records(client, prefix: str) -> int:
    """Records in every store file under `prefix`, from the keys' record counts."""
    total = 0
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            parts = obj["Key"].rsplit("/", 1)[-1].split(".")
            if len(parts) >= 5 and parts[-1] == "zst":
                total += int(parts[-2])
    return total


def wait_exported(node: Node, s3: SeaweedS3, expected: int, limit: float) -> None:
    """Return once `expected` records are in S3 under the node's prefix.

    The node's admin API is polled (cheap) until it has converted them all and its
    exporter holds nothing; only then is the bucket listed, the proof. Listing the
    bucket at every poll (with a new boto3 client: ~0.1 CPU s each) took a third of a
    core from the node being measured.
    """
    client = s3.client()
    admin = node.admin()
    started = time.monotonic()
    try:
        while time.monotonic() - started < limit:
            if node.settled(admin, expected) and exported_records(client,
                                                                  node.prefix) >= expected:
                return
            time.sleep(POLL)
        raise RuntimeError(f"only {exported_records(client, node.prefix)} of {expected} "
                           f"records reached S3 under {node.prefix} in {limit:.0f} s")
    finally:
        admin.close()


def profiler(sampler: CpuSampler, out: Path | None) -> subprocess.Popen | None:
    """py-spy recording the converter committer and its workers, waiting threads included
    (raw stacks into `out`), if asked."""
    if out is None:
        return None
    deadline = time.monotonic() + 60
    while not sampler.pids("converter committer"):
        if time.monotonic() > deadline:
            raise RuntimeError("no converter process to profile")
        time.sleep(POLL)
    return subprocess.Popen([py_spy(), "record", "--pid",
                             str(sampler.pids("converter committer")[0]), "--subprocesses",
                             "--idle", "--rate", "50", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy() -> str | None:
    """py-spy next to this Python (the venv's bin/), else on PATH."""
    return shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def stop_profiler(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        proc.wait()


def load(node: Node, body: Path, seconds: int) -> dict:
    """wrk's figures, and what the server counted as accepted (wrk's count leaves out
    requests whose answer had not arrived when it stopped)."""
    row = wrk(node.url, body, True, seconds)
    row["accepted"] = node.accepted()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="load duration")
    parser.add_argument("--drain-seconds", type=int, default=40,
                        help="how long the load that spools each drain's backlog runs")
    parser.add_argument("--limit", type=float, default=900,
                        help="longest wait for a backlog to reach S3")
    parser.add_argument("--profile", type=Path, help="profile the drains (py-spy) into DIR")
    parser.add_argument("--no-drains", action="store_true",
                        help="only the receiver-only and end-to-end cases")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench.e2e needs wrk: apt-get install wrk")
    if args.profile is not None:
        if not py_spy():
            sys.exit("--profile needs py-spy: pip install py-spy")
        args.profile.mkdir(parents=True, exist_ok=True)
    gen = PingGenerator(seed=11)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        body = tmp / "ping.gz"
        body.write_bytes(gen.gzip_bytes(1))
        body_bytes = body.stat().st_size
        s3 = SeaweedS3(tmp / "s3", volume_size_limit_mb=1024).start()
        try:
            s3.create_bucket(BUCKET)
            results = run_cases(tmp, s3, body, args)
        finally:
            s3.stop()
    report(results, body_bytes)
    report_cpu(results)
    saved = save("e2e", {"seconds": args.seconds, "drain_seconds": args.drain_seconds,
                         **results})
    print(f"results: {saved}")


def run_cases(tmp: Path, s3: SeaweedS3, body: Path, args) -> dict:
    results: dict = {}
    # 1. receiver only
    node = Node(tmp / "receiver", s3, "receiver", converter=False).start()
    try:
        check_answers(node.url, body)
        sampler = node.sampler(s3)
        results["receiver"] = load(node, body, args.seconds)
        results["receiver"]["cpu"] = sampler.stop()
    finally:
        node.stop()
    # 2. end to end, with the default number of converter processes
    node = Node(tmp / "e2e", s3, "e2e", converter=True).start()
    try:
        sampler = node.sampler(s3)
        started = time.monotonic()
        row = load(node, body, args.seconds)
        wait_exported(node, s3, row["accepted"], args.limit)
        row["seconds_to_s3"] = time.monotonic() - started
        row["cpu"] = sampler.stop()
        row["e2e_pings_per_second"] = row["accepted"] / row["seconds_to_s3"]
        results["e2e"] = row
    finally:
        node.stop()
    # 3. drain a backlog with 1 and 2 converter processes
    counts = () if args.no_drains else (1, 2) if has_converter_processes() else (1,)
    results["drain"] = {}
    for processes in counts:
        name = f"drain{processes}"
        spooling = Node(tmp / name, s3, name, converter=False).start()
        try:
            backlog = load(spooling, body, args.drain_seconds)["accepted"]
        finally:
            spooling.stop()
        draining = Node(tmp / name, s3, name, converter=True, processes=processes)
        started = time.monotonic()
        draining.start()
        sampler = draining.sampler(s3)
        spy = profiler(sampler, args.profile / f"drain{processes}.txt" if args.profile else None)
        try:
            wait_exported(draining, s3, backlog, args.limit)
            seconds = time.monotonic() - started  # the server's start included
        finally:
            stop_profiler(spy)
            cpu = sampler.stop()
            draining.stop()
        results["drain"][processes] = {"backlog": backlog, "seconds": seconds,
                                       "pings_per_second": backlog / seconds, "cpu": cpu}
    return results


def report(results: dict, body_bytes: int) -> None:
    recv, e2e = results["receiver"], results["e2e"]
    print(f"\nEnd to end, HTTPS gzip pings of {body_bytes} bytes, wrk 64 connections")
    print(f"{'case':34} {'pings':>8} {'seconds':>9} {'pings/s':>9}")
    print(f"{'receiver only (converter off)':34} {recv['accepted']:>8} "
          f"{recv['requests'] / recv['rps']:>9.1f} {recv['rps']:>9.0f}")
    print(f"{'end to end (accepted -> in S3)':34} {e2e['accepted']:>8} "
          f"{e2e['seconds_to_s3']:>9.1f} {e2e['e2e_pings_per_second']:>9.0f}")
    for processes, row in results["drain"].items():
        print(f"{f'drain, {processes} converter process(es)':34} {row['backlog']:>8} "
              f"{row['seconds']:>9.1f} {row['pings_per_second']:>9.0f}")
    ratios = [f"end-to-end/receiver {e2e['e2e_pings_per_second'] / recv['rps']:.2f} "
              f"(target >= 0.4)"]
    drain = results["drain"]
    if 2 in drain:
        speedup = drain[2]["pings_per_second"] / drain[1]["pings_per_second"]
        ratios.append(f"drain 2 procs/1 proc {speedup:.2f} (target >= 1.6)")
    print("ratios (same run): " + ", ".join(ratios))


def report_cpu(results: dict) -> None:
    """CPU seconds per process role in each case, and CPU ms per ping."""
    cases = {"receiver only": (results["receiver"]["cpu"], results["receiver"]["accepted"]),
             "end to end": (results["e2e"]["cpu"], results["e2e"]["accepted"])}
    for processes, row in results["drain"].items():
        cases[f"drain {processes}"] = (row["cpu"], row["backlog"])
    roles = sorted({role for cpu, _ in cases.values() for role in cpu})
    print(f"\nCPU seconds (CPU ms per ping)\n{'process':26}"
          + "".join(f"{name:>18}" for name in cases))
    for role in [*roles, "total"]:
        cells = []
        for cpu, pings in cases.values():
            seconds = sum(cpu.values()) if role == "total" else cpu.get(role)
            cells.append("-" if seconds is None else
                         f"{seconds:.1f} ({1000 * seconds / pings:.2f})")
        print(f"{role:26}" + "".join(f"{cell:>18}" for cell in cells))


if __name__ == "__main__":
    main()
