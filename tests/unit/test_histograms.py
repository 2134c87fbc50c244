"""Histogram specs: bucket computation per kind, spec files, the spec store and the
histogram server, with specs written here (the corpus checks are in test_histograms_corpus)."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from appliance.convert.buckets import (
    DefinitionError,
    bucket_parameters,
    compute_buckets,
    exponential_buckets,
    linear_buckets,
    parameter,
)
from appliance.convert.specs import (
    BadRevision,
    SpecStore,
    UnknownRevision,
    default_fetch,
    revision_key,
)

REV = "0123456789ab"
REV2 = "ba9876543210"
REV3 = "aaaaaaaaaaaa"

# Worked out by hand from the formulas in appliance/convert/buckets.py.
HAND_WORKED = [
    # linear: bucket i = (low*(n-1-i) + high*(i-1)) / (n-2), rounded half up
    ({"kind": "linear", "low": 1, "high": 10, "n_buckets": 5}, [0, 1, 4, 7, 10]),
    ({"kind": "linear", "low": 1, "high": 100, "n_buckets": 4}, [0, 1, 51, 100]),   # 50.5 -> 51
    ({"kind": "linear", "high": 10, "n_buckets": 5}, [0, 1, 4, 7, 10]),             # low = 1
    ({"kind": "linear", "low": 10, "high": 40, "n_buckets": 5}, [0, 10, 20, 30, 40]),
    # enumerated: linear (1, n_values, n_values + 1)
    ({"kind": "enumerated", "n_values": 3}, [0, 1, 2, 3]),
    ({"kind": "enumerated", "n_values": 2}, [0, 1, 2]),
    # boolean, flag, count: linear (1, 2, 3)
    ({"kind": "boolean"}, [0, 1, 2]),
    ({"kind": "flag"}, [0, 1, 2]),
    ({"kind": "count"}, [0, 1, 2]),
    # exponential: 0, low, then equal log-steps from the current bound to high
    # 100**(1/3) = 4.64 -> 5; e**(ln 5 + (ln 100 - ln 5)/2) = 22.36 -> 22; then 100
    ({"kind": "exponential", "low": 1, "high": 100, "n_buckets": 5}, [0, 1, 5, 22, 100]),
    # 10**(1/8) = 1.33 rounds to 1, not above 1, so 2; then 2.52 -> 3, 3.67 -> 4,
    # 4.80 -> 5, 5.95 -> 6, 7.11 -> 7, 8.37 -> 8, 10
    ({"kind": "exponential", "high": 10, "n_buckets": 10}, [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]),
    ({"kind": "exponential", "low": 10, "high": 1000, "n_buckets": 4}, [0, 10, 100, 1000]),
]


@pytest.mark.parametrize(("definition", "expected"), HAND_WORKED)
def test_buckets_worked_by_hand(definition, expected):
    assert compute_buckets(dict(definition, description="x")) == expected


def test_string_parameters_are_integer_arithmetic():
    assert parameter("10000", "high") == 10000
    assert parameter("16 * 1024 * 1024", "high") == 16 * 1024 * 1024
    assert parameter("80 + 1", "n_buckets") == 81
    assert parameter("(10 - 4) / 4", "high") == 1            # integer division, as in C++
    assert parameter(" 32 * 1024 ", "low") == 32768
    assert parameter(100.0, "high") == 100
    assert parameter("JS::gcreason::NUM_TELEMETRY_REASONS", "n_values") == 100
    assert compute_buckets({"kind": "linear", "low": "32 * 1024", "high": "32 * 1024 * 3",
                            "n_buckets": "3"}) == [0, 32768, 98304]


@pytest.mark.parametrize("text", [
    "mozilla::StartupTimeline::MAX_EVENT_ID",   # changed between revisions: not guessed
    "__import__('os').getpid()", "2 ** 10", "1.5", "1e3", "abc", "", "1 / 0", "[1]", "x" * 300,
])
def test_other_strings_are_definition_errors(text):
    with pytest.raises(DefinitionError):
        parameter(text, "high")


@pytest.mark.parametrize("definition", [
    {"kind": "linear", "high": 10},                           # no n_buckets
    {"kind": "exponential", "n_buckets": 10},                 # no high
    {"kind": "enumerated"},                                   # no n_values
    {"kind": "linear", "high": 10, "n_buckets": 2},           # linear needs 3
    {"kind": "exponential", "low": 0, "high": 10, "n_buckets": 5},
    {"kind": "exponential", "high": 10, "n_buckets": 10**6},  # absurd
    {"kind": "keyed-thing", "high": 10, "n_buckets": 5},
    {"kind": "linear", "high": True, "n_buckets": 5},
    {"kind": "linear", "high": [1], "n_buckets": 5},
    "not a definition",
])
def test_bad_definitions(definition):
    with pytest.raises(DefinitionError):
        compute_buckets(definition)


def test_parameters_and_builders():
    assert bucket_parameters({"kind": "enumerated", "n_values": 11}) == ("enumerated", 1, 11, 12)
    assert bucket_parameters({"kind": "flag"}) == ("flag", 1, 2, 3)
    assert linear_buckets(1, 2, 3) == [0, 1, 2]
    assert exponential_buckets(1, 2, 2) == [0, 1]


# -- revision_key -------------------------------------------------------------

def test_revision_key():
    url = "http://hg.mozilla.org/releases/mozilla-release/rev/a55c55edf302"
    assert revision_key(url) == "a55c55edf302"
    assert revision_key(url + "/") == "a55c55edf302"
    assert revision_key("https://hg.mozilla.org/mozilla-central/rev/26CB30A532A1") == "26cb30a532a1"
    assert revision_key("http://hg.mozilla.org/rev/" + "f" * 40) == "f" * 40


@pytest.mark.parametrize("junk", [
    "", "a55c55edf302", "http://hg.mozilla.org/releases/mozilla-release/rev/tip",
    "http://hg.mozilla.org/releases/mozilla-release/rev/a55c55edf302 junk",
    "http://hg.mozilla.org/releases/mozilla-release/rev/a55c55",     # too short
    "ftp://hg.mozilla.org/releases/mozilla-release/rev/a55c55edf302",
    "http://hg.mozilla.org/releases/mozilla-release/rev/../../etc/passwd",
    None, 12, ["http://hg.mozilla.org/x/rev/a55c55edf302"],
])
def test_revision_key_rejects_junk(junk):
    with pytest.raises(BadRevision):
        revision_key(junk)


# -- SpecStore: local files ---------------------------------------------------

DEFINITIONS = {
    "LIN": {"kind": "linear", "low": 1, "high": 10, "n_buckets": 5, "description": "x"},
    "EXP": {"kind": "exponential", "high": 100, "n_buckets": 5, "description": "x"},
    "FLAG": {"kind": "flag", "description": "x"},
    "ENUM": {"kind": "enumerated", "n_values": "JS::gcreason::NUM_TELEMETRY_REASONS",
             "description": "x"},
    "BROKEN": {"kind": "enumerated", "n_values": "mozilla::StartupTimeline::MAX_EVENT_ID",
               "description": "x"},
}


def write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def test_raw_spec_file(tmp_path):
    write(tmp_path / f"{REV}.Histograms.json", DEFINITIONS)
    spec = SpecStore(tmp_path).get(REV)
    assert spec == {"LIN": [0, 1, 4, 7, 10], "EXP": [0, 1, 5, 22, 100], "FLAG": [0, 1, 2],
                    "ENUM": list(range(101))}
    assert set(spec.skipped) == {"BROKEN"}
    assert spec.revision == REV
    assert spec.layout("STARTUP_LIN") is spec.layouts["LIN"]
    assert spec.layout("STARTUP_NOPE") is None and spec.layout("NOPE") is None
    assert spec.layouts["LIN"].index == {"0": 0, "1": 1, "4": 2, "7": 3, "10": 4}
    assert spec.layouts["LIN"].position("07") == 3
    assert spec.layouts["LIN"].position("+7") == 3
    assert spec.layouts["LIN"].position("8") is None
    assert spec.layouts["LIN"].position("seven") is None
    assert spec.layouts["LIN"].position("\u0667") is None      # an Arabic-Indic seven


def test_precomputed_file(tmp_path):
    write(tmp_path / f"{REV}.buckets.json", {"histograms": {
        "A": {"kind": "0", "min": 1, "max": 100, "bucket_count": 5, "buckets": [0, 1, 5, 22, 100]},
        "STARTUP_A": {"kind": "0", "min": 1, "max": 100, "bucket_count": 5,
                      "buckets": [0, 1, 5, 22, 100]},
        "B": {"kind": "2", "buckets": [0, 1, 2]},
        "BAD": {"kind": "1", "buckets": ["0", "1"]},
    }})
    spec = SpecStore(tmp_path).get(REV)
    assert spec == {"A": [0, 1, 5, 22, 100], "STARTUP_A": [0, 1, 5, 22, 100], "B": [0, 1, 2]}
    assert set(spec.skipped) == {"BAD"}
    # Layouts with equal buckets are shared.
    assert spec.layouts["A"] is spec.layouts["STARTUP_A"]


def test_raw_and_precomputed_merge_raw_first(tmp_path):
    write(tmp_path / f"{REV}.Histograms.json", {"LIN": DEFINITIONS["LIN"]})
    write(tmp_path / f"{REV}.buckets.json", {"histograms": {
        "LIN": {"buckets": [0, 1, 2]}, "OTHER": {"buckets": [0, 3]}}})
    spec = SpecStore(tmp_path).get(REV)
    assert spec == {"LIN": [0, 1, 4, 7, 10], "OTHER": [0, 3]}
    assert len(spec.sources) == 2


def test_unreadable_spec_files_are_unknown(tmp_path):
    (tmp_path / f"{REV}.Histograms.json").write_text("{not json")
    write(tmp_path / f"{REV2}.buckets.json", {"nohistograms": {}})
    write(tmp_path / f"{REV3}.Histograms.json", [1, 2])
    store = SpecStore(tmp_path)
    for rev in (REV, REV2, REV3):
        with pytest.raises(UnknownRevision) as e:
            store.get(rev)
        assert not e.value.transient


def test_unknown_revision_is_remembered_for_a_while(tmp_path):
    now = [1000.0]
    store = SpecStore(tmp_path, retry_after=60, clock=lambda: now[0])
    with pytest.raises(UnknownRevision) as e:
        store.get(REV)
    assert e.value.revision == REV and not e.value.transient
    write(tmp_path / f"{REV}.Histograms.json", DEFINITIONS)
    with pytest.raises(UnknownRevision):
        store.get(REV)                     # still remembered
    now[0] += 61
    assert "LIN" in store.get(REV)         # looked again
    store.forget()
    assert store.cached_revisions() == []


def test_missing_spec_dir_is_just_unknown(tmp_path):
    with pytest.raises(UnknownRevision):
        SpecStore(tmp_path / "nope").get(REV)
    with pytest.raises(UnknownRevision):
        SpecStore(None).get(REV)


@pytest.mark.parametrize("bad", ["", "tip", "../etc/passwd", "0123456789AB", "0123", None, 12])
def test_get_rejects_non_hashes(tmp_path, bad):
    with pytest.raises(BadRevision):
        SpecStore(tmp_path).get(bad)


def test_memory_cache_is_lru_bounded(tmp_path):
    for rev in (REV, REV2, REV3):
        write(tmp_path / f"{rev}.Histograms.json", {"FLAG": DEFINITIONS["FLAG"]})
    store = SpecStore(tmp_path, max_revisions=2)
    first = store.get(REV)
    assert store.get(REV) is first and store.loads == 1
    store.get(REV2)
    store.get(REV)                          # REV is now the most recent
    store.get(REV3)                         # evicts REV2
    assert store.cached_revisions() == [REV, REV3]
    assert store.loads == 3
    store.get(REV2)
    assert store.loads == 4


# -- SpecStore: the histogram server -----------------------------------------

class FakeServer:
    def __init__(self, answers: dict[str, bytes | None | Exception],
                 gate: threading.Event | None = None):
        self.answers = answers
        self.gate = gate  # when set, a fetch waits for it: the load stays in flight
        self.entered = threading.Event()
        self.urls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, url: str) -> bytes | None:
        with self.lock:
            self.urls.append(url)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        answer = self.answers.get(url)
        if isinstance(answer, Exception):
            raise answer
        return answer


def raising_fetch(url):
    raise AssertionError(f"the server was asked for {url}")


def test_server_fetch_is_cached_on_disk(tmp_path):
    body = json.dumps(DEFINITIONS).encode()
    server = FakeServer({f"http://specs.example/h/{REV}.Histograms.json": body})
    cache = tmp_path / "cache"
    store = SpecStore(tmp_path / "specs", server_url="http://specs.example/h/", cache_dir=cache,
                      fetch=server)
    assert store.get(REV)["LIN"] == [0, 1, 4, 7, 10]
    assert server.urls == [f"http://specs.example/h/{REV}.Histograms.json"]
    assert (cache / f"{REV}.Histograms.json").read_bytes() == body
    assert [p.name for p in cache.iterdir()] == [f"{REV}.Histograms.json"]   # no temp files left
    store.get(REV)
    assert len(server.urls) == 1                                              # memory
    # A new store (a restart) uses the disk cache and never asks the server.
    again = SpecStore(tmp_path / "specs", server_url="http://specs.example/h", cache_dir=cache,
                      fetch=raising_fetch)
    assert again.get(REV) == store.get(REV)
    assert again.fetches == 0


def test_server_not_found_and_failures(tmp_path):
    base = "http://specs.example"
    server = FakeServer({f"{base}/{REV}.Histograms.json": None,
                         f"{base}/{REV2}.Histograms.json": OSError("connection refused"),
                         f"{base}/{REV3}.Histograms.json": b"<html>oops</html>"})
    now = [0.0]
    store = SpecStore(None, server_url=base, cache_dir=tmp_path, fetch=server,
                      retry_after=30, clock=lambda: now[0])
    with pytest.raises(UnknownRevision) as e:
        store.get(REV)
    assert not e.value.transient
    with pytest.raises(UnknownRevision) as e:
        store.get(REV2)
    assert e.value.transient and "connection refused" in e.value.detail
    now[0] = 31                                    # the server failed: not asked for 30 s
    with pytest.raises(UnknownRevision) as e:
        store.get(REV3)
    assert e.value.transient
    assert list(tmp_path.iterdir()) == []          # nothing bad was cached
    with pytest.raises(UnknownRevision):            # misses are remembered...
        store.get(REV3)
    assert len(server.urls) == 3
    now[0] = 62                                    # ...for retry_after seconds
    server.answers[f"{base}/{REV2}.Histograms.json"] = json.dumps(DEFINITIONS).encode()
    assert "EXP" in store.get(REV2)
    assert len(server.urls) == 4


def test_a_failed_server_is_not_asked_again_for_any_revision_within_retry_after(tmp_path):
    base = "http://specs.example"
    server = FakeServer({f"{base}/{REV}.Histograms.json": TimeoutError("timed out")})
    now = [0.0]
    store = SpecStore(None, server_url=base, fetch=server, retry_after=30,
                      clock=lambda: now[0])
    with pytest.raises(UnknownRevision):
        store.get(REV)
    with pytest.raises(UnknownRevision) as e:  # another revision: no second timeout
        store.get(REV2)
    assert e.value.transient and "not asked" in e.value.detail and "timed out" in e.value.detail
    assert len(server.urls) == 1
    now[0] = 31
    server.answers[f"{base}/{REV2}.Histograms.json"] = json.dumps(DEFINITIONS).encode()
    assert "EXP" in store.get(REV2)             # recovered by itself
    assert len(server.urls) == 2


def test_server_without_cache_dir(tmp_path):
    server = FakeServer({f"http://s/{REV}.Histograms.json": json.dumps(DEFINITIONS).encode()})
    store = SpecStore(tmp_path, server_url="http://s", fetch=server)
    assert "FLAG" in store.get(REV)
    assert list(tmp_path.iterdir()) == []


def test_local_files_come_before_the_server(tmp_path):
    write(tmp_path / f"{REV}.Histograms.json", DEFINITIONS)
    store = SpecStore(tmp_path, server_url="http://s", cache_dir=tmp_path / "c",
                      fetch=raising_fetch)
    assert "LIN" in store.get(REV)


def test_server_url_must_be_http(tmp_path):
    with pytest.raises(ValueError):
        SpecStore(tmp_path, server_url="file:///etc")


def test_concurrent_gets_load_once(tmp_path):
    gate = threading.Event()
    server = FakeServer({f"http://s/{REV}.Histograms.json": json.dumps(DEFINITIONS).encode()},
                        gate=gate)
    store = SpecStore(None, server_url="http://s", cache_dir=tmp_path, fetch=server)
    results, errors = [], []

    def worker():
        try:
            results.append(store.get(REV))
        except Exception as e:   # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    threads[0].start()
    assert server.entered.wait(30)  # one load is in flight...
    for t in threads[1:]:
        t.start()                    # ...while the others ask for the same revision
    gate.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert len(server.urls) == 1 and store.loads == 1


class _Handler(http.server.BaseHTTPRequestHandler):
    body = json.dumps(DEFINITIONS).encode()

    def do_GET(self):  # noqa: N802
        if self.path == f"/specs/{REV}.Histograms.json":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)
        elif self.path == f"/specs/{REV2}.Histograms.json":
            self.send_error(500)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


def test_default_fetch_over_http(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}/specs"
        fetch = default_fetch(timeout=5)
        assert fetch(f"{base}/{REV}.Histograms.json") == _Handler.body
        assert fetch(f"{base}/{REV3}.Histograms.json") is None
        store = SpecStore(None, server_url=base, cache_dir=tmp_path, timeout=5)
        assert store.get(REV)["EXP"] == [0, 1, 5, 22, 100]
        with pytest.raises(UnknownRevision) as e:
            store.get(REV3)
        assert not e.value.transient
        with pytest.raises(UnknownRevision) as e:
            store.get(REV2)
        assert e.value.transient and "500" in e.value.detail
        with pytest.raises(ValueError):
            default_fetch(timeout=5, max_bytes=10)(f"{base}/{REV}.Histograms.json")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
