"""An AdminClient stand-in with fixed, mutable data: the TUI tests drive the dashboard with it.

Every method has the real client's signature and returns the same shapes (see
/v1/* in docs). `down = True` makes every call raise AdminUnavailable, as when the
server has gone away; `calls` records what the dashboard asked for.
"""

from __future__ import annotations

import copy
import threading

from appliance.admin.client import AdminError, AdminUnavailable
from appliance.admin.nodestats import NodeStats

T0 = 1_700_000_000.0  # fixed epoch: no clock in the data, so snapshots are stable


def stats_snapshot(uptime: float = 7_385.0, requests: int = 12_345) -> NodeStats:
    """A /v1/stats answer for a healthy node with some of everything (its shape is checked
    against NodeStats by tests/unit/test_stats_shape.py)."""
    return {
        "version": "0.1.0", "node_id": "node-a1", "node_label": "", "node_registry": None,
        "time": T0, "uptime_seconds": uptime,
        "health": {"ok": True, "problems": []},
        "ingest": {
            "requests_by_status": {"200": requests - 66, "400": 41, "413": 3, "507": 22},
            "requests_by_form": {"v4": requests},
            "bytes_received": requests * 10_500,
            "latency_seconds": {"count": requests, "total_seconds": 40.0,
                                "p50": 0.0018, "p99": 0.0231},
            "open_connections": 7,
        },
        "spool": {"records": requests - 66, "bytes": 129_000_000, "batches": 900,
                  "segments_sealed": 12, "reappends": 0, "errors": {},
                  "fsync_seconds": {"count": 900, "total_seconds": 2.7,
                                    "p50": 0.002, "p99": 0.011},
                  "size_bytes": 48_000_000, "sealed_segments": 2,
                  "oldest_sealed_age_seconds": 12.0},
        "converter": {"records": 12_100, "converted": 12_050, "invalid": 50,
                      "invalid_by_reason": {"unknown_revision": 38, "bad_json": 12},
                      "commits": 40, "files": 95, "idle": False, "running": True,
                      "restarts": 0},
        "export": {"enabled": True, "bucket": "telemetry", "backlog_files": 4,
                   "backlog_bytes": 3_400_000, "lag_seconds": 75.0, "in_flight": 1,
                   "uploaded_files": 91, "uploaded_bytes": 88_000_000,
                   "throughput_bytes_per_second": 250_000.0, "errors": {},
                   "last_error": None, "problem": None},
        "disk": {"free_bytes": 61_000_000_000, "total_bytes": 100_000_000_000,
                 "watermark_bytes": 5_000_000_000, "low": None},
        "log": {"dropped_lines": 0, "failing": None},
        "store": {"files": 95, "bytes": 91_400_000, "records": 180_000},
        "jobs": {"enabled": True, "queued": 1, "running": 1, "succeeded": 3, "failed": 1,
                 "cancelled": 0},
        "rates": {"requests_per_s": 42.0, "bytes_per_s": 441_000.0},
    }


def history_samples(n: int = 120) -> dict:
    """/v1/history with a ramp, so sparklines have a deterministic shape."""
    samples, requests, nbytes, converted = [], 0, 0, 0
    for i in range(n):
        rate = 20 + (i % 30)
        requests += rate
        nbytes += rate * 10_500
        converted += max(0, rate - 5)
        samples.append({"t": T0 + i, "requests": requests, "requests_ok": requests,
                        "bytes": nbytes, "p50": 0.002, "p99": 0.02,
                        "spool_bytes": 48_000_000, "disk_free_bytes": 61_000_000_000,
                        "converted": converted, "invalid": 0, "export_backlog_files": 4,
                        "export_backlog_bytes": 3_400_000, "exported_files": 91})
    return {"interval_seconds": 1, "samples": samples}


def job(job_id: str, name: str, state: str, *, done: int = 0, total: int = 0,
        output_bytes: int | None = None, submitted: float = T0) -> dict:
    """A job dict as /v1/jobs returns it."""
    finished = state in ("succeeded", "failed", "cancelled", "timed_out")
    return {
        "id": job_id, "name": name, "state": state, "submitted_at": submitted,
        "started_at": None if state == "queued" else submitted + 1,
        "finished_at": submitted + 30 if finished else None,
        "options": {"name": name, "filter": None, "mappers": 2, "reducers": 1,
                    "inputs": "all", "dedupe": False, "max_errors": 0, "timeout": None},
        "progress": {"phase": "done" if finished else ("map" if state == "running" else "queued"),
                     "files_done": done, "files_total": total, "records": done * 100,
                     "bytes": done * 1000, "bytes_total": total * 1000},
        "summary": None, "error": "script raised ZeroDivisionError" if state == "failed" else None,
        "output_bytes": output_bytes, "warning": None,
    }


OS_OUTPUT = "Darwin\t9\nLinux\t9\nWINNT\t8\n"


def debug_ping(n: int, debug_id: str) -> dict:
    """A /v1/debug/pings entry: a Glean metrics ping sent with a debug id."""
    stamp = f"2023-11-14T22:1{n}:20.000000Z"
    meta = {"submission_timestamp": stamp, "document_namespace": "org-example-app",
            "document_type": "metrics", "document_version": "1", "document_id": f"doc-{n}",
            "header": {"x_debug_id": debug_id, "x_telemetry_agent": "Glean/71.0.0",
                       "date": "Tue, 14 Nov 2023 22:13:20 GMT"}}
    return {"submission_timestamp": stamp, "debug_id": debug_id,
            "namespace": "org-example-app", "doc_type": "metrics", "doc_id": f"doc-{n}",
            "document": {"metadata": meta, "client_info": {"app_channel": "nightly"},
                         "metrics": {"counter": {"app.clicks": n}}}}


class FakeClient:
    """The AdminClient methods over in-memory data; thread-safe like the real one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down = False
        self.calls: list[str] = []
        self.stats_data = stats_snapshot()
        self.history_data = history_samples()
        self.jobs_data = [
            job("j-0005", "count_by_os.py", "running", done=3, total=8, submitted=T0 + 500),
            job("j-0004", "extract.py", "queued", submitted=T0 + 400),
            job("j-0003", "histogram.py", "failed", done=2, total=8, submitted=T0 + 300),
            job("j-0002", "count.py", "succeeded", done=8, total=8, output_bytes=9,
                submitted=T0 + 200),
            job("j-0001", "count_by_os.py", "succeeded", done=8, total=8,
                output_bytes=len(OS_OUTPUT), submitted=T0 + 100),
        ]
        self.outputs = {"j-0001": OS_OUTPUT, "j-0002": "total\t26\n"}
        self.logs_text = {"j-0001": "listing 8 files\nmap 8/8 files\nreduce done\n"}
        self.submitted: list[dict] = []
        self.reject_with: str | None = None  # the next submit_job fails with this 400
        self.partitions_data = {
            "local": [
                {"key": "telemetry/saved-session/Firefox/release/23.0/20130814063812/20131120",
                 "files": 2, "records": 1200, "bytes": 2_400_000},
                {"key": "telemetry/saved-session/Firefox/nightly/26.0a1/20130915030208/20131120",
                 "files": 1, "records": 300, "bytes": 610_000},
            ],
            "exported": [
                {"key": "telemetry/saved-session/Firefox/release/23.0/20130814063812/20131119",
                 "files": 5, "records": 9000, "bytes": 17_800_000},
            ],
        }
        self.ledger_data = {"days": [
            {"date": "20131120", "accepted": 1520, "converted": 1500, "invalid": {"bad_json": 12},
             "exported": 0, "pending_conversion": 8, "pending_export": 1512,
             "reconciled": True, "problem": None},
            {"date": "20131119", "accepted": 9040, "converted": 9000,
             "invalid": {"unknown_revision": 38}, "exported": 9030, "pending_conversion": 0,
             "pending_export": 0, "reconciled": False,
             "problem": "converted + invalid (9038) != exported + pending export (9030)"},
        ]}
        self.events = [
            {"time": T0 + i, "level": level, "namespace": ns, "text": text}
            for i, (level, ns, text) in enumerate([
                ("info", "appliance.server", "listening on https://127.0.0.1:8443"),
                ("info", "appliance.convert.service", "converter: 50 converted, 0 invalid"),
                ("warn", "appliance.export.exporter", "export: k1 failed (503); retrying in 1.0s"),
                ("error", "appliance.spool.writer", "fsync failed: EIO"),
                ("info", "appliance.export.exporter", "export: 3 files uploaded"),
            ])]

        self.debug_data = [debug_ping(i, f"session-{i % 2}") for i in range(3, 0, -1)]

    def _call(self, name: str):
        with self.lock:
            self.calls.append(name)
            if self.down:
                raise AdminUnavailable("connection refused")

    # -- the AdminClient interface --------------------------------------------------------------

    def stats(self) -> NodeStats:
        self._call("stats")
        return copy.deepcopy(self.stats_data)

    def history(self) -> dict:
        self._call("history")
        return copy.deepcopy(self.history_data)

    def ledger(self) -> dict:
        self._call("ledger")
        return copy.deepcopy(self.ledger_data)

    def partitions(self) -> dict:
        self._call("partitions")
        return copy.deepcopy(self.partitions_data)

    def logs(self, level: str = "info", limit: int = 200) -> list[dict]:
        self._call("logs")
        order = ["debug", "info", "warn", "error", "critical"]
        return [dict(e) for e in self.events
                if order.index(e["level"]) >= order.index(level)][-limit:]

    def debug_pings(self, debug_id: str | None = None, limit: int = 50) -> list[dict]:
        self._call("debug_pings")
        return [copy.deepcopy(p) for p in self.debug_data
                if debug_id is None or p["debug_id"] == debug_id][:limit]

    def jobs(self) -> list[dict]:
        self._call("jobs")
        return copy.deepcopy(self.jobs_data)

    def job(self, job_id: str) -> dict:
        self._call("job")
        return copy.deepcopy(self._find(job_id))

    def submit_job(self, request: dict) -> dict:
        self._call("submit_job")
        if self.reject_with is not None:
            message, self.reject_with = self.reject_with, None
            raise AdminError(400, message)
        self.submitted.append(request)
        new = job(f"j-{len(self.jobs_data) + 1:04d}", request.get("name", "job.py"), "queued",
                  submitted=T0 + 1000)
        new["options"] = {k: v for k, v in request.items() if k != "script"}
        self.jobs_data.insert(0, new)
        return copy.deepcopy(new)

    def cancel_job(self, job_id: str) -> dict:
        self._call("cancel_job")
        found = self._find(job_id)
        if found["state"] in ("queued", "running"):
            found["state"] = "cancelled"
            found["finished_at"] = found["submitted_at"] + 30
        return copy.deepcopy(found)

    def job_output(self, job_id: str, offset: int = 0, limit: int = 65536) -> dict:
        self._call("job_output")
        self._find(job_id)
        if job_id not in self.outputs:
            raise AdminError(409, "job has no output yet")
        return self._chunk(self.outputs[job_id], offset, limit)

    def job_log(self, job_id: str, offset: int = 0, limit: int = 65536) -> dict:
        self._call("job_log")
        self._find(job_id)
        return self._chunk(self.logs_text.get(job_id, ""), offset, limit)

    def metrics(self) -> str:
        self._call("metrics")
        return "appliance_requests_total 12345\n"

    # -- helpers for tests ---------------------------------------------------------------------

    def finish(self, job_id: str, output: str, header_lines: int = 0) -> None:
        """Make a job succeed with `output` (its first `header_lines` written by
        setup_reduce), as the pool would."""
        found = self._find(job_id)
        found.update(state="succeeded", finished_at=found["submitted_at"] + 30,
                     output_bytes=len(output.encode()),
                     summary={"records": 42, "header_lines": header_lines})
        found["progress"].update(phase="done", files_done=8, files_total=8)
        self.outputs[job_id] = output

    def _find(self, job_id: str) -> dict:
        for j in self.jobs_data:
            if j["id"] == job_id:
                return j
        raise AdminError(404, f"no job {job_id}")

    @staticmethod
    def _chunk(text: str, offset: int, limit: int) -> dict:
        data = text.encode()
        piece = data[offset:offset + limit]
        return {"offset": offset, "next_offset": offset + len(piece), "size": len(data),
                "eof": offset + len(piece) >= len(data), "text": piece.decode()}


def busy_client() -> FakeClient:
    """A node after a long day: many jobs with long names in every state, a long node
    label, and ledger days that do not reconcile, one of them not yet confirmed."""
    fake = FakeClient()
    fake.stats_data["node_label"] = "telemetry-ingest-eu-west-1-production-primary"
    states = ("running", "queued", "succeeded", "failed", "cancelled", "timed_out")
    fake.jobs_data = [
        job(f"j-{n:04d}", f"weekly_crash_rate_by_build_and_channel_{n:02d}_with_dedupe.py",
            states[n % len(states)], done=n % 9, total=8, submitted=T0 + 100 * n)
        for n in range(40, 0, -1)]
    fake.ledger_data["days"].append(
        {"date": "20131118", "accepted": 120_400, "converted": 120_000,
         "invalid": {"unknown_revision": 380}, "exported": 119_990, "pending_conversion": 0,
         "pending_export": 0, "reconciled": False, "confirmed": False,
         "problem": "converted + invalid (120380) != exported + pending export (119990)"})
    return fake
