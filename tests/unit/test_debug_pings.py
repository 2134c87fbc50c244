"""The debug view's buffer: the newest debug pings from the store, bounded by count and
bytes, newest first; and GET /v1/debug/pings."""

from __future__ import annotations

import orjson
import pytest
import zstandard

from appliance.admin.debugpings import MAX_DOCUMENT_BYTES, DebugPings
from appliance.convert.records import RecordConverter
from appliance.convert.specs import SpecStore
from appliance.spool import RecordIds, SpoolRecord
from appliance.storage.schema import Schema, SchemaRegistry
from tests import pings
from tests.unit.admin_fakes import Api, FakeServer

DAY_NS = 86_400 * 10**9
NOW = 1_796_406_739.0            # 2026-12-04 in UTC
NOW_NS = int(NOW) * 10**9


@pytest.fixture
def converter(tmp_path):
    specs = SpecStore(pings.write_spec(tmp_path / "specs"))
    return RecordConverter(specs, Schema.telemetry_default(), max_decompressed_bytes=1 << 22)


class Store:
    """Writes converted pings into store files the way the converter lays them out."""

    def __init__(self, root, converter):
        self.root = root
        self.converter = converter
        self.files = 0

    def write(self, *specs: tuple[str | None, int, dict]) -> None:
        """One store file per partition for pings given as (debug id, received ns, doc)."""
        by_partition: dict[str, list[bytes]] = {}
        for i, (debug_id, received_ns, doc) in enumerate(specs):
            headers = {"X-Debug-ID": debug_id} if debug_id else {}
            record = SpoolRecord(RecordIds().next(), received_ns,
                                 f"/submit/app/events/1/doc-{self.files}-{i}",
                                 orjson.dumps(doc), headers)
            result = self.converter.convert(record)
            by_partition.setdefault(result.partition, []).append(result.line)
        for partition, lines in by_partition.items():
            self.files += 1
            path = self.root / partition / f"node.{self.files:06d}.0000.{len(lines)}.zst"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zstandard.compress(b"".join(lines)))


@pytest.fixture
def store(tmp_path, converter):
    return Store(tmp_path / "data" / "store", converter)


def test_newest_first_only_debug_pings_and_by_debug_id(store):
    store.write(("a", NOW_NS - 3, {"n": 1}), (None, NOW_NS - 2, {"n": 2}),
                ("b", NOW_NS - 1, {"n": 3}))
    view = DebugPings(store.root, SchemaRegistry(), wall=lambda: NOW)
    assert view.scan() == 2
    assert [p["document"]["n"] for p in view.latest()] == [3, 1]
    [only_a] = view.latest("a")
    assert only_a["debug_id"] == "a" and only_a["namespace"] == "app"
    assert only_a["document"]["metadata"]["header"] == {"x_debug_id": "a"}
    assert view.latest("nobody") == []
    # Only new files are read; a later ping shows first.
    assert view.scan() == 0
    store.write(("a", NOW_NS, {"n": 4}))
    assert view.scan() == 1
    assert [p["document"]["n"] for p in view.latest("a", limit=1)] == [4]


def test_old_days_are_not_read(store):
    store.write(("a", NOW_NS - 3 * DAY_NS, {"n": 1}), ("a", NOW_NS - DAY_NS, {"n": 2}))
    view = DebugPings(store.root, SchemaRegistry(), wall=lambda: NOW)
    view.scan()
    assert [p["document"]["n"] for p in view.latest()] == [2]


def test_bounded_by_count_and_bytes(store):
    store.write(*[(f"id-{i}", NOW_NS + i, {"n": i, "pad": "x" * 1000}) for i in range(50)])
    by_count = DebugPings(store.root, SchemaRegistry(), max_pings=10, wall=lambda: NOW)
    by_count.scan()
    assert [p["document"]["n"] for p in by_count.latest()] == list(range(49, 39, -1))
    by_bytes = DebugPings(store.root, SchemaRegistry(), max_bytes=5000, wall=lambda: NOW)
    by_bytes.scan()
    assert len(by_bytes) == 4 and by_bytes.held_bytes <= 5000
    assert by_bytes.latest()[0]["document"]["n"] == 49


def test_a_huge_document_is_held_as_its_metadata(store):
    store.write(("big", NOW_NS, {"pad": "x" * (MAX_DOCUMENT_BYTES + 10)}))
    view = DebugPings(store.root, SchemaRegistry(), wall=lambda: NOW)
    view.scan()
    [ping] = view.latest()
    assert "pad" not in ping["document"] and "omitted" in ping["document"]
    assert ping["document"]["metadata"]["header"]["x_debug_id"] == "big"
    assert view.held_bytes == MAX_DOCUMENT_BYTES


def test_the_admin_endpoint(tmp_path, converter):
    server = FakeServer(tmp_path / "data")
    server.reactor.advance(NOW)
    Store(server.data_dir / "store", converter).write(("s1", NOW_NS, {"n": 1}),
                                                      ("s2", NOW_NS + 1, {"n": 2}))
    api = Api(server)
    answer = api.call("GET", "/v1/debug/pings?debug_id=s1")
    assert answer.status == 200
    assert [p["debug_id"] for p in answer.json()["pings"]] == ["s1"]
    assert [p["debug_id"] for p in api.call("GET", "/v1/debug/pings").json()["pings"]] == \
        ["s2", "s1"]
    assert api.call("POST", "/v1/debug/pings").status == 405
    assert api.call("GET", "/v1/debug/pings?limit=x").status == 400


def test_spool_pings_show_before_conversion_and_once_after(tmp_path, store):
    from appliance.spool.frame import encode

    spool = tmp_path / "data" / "spool"
    spool.mkdir(parents=True)
    path = "/submit/app/events/1/from-spool"
    debug = SpoolRecord(RecordIds().next(), NOW_NS, path, orjson.dumps({"n": 7}),
                        {"X-Debug-ID": "live"})
    plain = SpoolRecord(RecordIds().next(), NOW_NS, "/submit/app/events/1/plain", b"{}")
    segment = spool / "current.seg"
    segment.write_bytes(b"".join(encode(plain)))
    view = DebugPings(store.root, SchemaRegistry(), spool, wall=lambda: NOW)
    assert view.scan() == 0
    with open(segment, "ab") as f:             # the writer appends; half a frame so far
        frame = b"".join(encode(debug))
        f.write(frame[:30])
    assert view.scan() == 0
    with open(segment, "ab") as f:
        f.write(frame[30:])
    assert view.scan() == 1
    [ping] = view.latest("live")
    assert ping["document"]["n"] == 7 and ping["doc_id"] == "from-spool"
    assert ping["document"]["metadata"]["header"] == {"x_debug_id": "live"}
    # Sealing renames the segment; conversion puts the same ping in the store.
    segment.rename(spool / "sealed-1.seg")
    result = store.converter.convert(debug)
    target = store.root / result.partition / "node.000099.0000.1.zst"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(zstandard.compress(result.line))
    assert view.scan() == 0 and len(view.latest()) == 1
    assert view.latest()[0]["document"] == ping["document"]
