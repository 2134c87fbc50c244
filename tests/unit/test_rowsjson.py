"""The compiled fast path of histogram conversion against the Python conversion.

convert_payload(json_rows=True) may use appliance/convert/_rowsjson.c; every
ping, regular or hostile, must give the same bytes from orjson.dumps, the same
unknown histograms and the same error as convert_payload(json_rows=False),
which is the Python conversion alone.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.convert import rowsjson
from appliance.convert.payload import ConversionError, convert_payload
from appliance.convert.specs import SpecStore
from tests.unit.test_histograms_corpus import CORPUS, HISTOGRAMS, read_v1_log

REV = "0123456789ab"
REVISION = f"http://hg.mozilla.org/releases/mozilla-release/rev/{REV}"
DEFINITIONS = {   # buckets: LIN 0 1 4 7 10; EXP 0 1 5 22 100; FLAG 0 1 2
    "LIN": {"kind": "linear", "low": 1, "high": 10, "n_buckets": 5, "description": "x"},
    "EXP": {"kind": "exponential", "high": 100, "n_buckets": 5, "description": "x"},
    "FLAG": {"kind": "flag", "description": "x"},
    'QUOTE"D': {"kind": "flag", "description": "a name orjson escapes"},
    "ÜMLAUT": {"kind": "flag", "description": "a name beyond ASCII"},
}
ROOT = Path(__file__).resolve().parents[2]

needs_extension = pytest.mark.skipif(not rowsjson.COMPILED, reason="extension not built")


# Precomputed layouts (a .buckets.json) that no definition yields: the fast path searches
# ascending 64-bit bounds and asks the index for the others.
PRECOMPUTED = {
    "TIES": [0, 1, 1, 2],                   # the index keeps the last position of "1"
    "NEGATIVE": [-10, -1, 0, 4],
    "DESCENDING": [0, 5, 3],
    "HUGE": [0, 2**62, 2**63 - 1, 2**64],
    "MAXIMUM": [0, 99, 999_999_999_999_999_999],
}


def write_specs(spec_dir: Path) -> Path:
    """The spec of REV (DEFINITIONS and PRECOMPUTED) written into `spec_dir`."""
    (spec_dir / f"{REV}.Histograms.json").write_text(json.dumps(DEFINITIONS))
    (spec_dir / f"{REV}.buckets.json").write_text(json.dumps({"histograms": {
        name: {"buckets": bounds} for name, bounds in PRECOMPUTED.items()}}))
    return spec_dir


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> SpecStore:
    return SpecStore(write_specs(tmp_path_factory.mktemp("specs")))


def ping(histograms) -> dict:
    return {"ver": 1, "info": {"reason": "saved-session", "revision": REVISION},
            "histograms": histograms}


def outcome(doc, specs: SpecStore, json_rows: bool):
    """What converting (a copy of) `doc` gives: the bytes written and the unknown
    histograms, the conversion error, or the error writing it."""
    doc = copy.deepcopy(doc)
    try:
        result = convert_payload(doc, specs, json_rows=json_rows)
    except ConversionError as e:
        return ("error", e.reason, e.detail, e.histogram)
    try:
        text = orjson.dumps(result.payload)
    except orjson.JSONEncodeError as e:
        return ("unwritable", str(e))
    return ("ok", text, result.unknown_histograms)


def fast_path_taken(doc, specs: SpecStore) -> bool:
    """Whether the compiled path converts `doc` itself rather than declining it."""
    spec = specs.get(REV)
    return rowsjson.rows_json(copy.deepcopy(doc["histograms"]), spec.row_table, {}) is not None


def assert_same(doc, specs: SpecStore):
    assert outcome(doc, specs, True) == outcome(doc, specs, False)


# -- regular pings: the fast path converts them, to the same bytes ------------------------

REGULAR = {
    "counts and every statistic": {"LIN": {
        "range": [1, 10], "bucket_count": 5, "histogram_type": 1,
        "values": {"0": 2, "4": 7, "10": 1}, "sum": 38, "log_sum": 1.5,
        "log_sum_squares": 2.25, "sum_squares_lo": 300, "sum_squares_hi": 0}},
    "statistics absent or null": {"EXP": {"values": {"22": 3, "5": 1}, "sum": None}},
    "empty values": {"FLAG": {"values": {}}},
    "STARTUP_ names and unknown names": {
        "STARTUP_LIN": {"values": {"1": 1}}, "NOPE": {"values": "anything"},
        "STARTUP_NOPE": [1], "FLAG": {"values": {"2": 4}}},
    "only unknown histograms": {"NOPE": {"values": {"0": 1}}},
    "64-bit extremes": {"LIN": {"values": {"0": 0, "1": 2**64 - 1}, "sum": -(2**63),
                                "log_sum": 2**64 - 1, "sum_squares_lo": 2**63}},
    "floats orjson writes in every form": {"EXP": {"values": {"0": 1}, "sum": 1e16,
                                                   "log_sum": 1e-7, "log_sum_squares": -0.0,
                                                   "sum_squares_lo": 123456.789,
                                                   "sum_squares_hi": 5e-324}},
    "not-a-number and infinity, written as null": {"LIN": {
        "values": {"0": 1}, "sum": float("nan"), "log_sum": float("inf")}},
    "extra keys, also beyond ASCII": {"LIN": {"values": {"4": 1}, "ünïcode": 1, "x": [1]}},
    "tied bounds": {"TIES": {"values": {"1": 5, "2": 1}}},
    "negative bounds": {"NEGATIVE": {"values": {"-10": 1, "-1": 2, "4": 3}}},
    "descending bounds": {"DESCENDING": {"values": {"5": 1, "3": 2}}},
    "bounds beyond 64 bits": {"HUGE": {"values": {"9223372036854775807": 1,
                                                  "18446744073709551616": 2}}},
    "the largest bound a key of 18 digits holds": {"MAXIMUM": {"values": {
        "999999999999999999": 7, "99": 1}}},
}


@needs_extension
@pytest.mark.parametrize("name", list(REGULAR))
def test_regular_pings_take_the_fast_path_and_give_the_same_bytes(specs, name):
    doc = ping(REGULAR[name])
    assert fast_path_taken(doc, specs)
    assert_same(doc, specs)


@needs_extension
def test_a_fast_ping_is_written_as_the_rows_would_be(specs):
    doc = ping(copy.deepcopy(REGULAR["counts and every statistic"]))
    result = convert_payload(doc, specs, json_rows=True)
    assert isinstance(doc["histograms"], orjson.Fragment)
    assert orjson.loads(orjson.dumps(result.payload))["histograms"] == {
        "LIN": [2, 0, 7, 0, 1, 38, 1.5, 2.25, 300, 0]}


# -- irregular pings: the fast path declines, and the Python conversion decides -----------

IRREGULAR = {
    "histogram not an object": {"LIN": [1, 2]},
    "histogram null": {"LIN": None},
    "no values": {"LIN": {"sum": 1}},
    "values a list": {"LIN": {"values": [1]}},
    "key not a bucket": {"LIN": {"values": {"3": 1}}},
    "key with a leading zero": {"LIN": {"values": {"04": 1}}},
    "key with a plus": {"LIN": {"values": {"+4": 1}}},
    "key and its other form": {"LIN": {"values": {"4": 1, "04": 2}}},
    "key minus zero": {"LIN": {"values": {"-0": 1}}},
    "key with spaces": {"LIN": {"values": {" 4": 1}}},
    "key a float": {"LIN": {"values": {"4.0": 1}}},
    "key huge": {"LIN": {"values": {"9" * 40: 1}}},
    "count negative": {"LIN": {"values": {"0": -1}}},
    "count float": {"LIN": {"values": {"0": 1.0}}},
    "count bool": {"LIN": {"values": {"0": True}}},
    "count string": {"LIN": {"values": {"0": "1"}}},
    "count null": {"LIN": {"values": {"0": None}}},
    "count 2**64": {"LIN": {"values": {"0": 2**64}}},
    "count 2**70": {"LIN": {"values": {"0": 2**70}}},
    "statistic a string": {"LIN": {"values": {"0": 1}, "sum": "12"}},
    "statistic a bool": {"LIN": {"values": {"0": 1}, "log_sum": False}},
    "statistic an object": {"LIN": {"values": {"0": 1}, "sum_squares_hi": {}}},
    "statistic below 64 bits": {"LIN": {"values": {"0": 1}, "sum": -(2**63) - 1}},
    "statistic beyond 64 bits": {"LIN": {"values": {"0": 1}, "sum": 2**64}},
    "a name orjson escapes": {'QUOTE"D': {"values": {"1": 1}}},
    "a name beyond ASCII": {"ÜMLAUT": {"values": {"1": 1}}},
    "key between tied bounds' neighbours": {"TIES": {"values": {"3": 1}}},
    "key of 19 digits": {"MAXIMUM": {"values": {"1000000000000000000": 1}}},
    "key beyond 64 bits": {"MAXIMUM": {"values": {"99999999999999999999": 1}}},
    "a bad histogram after good ones": {"FLAG": {"values": {"0": 1}}, "NOPE": {},
                                        "LIN": {"values": {"0": -5}}},
}


@needs_extension
@pytest.mark.parametrize("name", list(IRREGULAR))
def test_irregular_pings_are_declined_and_end_as_in_python(specs, name):
    doc = ping(IRREGULAR[name])
    assert not fast_path_taken(doc, specs)
    assert_same(doc, specs)


def test_the_errors_are_the_python_conversions(specs):
    # The outcome compared above really is an error for these (the comparison is not vacuous).
    assert outcome(ping(IRREGULAR["count negative"]), specs, True)[:2] == ("error", "bad_count")
    assert outcome(ping(IRREGULAR["key with a leading zero"]), specs, True)[0] == "ok"
    assert outcome(ping(IRREGULAR["count 2**70"]), specs, True)[0] == "unwritable"


def test_declining_leaves_no_unknown_histograms_behind(specs):
    # rows_json fills `unknown` as it goes; convert_payload empties it when it declines.
    doc = ping({"NOPE": {"values": {}}, "LIN": {"values": {"04": 1}}, "ZZZ": 1})
    result = convert_payload(doc, specs, json_rows=True)
    assert result.unknown_histograms == ["NOPE", "ZZZ"]


@needs_extension
def test_a_float_list_it_cannot_splice_is_an_error_not_a_wrong_text(specs):
    hists = {"LIN": {"values": {"0": 1}, "log_sum": 1.5, "log_sum_squares": 2.5}}
    with pytest.raises(ValueError, match="unexpected list of floats"):
        rowsjson._compiled(hists, specs.get(REV).row_table, {}, lambda floats: b"[1.5]")


# -- anything at all ----------------------------------------------------------------------

NAMES = st.sampled_from(["LIN", "EXP", "FLAG", "STARTUP_LIN", "STARTUP_FLAG", "NOPE",
                         'QUOTE"D', "ÜMLAUT", "", "STARTUP_", *PRECOMPUTED])
INTEGERS = st.one_of(st.integers(-3, 200), st.integers(-(2**65), 2**65),
                     st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63),
                                      -(2**63) - 1]))
NUMBERS = st.one_of(INTEGERS, st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.none(), st.text(max_size=3))
KEYS = st.one_of(st.sampled_from(["0", "1", "2", "4", "5", "7", "10", "22", "100"]),
                 st.sampled_from(["04", "+4", "-0", "4.0", " 1", "1 ", "٤", "1e1", "-10", "-1",
                                  "3", "9223372036854775807", "999999999999999999"]),
                 st.integers(-5, 200).map(str), st.text(max_size=4))
STATISTIC_NAMES = st.sampled_from(["sum", "log_sum", "log_sum_squares", "sum_squares_lo",
                                   "sum_squares_hi", "range", "other"])
HISTOGRAMS_ = st.one_of(
    st.fixed_dictionaries({"values": st.dictionaries(KEYS, NUMBERS, max_size=6)},
                          optional={"sum": NUMBERS, "log_sum": NUMBERS}),
    st.dictionaries(STATISTIC_NAMES, NUMBERS, max_size=4).flatmap(
        lambda stats: st.dictionaries(KEYS, INTEGERS, max_size=5).map(
            lambda values: {**stats, "values": values})),
    st.dictionaries(st.sampled_from(["values", "sum"]), NUMBERS, max_size=2),
    NUMBERS, st.lists(st.integers(), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(histograms=st.dictionaries(NAMES, HISTOGRAMS_, max_size=5))
def test_any_ping_converts_the_same_either_way(specs, histograms):
    assert_same(ping(histograms), specs)


# -- the real 2013 ping and the fallback ----------------------------------------------------

# sha256 of orjson.dumps(converted "histograms") of the real ping, as converted before the
# fast path existed (convert_payload with the Python loop alone).
REAL_PING_HISTOGRAMS_SHA256 = "aa415adea9df196535eb6438762aca1ee394a0da17c7b8e0197d25f85db53606"


@pytest.mark.skipif(not (CORPUS / "telemetry1.log").exists(), reason=f"no corpus at {CORPUS}")
@pytest.mark.parametrize("json_rows", [False, True])
def test_real_ping_converts_to_the_same_bytes_as_before(json_rows):
    [(_path, body)] = read_v1_log(CORPUS / "telemetry1.log")
    doc = orjson.loads(gzip.decompress(body))
    specs = SpecStore(HISTOGRAMS)
    if json_rows and rowsjson.COMPILED:
        assert rowsjson.rows_json(dict(doc["histograms"]), specs.get("a55c55edf302").row_table,
                                  {}) is not None
    convert_payload(doc, specs, json_rows=json_rows)
    digest = hashlib.sha256(orjson.dumps(doc["histograms"])).hexdigest()
    assert digest == REAL_PING_HISTOGRAMS_SHA256


def test_without_the_extension_everything_is_converted_in_python(specs, monkeypatch):
    doc = ping(REGULAR["counts and every statistic"])
    expected = outcome(doc, specs, False)
    monkeypatch.setattr(rowsjson, "_compiled", None)
    assert rowsjson.rows_json(copy.deepcopy(doc["histograms"]), {}, {}) is None
    assert outcome(doc, specs, True) == expected


# -- the build --------------------------------------------------------------------------------

def _compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc)


@pytest.mark.skipif(_compiler() is None, reason="no C compiler")
def test_the_extension_is_built_where_a_compiler_exists():
    assert rowsjson.COMPILED, "pip install -e . should have compiled appliance/convert/_rowsjson.c"


def test_an_install_without_a_compiler_goes_on_without_the_extension(tmp_path):
    # setup.py marks the extension optional: a failing compiler is a warning, not an error.
    run = subprocess.run(
        [sys.executable, str(ROOT / "setup.py"), "-q", "build_ext",
         "--build-lib", str(tmp_path / "lib"), "--build-temp", str(tmp_path / "tmp")],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "CC": "false", "LDSHARED": "false"},
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "_rowsjson" in run.stderr           # the warning names what was left out
    assert not list((tmp_path / "lib").rglob("_rowsjson*"))


def test_a_source_distribution_carries_everything_the_extension_is_built_from(tmp_path):
    # Without its headers an sdist would install, silently, without the extension.
    run = subprocess.run(
        [sys.executable, str(ROOT / "setup.py"), "-q", "egg_info", "--egg-base", str(tmp_path),
         "sdist", "-d", str(tmp_path / "dist")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    [archive] = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {Path(n).name for n in tar.getnames() if "/appliance/convert/" in n}
    sources = {p.name for p in (ROOT / "appliance" / "convert").iterdir()
               if p.suffix in (".c", ".h")}
    assert len(sources) >= 6 and sources <= names
