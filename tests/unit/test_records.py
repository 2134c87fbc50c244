"""RecordConverter.convert is total: every record ends as a store line or an invalid/ line."""

from __future__ import annotations

import gzip
import json

import pytest

from appliance.convert import records
from appliance.convert.records import RecordConverter
from appliance.convert.specs import SpecStore
from appliance.convert.topcounts import OTHER, TopCounter
from appliance.spool import RecordIds, SpoolRecord
from appliance.storage.schema import Schema
from tests import pings
from tests.stores import NS_2026

DEEP_FOR_ORJSON_DUMPS = b'{"x":' + b"[" * 300 + b"]" * 300 + b"}"   # issue 13


@pytest.fixture
def converter(tmp_path):
    specs = SpecStore(pings.write_spec(tmp_path / "specs"))
    return RecordConverter(specs, Schema.telemetry_default(), max_decompressed_bytes=1 << 20)


def record(body: bytes, path: str = f"/submit/telemetry/doc/{pings.DIMS}") -> SpoolRecord:
    return SpoolRecord(RecordIds().next(), NS_2026, path, body)


def invalid_entry(result) -> dict:
    assert result.partition.startswith("invalid/")
    return json.loads(result.line.split(b"\t", 1)[1])


def test_the_issue_13_reproducer_goes_to_invalid_as_too_deep(converter):
    result = converter.convert(record(DEEP_FOR_ORJSON_DUMPS, "/submit/telemetry/deep"))
    assert result.invalid_reason == "too_deep"
    entry = invalid_entry(result)
    assert entry["reason"] == "too_deep"
    assert entry["body_base64"]  # the original bytes are kept
    assert converter.invalid_by_reason == {"too_deep": 1}
    good = converter.convert(record(pings.body(1)))
    assert good.invalid_reason is None and converter.converted == 1


@pytest.mark.parametrize("depth", [1100, 100_000])
def test_nesting_past_orjsons_parser_limit_is_too_deep(converter, depth):
    body = b"[" * depth + b"]" * depth
    assert converter.convert(record(body, "/submit/telemetry/deep")).invalid_reason == "too_deep"


# Where conversion could fail unforeseen: the text path, or the ordinary path it leaves a
# record to (convert/textpath.py).
PATHS = ["convert_text", "convert_payload"]


def fail_in(monkeypatch, where: str, error: Exception) -> None:
    def fail(*args, **options):
        raise error

    monkeypatch.setattr(records, "convert_text", lambda *args: None)
    monkeypatch.setattr(records, where, fail)


@pytest.mark.parametrize("where", PATHS)
def test_an_unforeseen_exception_is_conversion_failed_with_its_type(converter, monkeypatch,
                                                                     where):
    fail_in(monkeypatch, where, ZeroDivisionError("a bug"))
    result = converter.convert(record(pings.body(1)))
    assert result.invalid_reason == "conversion_failed"
    assert invalid_entry(result)["detail"] == "ZeroDivisionError: a bug"


@pytest.mark.parametrize("where", PATHS)
def test_a_recursion_error_anywhere_is_too_deep(converter, monkeypatch, where):
    fail_in(monkeypatch, where, RecursionError("maximum recursion depth exceeded"))
    assert converter.convert(record(pings.body(1))).invalid_reason == "too_deep"


def test_records_of_the_same_dimensions_share_one_remembered_partition(converter, monkeypatch):
    monkeypatch.setattr(records, "PARTITIONS_REMEMBERED", 2)
    made = [converter.convert(record(pings.body(i, channel=channel), "/submit/telemetry/d"))
            for i, channel in enumerate(["release", "release", "beta", "aurora", "release"])]
    assert [m.partition.split("/")[3] for m in made] == [
        "release", "release", "beta", "aurora", "release"]
    assert made[0].partition == made[1].partition == made[4].partition == (
        "telemetry/saved_session/Firefox/release/23.0/20130814063812/20261118")
    assert len(converter._partitions) <= 2          # forgotten all at once when full


def test_a_partition_of_long_dimension_values_is_not_remembered(converter):
    ping = pings.ping(1)
    ping["info"]["appVersion"] = "9" * 5000
    made = converter.convert(record(json.dumps(ping).encode(), "/submit/telemetry/d"))
    assert made.invalid_reason is None
    assert converter._partitions == {}


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**40, -(10**30), 10**400])
def test_integers_beyond_64_bits_are_not_turned_into_floats(converter, number):
    body = b'{"ver": 2, "n": %d}' % number
    result = converter.convert(record(body, "/submit/telemetry/big"))
    assert result.invalid_reason == "number_out_of_range"
    detail = invalid_entry(result)["detail"]
    assert str(number)[:19] in detail or "infinity" in detail


@pytest.mark.parametrize("number", [2**64 - 1, -(2**63), 10**18])
def test_integers_within_64_bits_are_kept_exactly(converter, number):
    body = b'{"ver": 2, "n": %d, "s": "12345678901234567890123"}' % number
    result = converter.convert(record(body, "/submit/telemetry/big"))
    assert result.invalid_reason is None
    assert json.loads(result.line.split(b"\t", 1)[1])["n"] == number


def test_a_float_beyond_double_range_is_out_of_range(converter):
    result = converter.convert(record(b'{"ver": 2, "f": 1e400}', "/submit/telemetry/f"))
    assert result.invalid_reason == "number_out_of_range"


def test_long_digit_runs_in_strings_and_floats_are_fine(converter):
    body = b'{"ver": 2, "id": "99999999999999999999999", "f": 0.12345678901234567890}'
    assert converter.convert(record(body, "/submit/telemetry/f")).invalid_reason is None


def test_every_member_of_a_multi_member_gzip_body_is_kept(converter):
    doc = json.dumps(pings.ping(3)).encode()
    body = gzip.compress(doc[:40]) + gzip.compress(doc[40:])
    result = converter.convert(record(body))
    assert result.invalid_reason is None
    assert json.loads(result.line.split(b"\t", 1)[1])["simpleMeasurements"] == {"uptime": 3}


def test_the_size_limit_covers_all_members(tmp_path):
    specs = SpecStore(pings.write_spec(tmp_path / "specs"))
    small = RecordConverter(specs, Schema.telemetry_default(), max_decompressed_bytes=1000)
    body = gzip.compress(b" " * 600) + gzip.compress(b" " * 600 + b"{}")
    assert small.convert(record(body, "/submit/telemetry/bomb")).invalid_reason == "too_large"


def test_bytes_after_the_gzip_stream_are_not_dropped_silently(converter):
    body = gzip.compress(b'{"ver": 2}') + b"garbage"
    result = converter.convert(record(body, "/submit/telemetry/tail"))
    assert result.invalid_reason == "bad_gzip"
    assert "after the gzip stream" in invalid_entry(result)["detail"]


def test_quarantine_writes_the_record_to_invalid_without_reading_its_body(converter):
    result = converter.quarantine(record(b"anything"), "converter_crash", "3 crashes")
    entry = invalid_entry(result)
    assert (entry["reason"], entry["detail"]) == ("converter_crash", "3 crashes")
    assert result.partition.startswith("invalid/telemetry/saved_session/Firefox/")
    assert converter.invalid_by_reason == {"converter_crash": 1}


def test_unknown_histogram_names_are_counted_in_bounded_memory(converter):
    for i in range(300):
        ping = pings.ping(i)
        ping["histograms"].update({f"INVENTED_{i}_{j}": {"values": {}} for j in range(20)})
        ping["histograms"]["ALWAYS_UNKNOWN"] = {"values": {}}
        body = json.dumps(ping).encode()
        assert converter.convert(record(body)).invalid_reason is None
    top = converter.unknown_histograms.top()
    assert len(top) == 101 and next(iter(top)) == "ALWAYS_UNKNOWN"
    assert sum(top.values()) == 300 * 21
    assert len(converter.unknown_histograms._counts) <= 1000


def test_top_counter_keeps_the_frequent_names_and_adds_up():
    counter = TopCounter(keep=2, capacity=10, max_name_chars=5)
    for i in range(1000):
        counter.update(["often", f"rare{i}"] + (["sometimes"] if i % 3 == 0 else []))
    top = counter.top()
    assert list(top) == ["often", "somet", OTHER]
    assert counter.total == sum(top.values()) == 1000 + 1000 + 334
    assert len(counter._counts) <= 10


def test_top_counters_merge_their_other_count_as_other_not_as_a_name():
    """The converter sums its worker processes' top() this way."""
    total = TopCounter(keep=2, capacity=10)
    for _ in range(2):
        worker = TopCounter(keep=2, capacity=10)
        worker.update(["a", "a", "a", "b", "b", "c"])
        total.merge(worker.top())
    assert total.top() == {"a": 6, "b": 4, OTHER: 2}
    assert total.total == 12


def test_unknown_histograms_go_to_the_side_tree_keyed_by_doc_id(converter):
    ping = pings.ping(7)
    mystery = {"values": {"3": 1}, "sum": 3}
    ping["histograms"]["MYSTERY"] = mystery
    result = converter.convert(record(json.dumps(ping).encode(), f"/submit/telemetry/d7/"
                                                                 f"{pings.DIMS}"))
    assert result.invalid_reason is None and result.unknown_histograms == ("MYSTERY",)
    doc_id, _, doc = result.line.partition(b"\t")
    assert "MYSTERY" not in json.loads(doc)["histograms"]
    assert set(json.loads(doc)) == set(ping)                 # no key added to the record
    side_partition, side_line = result.side
    assert side_partition == result.partition.replace("telemetry/",
                                                      "telemetry-unknown-histograms/", 1)
    side_id, _, side = side_line.partition(b"\t")
    assert side_id == doc_id == b"d7" and side_line.endswith(b"\n")
    assert json.loads(side) == {"unknownHistograms": {"MYSTERY": mystery},
                                "revision": pings.REVISION.rsplit("/", 1)[1]}


def test_a_record_without_unknown_histograms_has_no_side_line(converter):
    assert converter.convert(record(pings.body(1))).side is None


def test_a_firefox_os_ping_is_partitioned_by_the_info_its_conversion_made(converter):
    fxos = {"ver": 3, "pingID": "p", "deviceinfo.update_channel": "nightly",
            "deviceinfo.platform_build_id": "20140101000000",
            "deviceinfo.platform_version": "1.3.0.0-prerelease"}
    result = converter.convert(record(json.dumps(fxos).encode(), "/submit/telemetry/fx1"))
    assert result.invalid_reason is None
    assert result.partition == ("telemetry/ftu/FirefoxOS/nightly/1.3.0.0_prerelease/"
                                "20140101000000/20261118")
    doc = json.loads(result.line.partition(b"\t")[2])
    assert doc["ver"] == 2 and "pingID" not in doc and doc["info"]["reason"] == "ftu"
