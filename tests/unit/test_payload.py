"""Converting classic pings' histograms to the compact form, with hand-written pings."""

from __future__ import annotations

import copy
import json

import pytest

from appliance.convert.payload import (
    REASONS,
    ConversionError,
    convert_payload,
)
from appliance.convert.specs import SpecStore

REV = "0123456789ab"
REVISION = f"http://hg.mozilla.org/releases/mozilla-release/rev/{REV}"

DEFINITIONS = {   # buckets: LIN 0 1 4 7 10; EXP 0 1 5 22 100; FLAG, BOOL 0 1 2
    "LIN": {"kind": "linear", "low": 1, "high": 10, "n_buckets": 5, "description": "x"},
    "EXP": {"kind": "exponential", "high": 100, "n_buckets": 5, "description": "x"},
    "FLAG": {"kind": "flag", "description": "x"},
    "BOOL": {"kind": "boolean", "description": "x"},
}


@pytest.fixture
def specs(tmp_path) -> SpecStore:
    (tmp_path / f"{REV}.Histograms.json").write_text(json.dumps(DEFINITIONS))
    return SpecStore(tmp_path)


def ping(histograms=None, **extra) -> dict:
    doc = {"ver": 1, "info": {"reason": "saved-session", "revision": REVISION},
           "simpleMeasurements": {"uptime": 3}}
    if histograms is not None:
        doc["histograms"] = histograms
    doc.update(extra)
    return doc


def hist(values, **stats) -> dict:
    return {"range": [1, 10], "bucket_count": 5, "histogram_type": 1, "values": values, **stats}


def test_converts_to_arrays_in_spec_order(specs):
    doc = ping({
        "LIN": hist({"0": 2, "4": 7, "10": 1}, sum=38, log_sum=1.5, log_sum_squares=2.25,
                    sum_squares_lo=300, sum_squares_hi=0),
        "EXP": hist({"22": 3, "5": 1}, sum=71, sum_squares_lo=1477, sum_squares_hi=0),
        "FLAG": hist({"0": 1, "1": 0}, sum=0),
    })
    result = convert_payload(doc, specs)
    assert result.converted and result.revision == REV and result.unknown_histograms == []
    assert result.payload is doc
    assert doc["ver"] == 2
    assert doc["histograms"] == {
        "LIN": [2, 0, 7, 0, 1, 38, 1.5, 2.25, 300, 0],
        "EXP": [0, 0, 1, 3, 0, 71, -1, -1, 1477, 0],        # no log_sum(_squares): -1
        "FLAG": [1, 0, 0, 0, -1, -1, -1, -1],               # only sum
    }
    assert set(doc) == {"ver", "info", "simpleMeasurements", "histograms"}
    assert doc["simpleMeasurements"] == {"uptime": 3}       # the rest is untouched
    assert doc["info"]["revision"] == REVISION


def test_null_statistics_count_as_absent(specs):
    doc = ping({"BOOL": hist({"1": 4}, sum=None, log_sum=None)})
    row = convert_payload(doc, specs).payload["histograms"]["BOOL"]
    assert row == [0, 4, 0, -1, -1, -1, -1, -1]


def test_startup_histograms_use_the_base_spec(specs):
    doc = ping({"STARTUP_EXP": hist({"100": 2}, sum=250), "EXP": hist({"1": 1}, sum=1)})
    out = convert_payload(doc, specs).payload["histograms"]
    assert out == {"STARTUP_EXP": [0, 0, 0, 0, 2, 250, -1, -1, -1, -1],
                   "EXP": [0, 1, 0, 0, 0, 1, -1, -1, -1, -1]}


def test_unknown_histograms_are_kept_aside(specs):
    mystery = hist({"3": 1, "junk": "whatever"}, sum=3)
    startup_mystery = {"values": {"9": 9}}
    doc = ping({"FLAG": hist({"0": 1}), "MYSTERY": mystery, "STARTUP_MYSTERY": startup_mystery})
    before = copy.deepcopy(doc)
    result = convert_payload(doc, specs)
    assert result.converted
    assert sorted(result.unknown_histograms) == ["MYSTERY", "STARTUP_MYSTERY"]
    assert doc["histograms"] == {"FLAG": [1, 0, 0, -1, -1, -1, -1, -1]}
    # Out of the record (a 2013 job iterating its keys sees the 2013 keys), returned as sent.
    assert set(doc) == set(before)
    assert result.unknown == {"MYSTERY": before["histograms"]["MYSTERY"],
                              "STARTUP_MYSTERY": before["histograms"]["STARTUP_MYSTERY"]}


def test_a_ping_of_its_own_unknown_histograms_key_keeps_it(specs):
    doc = ping({"FLAG": hist({"0": 1})}, unknownHistograms={"X": 1})
    assert convert_payload(doc, specs).payload["unknownHistograms"] == {"X": 1}


def fxos_ping(**extra) -> dict:
    return {"ver": 3, "pingID": "p-1", "deviceinfo.update_channel": "nightly",
            "deviceinfo.platform_build_id": "20140101000000",
            "deviceinfo.platform_version": "1.3.0.0-prerelease", "screen.width": 320,
            "info": {"reason": "old"}, **extra}


def test_fxos_pings_are_converted_as_in_2013(specs):
    doc = fxos_ping()
    result = convert_payload(doc, specs)
    assert result.converted and result.payload is doc and result.unknown == {}
    assert doc == {"ver": 2, "deviceinfo.update_channel": "nightly",
                   "deviceinfo.platform_build_id": "20140101000000",
                   "deviceinfo.platform_version": "1.3.0.0-prerelease", "screen.width": 320,
                   "info": {"reason": "ftu", "appName": "FirefoxOS",
                            "appUpdateChannel": "nightly", "appBuildID": "20140101000000",
                            "appVersion": "1.3.0.0-prerelease"}}


def test_fxos_dimensions_missing_become_unknown(specs):
    doc = convert_payload({"ver": 3, "deviceinfo.platform_version": None}, specs).payload
    assert doc == {"ver": 2, "deviceinfo.platform_version": None,
                   "info": {"reason": "ftu", "appName": "FirefoxOS", "appUpdateChannel": "UNKNOWN",
                            "appBuildID": "UNKNOWN", "appVersion": None}}


def test_non_canonical_bucket_keys_are_accepted_once(specs):
    doc = ping({"LIN": hist({"04": 2, "+7": 1})})
    assert convert_payload(doc, specs).payload["histograms"]["LIN"][:5] == [0, 0, 2, 1, 0]
    with pytest.raises(ConversionError) as e:
        convert_payload(ping({"LIN": hist({"4": 2, "04": 1})}), specs)
    assert e.value.reason == "invalid_bucket"


def test_empty_values_and_histograms(specs):
    assert convert_payload(ping({"FLAG": hist({})}), specs).payload["histograms"] == {
        "FLAG": [0, 0, 0, -1, -1, -1, -1, -1]}
    # No histogram at all: nothing to look up, even for a revision with no spec.
    doc = ping({})
    doc["info"]["revision"] = "http://hg.mozilla.org/mozilla-central/rev/ffffffffffff"
    result = convert_payload(doc, specs)
    assert result.converted and doc["ver"] == 2 and doc["histograms"] == {}


def test_v1_without_revision_or_histograms_only_changes_ver(specs):
    doc = {"ver": 1, "info": {"reason": "android-anr-report"}, "androidANR": "..."}
    result = convert_payload(doc, specs)
    assert result.converted and doc == {"ver": 2, "info": {"reason": "android-anr-report"},
                                        "androidANR": "..."}


def test_converted_ping_passes_through(specs):
    doc = {"ver": 2, "info": {"revision": REVISION}, "histograms": {"LIN": [1, 2, 3]}}
    before = copy.deepcopy(doc)
    result = convert_payload(doc, specs)
    assert not result.converted and result.payload == before


@pytest.mark.parametrize("doc", [
    {"namespace": "anything", "histograms": {"LIN": {"values": {"999": 1}}}},   # no ver
    {"version": 4, "type": "main", "payload": {}},                              # unified ping
    {"ver": 4, "deviceinfo.update_channel": "default"},
    {"ver": "1", "info": {"revision": REVISION}, "histograms": {"LIN": {"values": {"9": 1}}}},
    {"ver": True, "info": {}},
    {"ver": 1.0, "info": {}},
    {"ver": None},
])
def test_other_documents_are_returned_unchanged(specs, doc):
    before = copy.deepcopy(doc)
    result = convert_payload(doc, specs)
    assert not result.converted and result.payload == before and result.unknown_histograms == []


def test_other_versions_can_be_rejected(specs):
    with pytest.raises(ConversionError) as e:
        convert_payload({"ver": 4}, specs, unknown_version="reject")
    assert e.value.reason == "unsupported_version"
    assert convert_payload({"ver": 3}, specs, unknown_version="reject").converted
    assert not convert_payload({"ver": 2}, specs, unknown_version="reject").converted
    assert not convert_payload({"no": "ver"}, specs, unknown_version="reject").converted
    with pytest.raises(ValueError):
        convert_payload({"ver": 3}, specs, unknown_version="maybe")


ERRORS = [
    ([1, 2], "not_an_object"),
    ("text", "not_an_object"),
    (None, "not_an_object"),
    ({"ver": 1, "histograms": {}}, "missing_info"),
    ({"ver": 1, "info": "x", "histograms": {}}, "missing_info"),
    ({"ver": 1, "info": {}, "histograms": {}}, "missing_revision"),
    (ping({}, info={"revision": "http://hg.mozilla.org/x/rev/tip"}), "bad_revision"),
    (ping({}, info={"revision": None}), "bad_revision"),
    (ping(), "missing_histograms"),
    (ping({"FLAG": hist({"0": 1})},
          info={"revision": "http://hg.mozilla.org/x/rev/ffffffffffff"}), "unknown_revision"),
    (ping([1]), "bad_histogram"),
    (ping({"FLAG": [1, 0, 0]}), "bad_histogram"),
    (ping({"FLAG": {"sum": 1}}), "bad_histogram"),
    (ping({"FLAG": {"values": [1, 0]}}), "bad_histogram"),
    (ping({"FLAG": hist({"0": 1}, sum="7")}), "bad_histogram"),
    (ping({"FLAG": hist({"0": 1}, log_sum=True)}), "bad_histogram"),
    (ping({"LIN": hist({"5": 1})}), "invalid_bucket"),          # not a bucket of the spec
    (ping({"LIN": hist({"four": 1})}), "invalid_bucket"),
    (ping({"LIN": hist({"4.0": 1})}), "invalid_bucket"),
    (ping({"LIN": hist({"": 1})}), "invalid_bucket"),
    (ping({"STARTUP_LIN": hist({"3": 1})}), "invalid_bucket"),
    (ping({"LIN": hist({"4": -1})}), "bad_count"),
    (ping({"LIN": hist({"4": 1.5})}), "bad_count"),
    (ping({"LIN": hist({"4": 2.0})}), "bad_count"),
    (ping({"LIN": hist({"4": "2"})}), "bad_count"),
    (ping({"LIN": hist({"4": None})}), "bad_count"),
    (ping({"LIN": hist({"4": True})}), "bad_count"),
]


@pytest.mark.parametrize(("doc", "reason"), ERRORS)
def test_errors_have_a_reason_and_leave_the_payload_untouched(specs, doc, reason):
    before = copy.deepcopy(doc)
    with pytest.raises(ConversionError) as e:
        convert_payload(doc, specs)
    assert e.value.reason == reason
    assert e.value.reason in REASONS and e.value.detail
    assert str(e.value).startswith(reason + ": ")
    assert doc == before


def test_error_names_the_histogram(specs):
    with pytest.raises(ConversionError) as e:
        convert_payload(ping({"FLAG": hist({"0": 1}), "LIN": hist({"5": 1})}), specs)
    assert e.value.histogram == "LIN" and "'5'" in e.value.detail


def test_a_server_that_cannot_be_asked_is_spec_unavailable_not_unknown_revision(tmp_path):
    def down(url):
        raise TimeoutError("timed out")

    store = SpecStore(None, server_url="http://specs.example", fetch=down)
    with pytest.raises(ConversionError) as e:
        convert_payload(ping({"FLAG": hist({"0": 1})}), store)
    assert e.value.reason == "spec_unavailable" and e.value.transient
    assert "converted again" in e.value.detail and "TimeoutError" in e.value.detail


def test_reasons_are_the_documented_set():
    assert REASONS == {"not_an_object", "missing_info", "missing_revision", "bad_revision",
                       "missing_histograms", "unknown_revision", "spec_unavailable",
                       "bad_histogram",
                       "invalid_bucket", "bad_count", "unsupported_version"}
    with pytest.raises(ValueError):
        ConversionError("whatever", "x")
