"""No record can stop the converter (issue 13): hostile records through a running server end
converted or in invalid/ with a reason, the ledger balances, and a good ping sent after them
is in the store."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest

from appliance.convert.crashguard import CRASH_MARKER_ENV
from appliance.storage.keys import holds_records
from tests import pings
from tests.integration.serverproc import ServerProcess, eventually, post
from tests.stores import read_zst

FAST = {"APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "0.2", "APPLIANCE_STORE_MAX_FILE_AGE": "0.3",
        "APPLIANCE_CONVERTER_IDLE_WAIT": "0.05", "APPLIANCE_ADMIN_LEDGER_INTERVAL": "0.2"}


def nested(depth: int) -> bytes:
    return b'{"x":' + b"[" * depth + b"]" * depth + b"}"


def with_histograms(histograms) -> bytes:
    ping = pings.ping(1)
    ping["histograms"] = histograms
    return json.dumps(ping).encode()


def with_safe_mode(hist) -> bytes:
    return with_histograms({"SAFE_MODE": hist})


def ping_with(**changes) -> bytes:
    ping = copy.deepcopy(pings.ping(2))
    ping.update(changes)
    return json.dumps(ping).encode()


GOOD = json.dumps(pings.ping(5)).encode()

# Bodies sent in both URL forms: name -> body.
DOCUMENTS = {
    "deep-for-orjson-dumps": nested(300),
    "deep-for-orjson-loads": nested(1100),
    "deep-for-json-with-a-long-number": b'{"n":1234567890123456789,"x":'
                                        + b"[" * 1000 + b"]" * 1000 + b"}",
    "deep-past-everything": b"[" * 200_000 + b"]" * 200_000,
    "int-2-64": b'{"ver":2,"n":18446744073709551616}',
    "int-below-i64": b'{"ver":2,"n":-9223372036854775809}',
    "int-400-digits": b'{"ver":2,"n":' + b"9" * 400 + b"}",
    "float-1e400": b'{"ver":2,"f":1e400}',
    "minus-zero": b'{"ver":2,"z":-0,"w":-0.0}',
    "nan-text": b'{"ver":2,"f":NaN}',
    "infinity-text": b'{"ver":2,"f":Infinity}',
    "utf16": '{"ver":2,"s":"é"}'.encode("utf-16"),
    "invalid-utf8": b'{"ver":2,"s":"\xff\xfe\xc0"}',
    "bom": b"\xef\xbb\xbf" + GOOD,
    "lone-surrogate-escape": b'{"ver":2,"s":"\\ud800"}',
    "lone-surrogate-bytes": b'{"ver":2,"s":"\xed\xa0\x80"}',
    "empty": b"",
    "not-an-object": b"[1,2,3]",
    "gzip-multi-member": gzip.compress(GOOD[:50]) + gzip.compress(GOOD[50:]),
    # ending in the member's own trailer, so the receiver's ISIZE check passes
    "gzip-trailing-garbage": gzip.compress(GOOD) + b"trailing" + gzip.compress(GOOD)[-8:],
    "gzip-multi-member-bomb": gzip.compress(b" " * (9 << 20)) + gzip.compress(b" " * (2 << 20))
                              + gzip.compress(GOOD),
    "gzip-inside-gzip": gzip.compress(gzip.compress(GOOD)),
}

# Ver 1 pings with histograms of every wrong shape: invalid in the two 2013 forms; the generic
# form stores documents as they are.
HISTOGRAM_SHAPES = {
    "histograms-list": with_histograms([1, 2]),
    "histograms-string": with_histograms("SAFE_MODE"),
    "histograms-null": with_histograms(None),
    "histogram-list": with_safe_mode([1, 0]),
    "histogram-string": with_safe_mode("x"),
    "histogram-null": with_safe_mode(None),
    "values-list": with_safe_mode({"values": [1, 0]}),
    "values-string": with_safe_mode({"values": "0:1"}),
    "bucket-key-text": with_safe_mode({"values": {"zero": 1}}),
    "bucket-key-float": with_safe_mode({"values": {"0.5": 1}}),
    "bucket-key-huge": with_safe_mode({"values": {"9" * 40: 1}}),
    "count-negative": with_safe_mode({"values": {"0": -1}}),
    "count-float": with_safe_mode({"values": {"0": 1.5}}),
    "count-bool": with_safe_mode({"values": {"0": True}}),
    "count-huge": with_safe_mode({"values": {"0": 2**70}}),
    "count-u64": with_safe_mode({"values": {"0": 2**64 - 1}}),
    "statistic-string": with_safe_mode({"values": {"0": 1}, "sum": "12"}),
    "statistic-object": with_safe_mode({"values": {"0": 1}, "log_sum": {}}),
    "unknown-histogram-deep": with_histograms({"INVENTED": {"values": json.loads(
        nested(200))}}),
    "ver-string": ping_with(ver="1"),
    "info-list": ping_with(info=[1]),
    "revision-number": ping_with(info=dict(pings.ping(2)["info"], revision=12)),
    "unknown-revision": ping_with(info=dict(pings.ping(2)["info"],
                                            revision="http://hg.mozilla.org/x/rev/ffffffffffff")),
}


def corpus() -> list[tuple[str, str, bytes]]:
    """(docId, path, body) of every poison record in both URL forms, then the good ping."""
    out = []
    for name, body in DOCUMENTS.items():
        out.append((f"t-{name}", f"/submit/telemetry/t-{name}/{pings.DIMS}", body))
        out.append((f"g-{name}", f"/submit/poison/test/1/g-{name}", body))
    for name, body in HISTOGRAM_SHAPES.items():
        out.append((f"t-{name}", f"/submit/telemetry/t-{name}/{pings.DIMS}", body))
        out.append((f"u-{name}", f"/submit/telemetry/u-{name}", gzip.compress(body)))
        out.append((f"g-{name}", f"/submit/poison/test/1/g-{name}", body))
    out.append(("good-after", f"/submit/telemetry/good-after/{pings.DIMS}", pings.body(9)))
    return out


def store_outcomes(store: Path) -> dict[str, list[str]]:
    """docId -> where each copy of it went: "ok", or the invalid/ reason (the side tree's
    lines are parts of records, not copies)."""
    seen: dict[str, list[str]] = {}
    for path in store.rglob("*.zst"):
        if not holds_records(path.relative_to(store).as_posix()):
            continue
        invalid = path.relative_to(store).parts[0] == "invalid"
        for line in read_zst(path.read_bytes()):
            doc, _, text = line.partition(b"\t")
            outcome = json.loads(text)["reason"] if invalid else "ok"
            seen.setdefault(doc.decode(), []).append(outcome)
    return seen


def settled(client, accepted: int):
    """The ledger's days once `accepted` records are counted, none is pending and every day
    reconciles."""
    days = client.ledger()["days"]
    done = (sum(d["accepted"] for d in days) == accepted
            and all(d["reconciled"] and d["pending_conversion"] == 0 for d in days))
    return days if done else None


def test_every_poison_record_ends_converted_or_invalid_and_the_converter_goes_on(tmp_path):
    data_dir = tmp_path / "data"
    env = dict(FAST, APPLIANCE_HISTOGRAMS_SPEC_DIR=str(pings.write_spec(tmp_path / "specs")),
               APPLIANCE_RECEIVER_MAX_BODY_BYTES=str(2 << 20))
    server = ServerProcess(data_dir, env=env).start()
    accepted = []
    try:
        for doc, path, body in corpus():
            headers = {"Content-Encoding": "gzip"} if body[:2] == b"\x1f\x8b" else {}
            if post(server, path, body, headers).status == 200:
                accepted.append(doc)
        client = server.admin()
        days = eventually(lambda: settled(client, len(accepted)), "every record converted",
                          show=lambda: client.ledger()["days"])
        stats = client.stats()
    finally:
        assert server.stop() == 0
    assert "good-after" in accepted and len(accepted) > 80  # the receiver took most of them
    assert sum(d["converted"] + sum(d["invalid"].values()) for d in days) == len(accepted)
    assert stats["converter"]["restarts"] == 0
    outcomes = store_outcomes(data_dir / "store")
    assert sorted(outcomes) == sorted(accepted)  # each accepted record is stored...
    assert all(len(where) == 1 for where in outcomes.values())  # ...once
    assert outcomes["good-after"] == ["ok"]
    stored_as_sent = {name: ["number_out_of_range" if name == "count-huge" else "ok"]
                      for name in HISTOGRAM_SHAPES}
    assert {name: outcomes[f"g-{name}"] for name in HISTOGRAM_SHAPES} == stored_as_sent
    expected = {
        "t-deep-for-orjson-dumps": "too_deep", "t-deep-for-orjson-loads": "too_deep",
        "t-deep-for-json-with-a-long-number": "too_deep",
        "t-int-2-64": "number_out_of_range", "g-int-below-i64": "number_out_of_range",
        "t-int-400-digits": "number_out_of_range", "g-float-1e400": "number_out_of_range",
        "t-minus-zero": "ok", "t-lone-surrogate-escape": "bad_json", "t-utf16": "bad_json",
        "t-gzip-multi-member": "ok", "g-gzip-multi-member": "ok",
        "t-gzip-trailing-garbage": "bad_gzip", "g-gzip-multi-member-bomb": "too_large",
        "t-histograms-list": "bad_histogram", "u-values-list": "bad_histogram",
        "t-bucket-key-text": "invalid_bucket", "t-count-negative": "bad_count",
        "t-count-bool": "bad_count", "t-count-huge": "bad_count",  # orjson: a float
        "t-statistic-string": "bad_histogram", "t-unknown-revision": "unknown_revision",
    }
    for doc, outcome in expected.items():
        if doc in outcomes:  # the receiver may refuse a few of them outright
            assert outcomes[doc] == [outcome], doc
    assert {"t-deep-for-orjson-dumps", "t-int-2-64", "t-gzip-multi-member",
            "t-gzip-trailing-garbage", "t-gzip-multi-member-bomb"} <= set(outcomes)


@pytest.mark.parametrize("processes", ["1", "2"])  # 2: the record kills a worker process
def test_a_record_that_kills_the_converter_is_quarantined_after_three_crashes(tmp_path,
                                                                             processes):
    data_dir = tmp_path / "data"
    env = dict(FAST, APPLIANCE_HISTOGRAMS_SPEC_DIR=str(pings.write_spec(tmp_path / "specs")),
               APPLIANCE_CONVERTER_PROCESSES=processes)
    env[CRASH_MARKER_ENV] = "KILL-THE-CONVERTER"
    server = ServerProcess(data_dir, env=env).start()
    try:
        killer = json.dumps(dict(pings.ping(1), note="KILL-THE-CONVERTER")).encode()
        for doc, body in [("before", pings.body(1)), ("killer", killer), ("after", pings.body(2))]:
            assert post(server, f"/submit/telemetry/{doc}/{pings.DIMS}", body).status == 200
        server.wait_for_log(r"quarantined in invalid/ \(reason converter_crash\)")
        client = server.admin()
        eventually(lambda: settled(client, 3), "the records after it converted",
                   show=lambda: client.ledger()["days"])
        stats = client.stats()
    finally:
        assert server.stop() == 0
    assert stats["converter"]["restarts"] == 3 and stats["converter"]["quarantined"] == 1
    assert stats["converter"]["invalid_by_reason"] == {"converter_crash": 1}
    outcomes = store_outcomes(data_dir / "store")
    assert outcomes == {"before": ["ok"], "killer": ["converter_crash"], "after": ["ok"]}


def test_a_job_over_the_spool_skips_poison_records_and_reads_the_rest(tmp_path):
    from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
    from tests.integration.test_mr_runner import EXAMPLES, cli
    from tests.stores import NS_2026, config_for

    spool = SpoolDir(tmp_path / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9,
                               fsync=False)
    ids = RecordIds()
    records = [SpoolRecord(ids.next(), NS_2026, f"/submit/telemetry/{doc}/{pings.DIMS}", body)
               for doc, body in [("a", pings.body(1)), ("deep", nested(300)),
                                 ("big", b'{"ver":2,"n":18446744073709551616}'),
                                 ("b", pings.body(2))]]
    appender.append(records)
    appender.rotate()
    config, _ = config_for(tmp_path)
    out = tmp_path / "out"
    code, summary, _ = cli(["job", "run", str(EXAMPLES / "count.py"), "--filter",
                            str(EXAMPLES / "filters" / "all.json"), "--output", str(out)], config)
    assert code == 0, summary
    assert out.read_text() == "records\t2\n"
