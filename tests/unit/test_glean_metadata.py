"""Generic-form records carry Mozilla-style metadata and are routed by traffic and channel;
the 2013 telemetry form is converted exactly as before."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
from pathlib import Path

import orjson
import pytest

from appliance.convert.records import RecordConverter
from appliance.convert.specs import SpecStore
from appliance.convert.useragent import parse_user_agent
from appliance.spool import RecordIds, SpoolRecord
from appliance.storage.filters import Filter
from appliance.storage.keys import parse_key
from appliance.storage.schema import Schema
from tests import pings

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
# 2026-12-04T17:52:19.123456Z
RECEIVED_NS = 1_796_406_739_123_456_789
GLEAN_PING = {"client_info": {"app_channel": "nightly", "client_id": "c1"},
              "ping_info": {"seq": 3}, "metrics": {"counter": {"app.clicks": 4}}}
PATH = "/submit/org-example-app/metrics/1/5f0c8f66-6c8b-4d3e-9c2a-0d6b2b0c1e11"


@pytest.fixture
def converter(tmp_path):
    specs = SpecStore(pings.write_spec(tmp_path / "specs"))
    return RecordConverter(specs, Schema.telemetry_default(), max_decompressed_bytes=1 << 20)


def convert(converter, headers: dict[str, str], doc=GLEAN_PING, path=PATH, gz=False):
    body = orjson.dumps(doc)
    if gz:
        body = gzip.compress(body)
        headers = {**headers, "Content-Encoding": "gzip"}
    result = converter.convert(SpoolRecord(RecordIds().next(), RECEIVED_NS, path, body, headers))
    doc_id, text = result.line.split(b"\t", 1)
    return result, parse_key(result.partition + "/f.zst"), json.loads(text)


def test_metadata_has_the_pipeline_shape(converter):
    headers = {"Date": "Fri, 04 Dec 2026 17:52:18 GMT", "X-Telemetry-Agent": "Glean/71.0.0",
               "DNT": "1", "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) "
                                         "Gecko/20100101 Firefox/120.0"}
    result, key, doc = convert(converter, headers, gz=True)
    assert result.invalid_reason is None
    assert doc["metadata"] == {
        "submission_timestamp": "2026-12-04T17:52:19.123456Z",
        "document_namespace": "org-example-app", "document_type": "metrics",
        "document_version": "1", "document_id": "5f0c8f66-6c8b-4d3e-9c2a-0d6b2b0c1e11",
        "header": {"date": "Fri, 04 Dec 2026 17:52:18 GMT", "x_telemetry_agent": "Glean/71.0.0",
                   "dnt": "1", "user_agent": headers["User-Agent"]},
        "user_agent": {"browser": "Firefox", "version": "120.0", "os": "Windows"},
    }
    assert doc["metrics"] == GLEAN_PING["metrics"]
    assert key.tree == "org-example-app"
    assert key.dimensions == {"traffic": "main", "docType": "metrics", "docVersion": "1",
                              "channel": "nightly", "submission_date": "20261204"}


@pytest.mark.parametrize("headers,traffic", [
    ({"X-Debug-ID": "my-session"}, "debug"),
    ({"X-Debug-ID": "my-session", "X-Source-Tags": "automation"}, "debug"),
    ({"X-Source-Tags": "perf, automation"}, "automation"),
    ({"X-Source-Tags": "perf"}, "main"),
    ({"x-debug-id": " "}, "main"),
])
def test_debug_and_automation_pings_get_their_own_partitions(converter, headers, traffic):
    _result, key, doc = convert(converter, headers)
    assert key.dimensions["traffic"] == traffic
    for name, value in headers.items():
        assert doc["metadata"]["header"][name.lower().replace("-", "_")] == value


def test_a_ping_without_a_channel_or_an_object_body(converter):
    _result, key, doc = convert(converter, {}, doc={"metrics": {}})
    assert key.dimensions["channel"] == "UNKNOWN" and doc["metadata"]["header"] == {}
    assert "user_agent" not in doc["metadata"]
    _result, key, doc = convert(converter, {"X-Debug-ID": "s"}, doc=[1, 2])
    assert doc == [1, 2] and key.dimensions["traffic"] == "debug"


def test_an_invalid_generic_record_is_routed_by_traffic_too(converter):
    result = converter.convert(SpoolRecord(RecordIds().next(), RECEIVED_NS, PATH, b"{nope",
                                           {"X-Debug-ID": "s"}))
    assert result.invalid_reason == "bad_json"
    assert parse_key(result.partition + "/f.zst").dimensions["traffic"] == "debug"


def test_filter_files_read_main_traffic_unless_they_ask():
    main = ["main", "metrics", "1", "nightly", "20261204"]
    debug = ["debug", *main[1:]]
    default = Filter.from_dict({"namespace": "*"})
    assert default.allows("app", main) and not default.allows("app", debug)
    assert default.allows("telemetry", ["a"] * 6)          # no traffic dimension there
    assert not default.allows_key(parse_key("app/" + "/".join(debug) + "/f.zst"))
    asked = Filter.from_dict({"namespace": "*", "dimensions": [
        {"field_name": "traffic", "allowed_values": ["debug"]}]})
    assert asked.allows("app", debug) and not asked.allows("app", main)
    everything = Filter.from_dict({"namespace": "*", "dimensions": [
        {"field_name": "traffic", "allowed_values": "*"}]})
    assert everything.allows("app", debug) and everything.allows("telemetry", ["a"] * 6)
    assert Filter.all().allows("app", debug)
    channel = Filter.from_dict({"namespace": "app", "dimensions": [
        {"field_name": "channel", "allowed_values": ["release"]}]})
    assert not channel.allows("app", main)


@pytest.mark.parametrize("agent,parsed", [
    ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
     {"browser": "Firefox", "version": "121.0", "os": "Linux"}),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36", {"browser": "Chrome", "version": "120.0.0.0",
                                        "os": "Macintosh"}),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
     {"browser": "Edge", "version": "120.0.2210.91", "os": "Windows"}),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
     {"browser": "Safari", "version": "17.2", "os": "iOS"}),
    ("Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
     {"browser": "Firefox", "version": "121.0", "os": "Android"}),
    ("pingsender/1.0", {}),
    ("Firefox/" + "9" * 5000, {"browser": "Firefox", "version": "9" * 32}),
])
def test_user_agent_parsing(agent, parsed):
    assert parse_user_agent(agent) == parsed


def test_the_real_2013_ping_converts_byte_identically():
    """The line this change must not alter: its SHA-256 was taken before the change."""
    log = CORPUS / "telemetry1.log"
    if not log.exists():
        pytest.skip(f"no corpus at {CORPUS}")
    data = log.read_bytes()
    head = struct.Struct("<BHIQ")
    _sep, path_len, data_len, ms = head.unpack_from(data, 0)
    path = data[head.size:head.size + path_len].decode()
    body = data[head.size + path_len:head.size + path_len + data_len]
    converter = RecordConverter(SpecStore(CORPUS / "histograms"),
                                Schema.from_file(CORPUS / "telemetry_schema.json"),
                                max_decompressed_bytes=1 << 24)
    headers = {"Date": "x", "X-Debug-ID": "dbg", "User-Agent": "Mozilla/5.0 Firefox/23.0",
               "X-Source-Tags": "automation"}
    result = converter.convert(SpoolRecord(b"\0" * 16, ms * 1_000_000, path, body, headers))
    assert result.invalid_reason is None
    # The 2013 server's directory (its sanitising wrote idle_daily).
    assert result.partition == ("telemetry/idle_daily/Firefox/release/23.0.1/20130814063812/"
                                "20130910")
    # Its two unknown histograms left the record for the side tree; the record is otherwise
    # the same bytes: put back where the converter once added them, they give the old line.
    side = orjson.loads(result.side[1].partition(b"\t")[2])
    assert sorted(side["unknownHistograms"]) == ["HTTP_OFFLINE_CACHE_DOCUMENT_LOAD",
                                                 "MIXED_CONTENT_PAGE_LOAD"]
    assert b"unknownHistograms" not in result.line
    before = (result.line[:-2] + b',"unknownHistograms":'
              + orjson.dumps(side["unknownHistograms"]) + b"}\n")
    assert len(before) == 47678
    assert hashlib.sha256(before).hexdigest() == \
        "67352219f248080275eea9d36f8169609c3c529b2e03558ce1890836ad1485d1"
