"""Spools and stores for tests: records in, docIds out."""

from __future__ import annotations

import io
import json
from pathlib import Path

import zstandard

from appliance.config import load_config
from appliance.ledger.accepted import AcceptedLedger
from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
from appliance.storage.keys import parse_key
from appliance.storage.schema import SchemaRegistry
from tests import pings

NS_2026 = 1_795_000_000 * 10**9


def make_spool(data_dir: Path, n: int, per_segment: int, bad_every: int = 7) -> dict[str, str]:
    """Write n records in sealed segments; returns docId -> expected "ok"/"invalid"."""
    spool = SpoolDir(data_dir / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9,
                               fsync=False)
    ids = RecordIds()
    expected = {}
    for start in range(0, n, per_segment):
        batch = []
        for i in range(start, min(n, start + per_segment)):
            doc = f"doc-{i}"
            if i % bad_every == 3:
                body, expected[doc] = b"{not json", "invalid"
            else:
                body, expected[doc] = pings.body(i), "ok"
            path = f"/submit/telemetry/{doc}/{pings.DIMS}" if i % 2 else f"/submit/telemetry/{doc}"
            batch.append(SpoolRecord(ids.next(), NS_2026 + i, path, body))
        assert appender.append(batch).acked == len(batch)
        appender.rotate()
    return expected


def spool_pings(data_dir: Path, docs: dict[str, dict]) -> AcceptedLedger:
    """One sealed segment of telemetry pings (docId -> ping, sent with the 2013 path
    dimensions), counted by an accepted ledger, which is returned."""
    spool = SpoolDir(data_dir / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9,
                               fsync=False)
    ids = RecordIds()
    appender.append([SpoolRecord(ids.next(), NS_2026 + i, f"/submit/telemetry/{doc}/{pings.DIMS}",
                                 json.dumps(ping).encode())
                     for i, (doc, ping) in enumerate(docs.items())])
    appender.rotate()
    accepted = AcceptedLedger(data_dir / "ledger")
    assert accepted.recover(spool) == len(docs)
    return accepted


def config_for(data_dir: Path, **env):
    base = {"APPLIANCE_HISTOGRAMS_SPEC_DIR": str(pings.write_spec(data_dir / "specs")),
            "APPLIANCE_STORE_MAX_FILE_AGE": "3600",
            "APPLIANCE_CONVERTER_PROCESSES": "1"}  # in process, unless a test asks for workers
    base.update(env)
    return load_config(env=base, overrides={("server", "data_dir"): str(data_dir)}), base


def store_contents(store: Path) -> tuple[list[str], list[str], dict]:
    """docIds in the valid store and in invalid/, and one parsed valid record."""
    valid, invalid, sample = [], [], {}
    for path in sorted(store.rglob("*.zst")):
        with open(path, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
        lines = data.splitlines()
        assert int(path.name.split(".")[-2]) == len(lines)  # the count in the name is right
        rel = path.relative_to(store).parts
        key = parse_key(path.relative_to(store).as_posix(), SchemaRegistry())
        assert key.values == rel[-len(key.values) - 1:-1]  # every dimension from the key
        for line in lines:
            doc, _, text = line.decode().partition("\t")
            if rel[0] == "invalid":
                assert json.loads(text)["reason"] == "bad_json"
                invalid.append(doc)
            else:
                valid.append(doc)
                sample = json.loads(text)
    return valid, invalid, sample


def check_exactly_once(data_dir: Path, expected: dict[str, str]) -> None:
    valid, invalid, sample = store_contents(data_dir / "store")
    assert sorted(valid) == sorted(d for d, kind in expected.items() if kind == "ok")
    assert sorted(invalid) == sorted(d for d, kind in expected.items() if kind == "invalid")
    assert sample["ver"] == 2 and sample["histograms"]["SAFE_MODE"][:3] in ([1, 0, 0], [1, 1, 0])


def check_ledger(data_dir: Path, expected: dict[str, str]) -> None:
    """The checkpoint's ledger counts every expected record once, converted or invalid."""
    from appliance.storage.checkpoint import CheckpointLog

    days = CheckpointLog(data_dir / "store", data_dir / "spool").load().ledger
    assert sum(row["converted"] for row in days.values()) == \
        sum(kind == "ok" for kind in expected.values())
    assert sum(sum(row["invalid"].values()) for row in days.values()) == \
        sum(kind == "invalid" for kind in expected.values())


def read_zst(data: bytes) -> list[bytes]:
    """The lines of a store file's bytes (all its zstd frames)."""
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    return reader.read().splitlines()


def converted_store(data_dir: Path, n: int, per_segment: int):
    """A data dir whose spool of n records has been converted into its store; its config."""
    from appliance.convert.factory import converter_loop

    make_spool(data_dir, n, per_segment=per_segment)
    config, _ = config_for(data_dir)
    converter_loop(config).drain()
    return config
