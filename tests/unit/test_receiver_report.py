"""A receiver child's counters travel to the parent once and add up there."""

from __future__ import annotations

import json

from appliance.receiver.report import MAX_SAMPLES, AckedRecords, apply, take
from appliance.spool.record import SpoolRecord
from appliance.stats import Stats


def child_stats() -> tuple[Stats, AckedRecords]:
    stats = Stats(lambda: 0.0)
    stats.requests_by_status[200] += 3
    stats.requests_by_status[413] += 1
    stats.requests_by_form["telemetry"] += 3
    stats.bytes_received = 300
    stats.open_connections = 5
    stats.spool_records, stats.spool_bytes, stats.spool_batches = 3, 450, 2
    stats.spool_errors["ENOSPC"] += 1
    for value in (0.001, 0.002, 0.003):
        stats.request_latency.add(value)
    stats.fsync_latency.add(0.0005)
    acked = AckedRecords()
    acked([SpoolRecord(b"\x01" * 16, 1_700_000_000 * 10**9, "/submit/x", b"{}")])
    return stats, acked


def test_a_report_is_taken_once_and_added_to_the_parent():
    stats, acked = child_stats()
    report = json.loads(take(stats, acked))
    again = json.loads(take(stats, acked))
    assert again["status"] == {} and again["spool_records"] == 0 and again["acked"] == []
    assert again["latency"]["count"] == 0
    assert again["open_connections"] == 5  # a gauge, not a count

    parent = Stats(lambda: 0.0)
    parent.requests_by_status[200] += 10
    got = []
    apply(parent, report, got.extend)
    apply(parent, again, got.extend)
    assert parent.requests_by_status == {200: 13, 413: 1}
    assert parent.requests_by_form == {"telemetry": 3}
    assert (parent.bytes_received, parent.spool_records, parent.spool_bytes,
            parent.spool_batches) == (300, 3, 450, 2)
    assert parent.spool_errors == {"ENOSPC": 1}
    assert parent.request_latency.count == 3
    assert parent.request_latency.percentile(50) == 0.002
    assert parent.fsync_latency.count == 1
    assert [(r.record_id, r.received_ns) for r in got] == [(b"\x01" * 16,
                                                            1_700_000_000 * 10**9)]


def test_many_latencies_travel_as_a_sample_with_exact_count_and_total():
    stats, acked = child_stats()
    for _ in range(3 * MAX_SAMPLES):
        stats.request_latency.add(0.01)
    report = json.loads(take(stats, acked))
    assert len(report["latency"]["values"]) == MAX_SAMPLES
    parent = Stats(lambda: 0.0)
    apply(parent, report)
    assert parent.request_latency.count == 3 * MAX_SAMPLES + 3
    assert abs(parent.request_latency.total - (0.006 + 3 * MAX_SAMPLES * 0.01)) < 1e-9


def test_a_report_carries_the_spools_failing_state_now():
    stats, acked = Stats(lambda: 0.0), AckedRecords()
    assert json.loads(take(stats, acked))["failing"] is None
    assert json.loads(take(stats, acked, "spool: [Errno 28] full"))["failing"] == \
        "spool: [Errno 28] full"
