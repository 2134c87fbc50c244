"""Histogram specs and conversion against real 2013 data (../shared/corpus; skipped without it).

- Every histogram defined both in `<rev>.Histograms.json` and in the precomputed
  `<rev>.buckets.json` gets exactly the precomputed buckets.
- The real Firefox 23.0.1 ping in telemetry1.log converts with revision
  a55c55edf302: each histogram becomes len(buckets) + 5 numbers (which is also
  the bucket_count the client reported + 5), no count is lost.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import pytest

from appliance.convert.buckets import DefinitionError, compute_buckets
from appliance.convert.payload import convert_payload
from appliance.convert.specs import SpecStore, revision_key

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
HISTOGRAMS = CORPUS / "histograms"

pytestmark = pytest.mark.skipif(not HISTOGRAMS.is_dir(), reason=f"no corpus at {CORPUS}")

REVISIONS = sorted(p.name.split(".")[0] for p in HISTOGRAMS.glob("*.Histograms.json")) \
    if HISTOGRAMS.is_dir() else []


@pytest.mark.parametrize("rev", REVISIONS)
def test_computed_buckets_equal_precomputed(rev):
    raw = json.loads((HISTOGRAMS / f"{rev}.Histograms.json").read_text())
    pre = json.loads((HISTOGRAMS / f"{rev}.buckets.json").read_text())["histograms"]
    compared, mismatched, failed = 0, [], {}
    for name, definition in raw.items():
        if name not in pre:
            continue
        try:
            buckets = compute_buckets(definition)
        except DefinitionError as e:
            failed[name] = str(e)
            continue
        compared += 1
        if buckets != pre[name]["buckets"]:
            mismatched.append(name)
    assert not failed and not mismatched
    assert compared > 500
    # Kinds: every one of the corpus's kinds was compared.
    kinds = {raw[n]["kind"] for n in raw if n in pre}
    assert kinds == {"exponential", "linear", "boolean", "flag", "enumerated"}


@pytest.mark.parametrize("rev", REVISIONS)
def test_spec_store_loads_corpus_revision(rev):
    spec = SpecStore(HISTOGRAMS).get(rev)
    # Only the definition that needs StartupTimeline::MAX_EVENT_ID is left out.
    assert set(spec.skipped) == {"STARTUP_MEASUREMENT_ERRORS"}
    assert len(spec) > 700   # raw definitions + the precomputed STARTUP_ copies


def read_v1_log(path: Path) -> list[tuple[str, bytes]]:
    """(path, body) of each record of a 2013 v1 raw log (0x1e, u16 path len,
    u32 data len, u64 ms, path, body); a trailing partial record is ignored."""
    data = path.read_bytes()
    head = struct.Struct("<BHIQ")
    records, pos = [], 0
    while pos + head.size <= len(data):
        sep, path_len, data_len, _ms = head.unpack_from(data, pos)
        assert sep == 0x1E
        start = pos + head.size
        end = start + path_len + data_len
        records.append((data[start:start + path_len].decode(), data[start + path_len:end]))
        pos = end
    return records


@pytest.fixture(scope="module")
def real_ping() -> dict:
    log = CORPUS / "telemetry1.log"
    if not log.exists():
        pytest.skip("no telemetry1.log")
    [(_path, body)] = read_v1_log(log)
    return json.loads(gzip.decompress(body))


def test_real_ping_converts(real_ping):
    doc = json.loads(json.dumps(real_ping))          # a private copy
    before = real_ping["histograms"]
    store = SpecStore(HISTOGRAMS)
    assert revision_key(doc["info"]["revision"]) == "a55c55edf302"
    result = convert_payload(doc, store)
    spec = store.get("a55c55edf302")

    assert result.converted and result.revision == "a55c55edf302"
    assert doc["ver"] == 2
    converted = doc["histograms"]
    assert len(converted) + len(result.unknown_histograms) == len(before) == 328
    for name, row in converted.items():
        layout = spec.layout(name)
        assert len(row) == layout.n + 5, name
        assert len(row) == before[name]["bucket_count"] + 5, name      # what Firefox reported
        assert sum(row[:-5]) == sum(before[name]["values"].values()), name
        for key, count in before[name]["values"].items():
            assert row[layout.index[key]] == count
        assert row[-5:] == [before[name].get(k, -1) for k in (
            "sum", "log_sum", "log_sum_squares", "sum_squares_lo", "sum_squares_hi")]
    # STARTUP_ histograms and GC_REASON_2 (its n_values is a C++ constant) converted.
    assert sum(n.startswith("STARTUP_") for n in converted) > 20
    assert len(converted["GC_REASON_2"]) == 101 + 5
    # Two histograms that this revision's spec does not define are kept as they were.
    assert sorted(result.unknown_histograms) == ["HTTP_OFFLINE_CACHE_DOCUMENT_LOAD",
                                                 "MIXED_CONTENT_PAGE_LOAD"]
    assert result.unknown == {n: before[n] for n in result.unknown_histograms}
    # Everything but the histograms is untouched, and no key is added.
    assert {k: v for k, v in doc.items() if k not in ("histograms", "ver")} \
        == {k: v for k, v in real_ping.items() if k not in ("histograms", "ver")}


def test_real_ping_with_precomputed_specs_only(real_ping, tmp_path):
    # The precomputed file alone (as a histogram server's bucket files would be) also works.
    (tmp_path / "a55c55edf302.buckets.json").write_bytes(
        (HISTOGRAMS / "a55c55edf302.buckets.json").read_bytes())
    doc = json.loads(json.dumps(real_ping))
    result = convert_payload(doc, SpecStore(tmp_path))
    # GC_REASON_2 is not in the precomputed file: it is kept aside, not lost.
    assert "GC_REASON_2" in result.unknown_histograms
    assert len(doc["histograms"]) + len(result.unknown) == 328
