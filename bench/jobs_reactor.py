"""The job pool's file work: what moved off the reactor thread, and what stays on it.

Times, on this machine's temp file system (page cache warm, fsync real), each
piece of file work the job pool and the admin API do:
- moved to the "jobs-io" thread: storing a submission (`JobDir.create` and the
  first state write, with fsyncs), for a plain script and for a bundle at the
  limits (2 MiB packed, 16 MiB unpacked); the pool's start-up scan of `keep`
  (200) old jobs;
- kept on the reactor thread: reading a running job's progress (per job per
  dashboard poll), the reads when a job ends (progress, result, output size),
  opening a starting job's log, a page of output (the default 64 KiB and the
  maximum 1 MiB), and the admin API's scan of the spool for /v1/stats (100
  and 2,000 sealed segments).
3 interleaved rounds of `--calls` calls each; medians (min-max) in microseconds.

Run: `.venv/bin/python -m bench.jobs_reactor [--calls N]`.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from twisted.internet.task import Clock

from appliance.admin.view import NodeView
from appliance.jobs.jobdir import JobDir, read_chunk
from appliance.jobs.pool import JobPool
from appliance.jobs.request import JobRequest
from appliance.mr.bundle import pack
from bench.common import interleaved, save, spread

SCRIPT = "def map(k, d, v, c):\n    c.write(k, 1)\n"
STATE = {"id": "j-1", "name": "t.py", "state": "queued", "submitted_at": 1.0,
         "started_at": None, "finished_at": None, "error": None,
         "options": {"timeout": None}}


def per_call_us(calls: int, f: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for i in range(calls):
        f(i)
    return (time.perf_counter() - started) / calls * 1e6


def bundle_request(tmp: Path) -> JobRequest:
    """A bundle at the limits: 16 MiB unpacked, under 2 MiB packed."""
    folder = tmp / "bundle-src"
    folder.mkdir()
    (folder / "job.py").write_text(SCRIPT)
    line = b"a line of lookup data that compresses well, 0123456789\n"
    (folder / "lookup.txt").write_bytes(line * ((16 << 20) // len(line) - 100))
    return JobRequest(script=SCRIPT, name="job.py",
                      bundle=base64.b64encode(pack(folder)).decode())


def store_case(root: Path, request: JobRequest, calls: int) -> Callable[[], dict]:
    def case() -> dict:
        shutil.rmtree(root, ignore_errors=True)

        def store(i: int) -> None:
            jd = JobDir(root / f"j-{i}")
            jd.create(request)
            jd.write(jd.state, STATE)
        return {"us": per_call_us(calls, store)}
    return case


def finished_job(root: Path, output_bytes: int) -> JobDir:
    jd = JobDir(root)
    (root / "script").mkdir(parents=True)
    (root / "script" / "t.py").write_text(SCRIPT)
    jd.write(jd.request, {"name": "t.py"})
    jd.write(jd.state, {**STATE, "state": "succeeded"})
    jd.write(jd.progress, {"phase": "merge", "records": 7, "partitions": 3})
    jd.write(jd.result, {"state": "succeeded", "summary": {"records": 7}})
    jd.output.write_bytes(b"k\t1\n" * (output_bytes // 4))
    return jd


def reactor_cases(tmp: Path, calls: int) -> dict[str, Callable[[], dict]]:
    jd = finished_job(tmp / "one" / "j-1", 1 << 20)
    old_jobs = tmp / "old"
    for i in range(200):
        finished_job(old_jobs / f"j-{i:03d}", 100)

    def progress(_: int) -> None:
        JobDir.read(jd.progress)

    def job_ended(_: int) -> None:
        JobDir.read(jd.progress), JobDir.read(jd.result), jd.output.stat()

    def open_log(_: int) -> None:
        os.close(os.open(jd.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644))

    def start_scan(_: int) -> None:
        JobPool(Clock(), old_jobs, ["x"]).start()  # no io given: all on this thread

    cases = {
        "progress_read": progress, "job_ended_reads": job_ended, "open_log": open_log,
        "output_page_64k": lambda _: read_chunk(jd.output, 0, 65536),
        "output_page_1m": lambda _: read_chunk(jd.output, 0, 1 << 20),
    }
    out = {name: (lambda f=f: {"us": per_call_us(calls, f)}) for name, f in cases.items()}
    out["pool_start_200_jobs"] = lambda: {"us": per_call_us(max(1, calls // 20), start_scan)}
    for segments in (100, 2000):
        out[f"stats_spool_scan_{segments}"] = spool_scan_case(tmp / f"data-{segments}",
                                                              segments, calls)
    return out


def spool_scan_case(data_dir: Path, segments: int, calls: int) -> Callable[[], dict]:
    """NodeView.spool_backlog, as /v1/stats runs it, over a spool of `segments` sealed files."""
    spool = data_dir / "spool"
    spool.mkdir(parents=True)
    for i in range(segments):
        (spool / f"sealed-{1_700_000_000_000_000_000 + i:020d}-1-abcdef.seg").write_bytes(b"x")
    view = NodeView(SimpleNamespace(data_dir=data_dir, reactor=Clock()), 1)
    return lambda: {"us": per_call_us(max(1, calls // 10), lambda _: view.spool_backlog())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp_name:
        tmp = Path(tmp_name)
        cases = {"store_script": store_case(tmp / "s", JobRequest(script=SCRIPT, name="t.py"),
                                            max(1, args.calls // 10)),
                 "store_bundle_16mib": store_case(tmp / "b", bundle_request(tmp), 3)}
        cases.update(reactor_cases(tmp, args.calls))
        runs = interleaved(cases)
    results = {name: spread([r["us"] for r in rs]) for name, rs in runs.items()}
    for name, s in results.items():
        print(f"{name:24} {s['median']:10.1f} us  ({s['min']:.1f}-{s['max']:.1f})")
    print(save("jobs_reactor", {"calls": args.calls, "microseconds_per_call": results}))


if __name__ == "__main__":
    main()
