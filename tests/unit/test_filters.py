"""Partition filters and the pruning partition walk (DESIGN 3.3, 3.6)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from appliance.storage.filters import Filter
from appliance.storage.keys import parse_key, partition_key
from appliance.storage.schema import Schema, SchemaError, SchemaRegistry
from appliance.storage.walk import Partition, walk_partitions

TELEMETRY = Schema.telemetry_default()
GENERIC = Schema.generic_default()

FILTER_2013 = {
    "version": 1,
    "dimensions": [
        {"field_name": "reason", "allowed_values": ["saved-session"]},
        {"field_name": "appName", "allowed_values": ["Firefox", "Fennec"]},
        {"field_name": "appUpdateChannel", "allowed_values": ["nightly", "aurora"]},
        {"field_name": "appVersion", "allowed_values": "*"},
        {"field_name": "appBuildID", "allowed_values": {"min": "20130600", "max": "20130607"}},
        {"field_name": "submission_date", "allowed_values": "*"},
    ],
}


def test_a_2013_filter_prunes_level_by_level():
    f = Filter.from_dict(FILTER_2013)
    assert f.allows_prefix("telemetry", [])
    assert f.allows_prefix("telemetry", ["saved-session"])
    assert not f.allows_prefix("telemetry", ["idle-daily"])
    assert f.allows_prefix("telemetry", ["saved-session", "Fennec", "aurora", "25.0a2"])
    assert not f.allows_prefix("telemetry", ["saved-session", "Thunderbird"])
    assert not f.allows_prefix("telemetry", ["saved-session", "Firefox", "release"])
    full = ["saved-session", "Firefox", "nightly", "24.0a1", "20130603030204", "20130604"]
    assert f.allows("telemetry", full)
    assert not f.allows("telemetry", full[:5])                       # not a full key
    assert not f.allows_prefix("telemetry", [*full, "extra"])        # deeper than the schema
    assert not f.allows("telemetry", [*full[:4], "20130608000000", "20130609"])
    assert not f.allows("telemetry", [*full[:4], "OTHER", "20130609"])


def test_the_default_namespace_is_telemetry():
    f = Filter.from_dict(FILTER_2013)
    assert f.allows_tree("telemetry")
    assert not f.allows_tree("addons")
    assert not f.allows_prefix("addons", [], schema=GENERIC)
    assert not f.allows_tree("invalid/telemetry")
    assert not f.allows_tree("invalid")


def test_submission_date_ranges():
    f = Filter.from_dict({"namespace": "*", "dimensions": [
        {"field_name": "submission_date", "allowed_values": {"min": "20131001", "max": "20131031"}},
    ]})
    day = ["main", "crash", "1", "release"]
    assert f.allows("addons", [*day, "20131001"])
    assert f.allows("addons", [*day, "20131031"])
    assert f.allows("addons", [*day, "20131015"])
    assert not f.allows("addons", [*day, "20130930"])
    assert not f.allows("addons", [*day, "20131101"])
    assert not f.allows("addons", [*day, "UNKNOWN"])
    assert not f.allows("addons", [*day, "OTHER"])
    tel = ["saved-session", "Firefox", "release", "24.0", "20130910160258"]
    assert f.allows("telemetry", [*tel, "20131002"])
    assert not f.allows("telemetry", [*tel, "20131102"])
    open_ended = Filter.from_dict({"dimensions": [
        {"field_name": "submission_date", "allowed_values": {"min": "20131015"}}]})
    assert open_ended.allows("telemetry", [*tel, "20991231"])
    assert not open_ended.allows("telemetry", [*tel, "20131014"])


def test_list_items_are_compared_sanitised_and_other_unknown_are_ordinary():
    f = Filter.from_dict({"dimensions": [
        {"field_name": "appName", "allowed_values": ["Firefox OS", "OTHER", "UNKNOWN"]}]})
    assert f.allows_prefix("telemetry", ["x", "Firefox_OS"])
    assert f.allows_prefix("telemetry", ["x", "OTHER"])
    assert f.allows_prefix("telemetry", ["x", "UNKNOWN"])
    assert not f.allows_prefix("telemetry", ["x", "Firefox"])
    assert not f.allows_prefix("telemetry", ["x", "Firefox OS"])  # never a key segment


def test_conditions_follow_field_names_not_positions():
    f = Filter.from_dict({"namespace": ["addons", "telemetry"], "dimensions": [
        {"field_name": "submission_date", "allowed_values": ["20131002"]},
        {"field_name": "docType", "allowed_values": "*"}]})
    assert f.allows("addons", ["main", "crash", "1", "release", "20131002"])
    assert not f.allows("addons", ["main", "20131002", "1", "x", "y"])
    # docType is "*", so a telemetry tree (which has no docType) may still match.
    assert f.allows("telemetry", ["a", "b", "c", "d", "e", "20131002"])


def test_a_condition_on_a_field_the_tree_lacks_excludes_the_tree():
    f = Filter.from_dict({"namespace": "*", "dimensions": [
        {"field_name": "appName", "allowed_values": ["Firefox"]}]})
    assert f.allows_prefix("telemetry", ["saved-session", "Firefox"])
    assert not f.allows_prefix("addons", [])
    assert not f.allows("addons", ["main", "crash", "1", "release", "20131002"])


def test_namespaces_are_given_as_submitted():
    f = Filter.from_dict({"namespace": ["invalid", "my app"]})
    assert f.allows_tree("invalid_") and f.allows_tree("my_app")
    assert not f.allows_tree("invalid") and not f.allows_tree("telemetry")
    assert Filter.from_dict({"namespace": "*"}).allows_tree("anything")
    assert Filter.from_dict({"namespace": ["a", "*"]}).allows_tree("b")


def test_the_side_tree_is_read_only_when_named():
    side = "telemetry-unknown-histograms"
    assert not Filter.from_dict({}).allows_tree(side)
    assert not Filter.from_dict({"namespace": "*"}).allows_tree(side)
    named = Filter.from_dict({"namespace": side, "dimensions": [
        {"field_name": "appName", "allowed_values": ["Firefox"]}]})
    assert named.allows_tree(side) and not named.allows_tree("telemetry")
    assert named.allows(side, ["saved-session", "Firefox", "release", "23.0", "1", "20131002"])
    assert Filter.all().allows_tree(side)     # store ls and export see it


def test_include_invalid():
    valid_only = Filter.from_dict({"namespace": "telemetry"})
    both = Filter.from_dict({"include_invalid": True})
    only = Filter.from_dict({"include_invalid": "only"})
    assert (valid_only.allows_tree("telemetry"), valid_only.allows_tree("invalid/telemetry")) \
        == (True, False)
    assert (both.allows_tree("telemetry"), both.allows_tree("invalid/telemetry")) == (True, True)
    assert (only.allows_tree("telemetry"), only.allows_tree("invalid/telemetry")) == (False, True)
    assert not both.allows_tree("invalid/addons")
    assert not valid_only.may_select_invalid and both.may_select_invalid


def test_filter_all_and_an_empty_filter():
    f = Filter.all()
    for tree in ("telemetry", "addons", "invalid/telemetry", "invalid/invalid_"):
        assert f.allows_prefix(tree, [])
    assert f.allows("addons", ["debug", "b", "c", "d", "e"])
    assert not f.allows("addons", ["a", "b", "c"])
    assert not f.allows_tree("invalid")
    empty = Filter.from_dict({})
    assert empty.allows("telemetry", ["a"] * 6) and not empty.allows_tree("addons")


def test_allows_key_uses_the_key_dimension_names():
    from appliance.storage.keys import parse_key

    f = Filter.from_dict(FILTER_2013)
    assert f.allows_key(parse_key(
        "telemetry/saved-session/Firefox/nightly/24.0a1/20130603030204/20130604/f.zst"))
    assert not f.allows_key(parse_key(
        "telemetry/idle-daily/Firefox/nightly/24.0a1/20130603030204/20130604/f.zst"))


def test_filter_uses_its_schemas_for_the_tree():
    short = Schema.of_fields(["reason", "submission_date"])
    f = Filter.from_dict({"dimensions": [
        {"field_name": "submission_date", "allowed_values": ["20131002"]}]},
        schemas=SchemaRegistry(telemetry=short))
    assert f.allows("telemetry", ["x", "20131002"])
    assert not f.allows("telemetry", ["x"] * 5 + ["20131002"])


@pytest.mark.parametrize("doc,message", [
    ("x", "must be a JSON object"),
    ({"namespaces": "x"}, "unknown top-level keys ['namespaces']"),
    ({"namespace": []}, "\"namespace\" must be"),
    ({"namespace": [""]}, "\"namespace\" items must be non-empty strings"),
    ({"namespace": 3}, "\"namespace\" must be"),
    ({"include_invalid": "yes"}, "\"include_invalid\" must be false, true or \"only\""),
    ({"include_invalid": 1}, "\"include_invalid\" must be"),
    ({"version": 3}, "\"version\" must be 1"),
    ({"dimensions": [{"field_name": "submission_date", "allowed_values": {"min": 20131001}}]},
     "dimension 0 ('submission_date'): \"min\" must be a string"),
])
def test_filter_errors(doc, message):
    with pytest.raises(SchemaError) as e:
        Filter.from_dict(doc)
    assert message in str(e.value)


def test_filter_files(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps({**FILTER_2013, "include_invalid": True}))
    f = Filter.from_file(path)
    assert f.allows_tree("invalid/telemetry")
    path.write_text('{"dimensions": [{"field_name": "a", "allowed_values": null}]}')
    with pytest.raises(SchemaError, match=r"f.json: dimension 0 \('a'\): must be"):
        Filter.from_file(path)
    with pytest.raises(SchemaError, match="cannot read"):
        Filter.from_file(tmp_path / "missing.json")


# --- the walk ------------------------------------------------------------------------------


TEL_PARTS = [
    ["saved-session", "Firefox", "nightly", "27.0a1", "20131001030204", "20131002"],
    ["saved-session", "Firefox", "nightly", "27.0a1", "20131001030204", "20131102"],
    ["saved-session", "Firefox", "release", "24.0", "20130910160258", "20131002"],
    ["saved-session", "Thunderbird", "release", "24.0", "20130910160258", "20131002"],
    ["idle-daily", "Firefox", "nightly", "27.0a1", "20131001030204", "20131002"],
    ["saved-session", "OTHER", "UNKNOWN", "UNKNOWN", "UNKNOWN", "20131002"],
]
GEN_PARTS = {"addons": [["main", "crash", "1", "release", "20131002"],
                        ["main", "crash", "2", "UNKNOWN", "20131015"],
                        ["main", "usage", "1", "beta", "20130930"]],
             "invalid_": [["main", "x", "1", "release", "20131002"]]}
INVALID_ADDONS = ["main", "crash", "1", "UNKNOWN", "20131002"]


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "store"
    for values in TEL_PARTS:
        d = root / partition_key("telemetry", values)
        d.mkdir(parents=True)
        (d / "n1.000001.zst").write_bytes(b"")
    for tree, parts in GEN_PARTS.items():
        for values in parts:
            (root / partition_key(tree, values)).mkdir(parents=True)
    (root / partition_key("invalid/telemetry", TEL_PARTS[0])).mkdir(parents=True)
    (root / partition_key("invalid/addons", INVALID_ADDONS)).mkdir(parents=True)
    # Things the walk must not enter.
    (root / ".tmp").mkdir()
    (root / "telemetry" / ".staging" / "a").mkdir(parents=True)
    (root / "telemetry" / "saved-session" / "bad name").mkdir()
    (root / "telemetry" / "saved-session" / "Firefox" / "a-file").write_bytes(b"")
    return root


@pytest.fixture
def listed(monkeypatch):
    """Record every directory the walk lists."""
    seen: list[Path] = []
    real = os.scandir

    def recording_scandir(path="."):
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", recording_scandir)
    return seen


def rel(root: Path, paths) -> set[str]:
    return {p.relative_to(root).as_posix() if p != root else "." for p in paths}


def test_walk_everything(store, listed):
    found = list(walk_partitions(store, Filter.all()))
    assert all(isinstance(p, Partition) for p in found)
    got = {(p.tree, p.values) for p in found}
    expected = {("telemetry", tuple(v)) for v in TEL_PARTS}
    expected |= {(t, tuple(v)) for t, parts in GEN_PARTS.items() for v in parts}
    expected |= {("invalid/telemetry", tuple(TEL_PARTS[0])),
                 ("invalid/addons", tuple(INVALID_ADDONS))}
    assert got == expected
    # Depth first over sorted listings: a stable order.
    assert [p.path.parts for p in found] == sorted(p.path.parts for p in found)
    assert [p.tree for p in found][:2] == ["addons", "addons"]
    for p in found:
        assert p.path == store / partition_key(p.tree, p.values)
    # Leaves are yielded, not listed; hidden directories are never listed.
    listed_rel = rel(store, listed)
    assert not any(".tmp" in s or ".staging" in s or "bad name" in s for s in listed_rel)
    assert not any(rel(store, [p.path]) <= listed_rel for p in found)


def test_walk_prunes_without_listing_pruned_directories(store, listed):
    f = Filter.from_dict({"dimensions": [
        {"field_name": "reason", "allowed_values": ["saved-session"]},
        {"field_name": "appName", "allowed_values": ["Firefox"]},
        {"field_name": "appUpdateChannel", "allowed_values": ["nightly"]},
        {"field_name": "submission_date", "allowed_values": {"min": "20131001",
                                                             "max": "20131031"}}]})
    found = list(walk_partitions(store, f))
    assert [(p.tree, list(p.values)) for p in found] == [("telemetry", TEL_PARTS[0])]
    assert rel(store, listed) == {
        ".",
        "telemetry",
        "telemetry/saved-session",
        "telemetry/saved-session/Firefox",
        "telemetry/saved-session/Firefox/nightly",
        "telemetry/saved-session/Firefox/nightly/27.0a1",
        "telemetry/saved-session/Firefox/nightly/27.0a1/20131001030204",
    }


def test_walk_generic_namespace_and_invalid_store(store, listed):
    f = Filter.from_dict({"namespace": "addons", "include_invalid": "only", "dimensions": [
        {"field_name": "docType", "allowed_values": ["crash"]}]})
    found = list(walk_partitions(store, f))
    assert [(p.tree, p.values) for p in found] == [("invalid/addons", tuple(INVALID_ADDONS))]
    assert rel(store, listed) == {".", "invalid", "invalid/addons", "invalid/addons/main",
                                  "invalid/addons/main/crash", "invalid/addons/main/crash/1",
                                  "invalid/addons/main/crash/1/UNKNOWN"}

    listed.clear()
    f = Filter.from_dict({"namespace": "invalid"})  # the generic namespace, tree invalid_
    assert [p.tree for p in walk_partitions(store, f)] == ["invalid_"]
    assert "invalid" not in rel(store, listed)      # the invalid store is never listed


def test_walk_with_a_filter_for_a_missing_field_lists_only_the_root(store, listed):
    f = Filter.from_dict({"namespace": "addons", "dimensions": [
        {"field_name": "appName", "allowed_values": ["Firefox"]}]})
    assert list(walk_partitions(store, f)) == []
    assert rel(store, listed) == {"."}


def test_walk_uses_the_given_schemas(tmp_path):
    root = tmp_path / "store"
    (root / "telemetry" / "saved-session" / "20131002").mkdir(parents=True)
    short = Schema.of_fields(["reason", "submission_date"])
    found = list(walk_partitions(root, Filter.all(), {"telemetry": short}))
    assert [p.values for p in found] == [("saved-session", "20131002")]
    # With the default 6-level schema those directories are not leaves: nothing is yielded.
    assert list(walk_partitions(root, Filter.all())) == []


def test_walk_skips_symlinks_and_missing_roots(tmp_path):
    root = tmp_path / "store"
    outside = tmp_path / "outside" / "crash" / "1" / "20131002"
    outside.mkdir(parents=True)
    root.mkdir()
    (root / "addons").symlink_to(tmp_path / "outside")
    assert list(walk_partitions(root, Filter.all())) == []
    assert list(walk_partitions(tmp_path / "nothing-here", Filter.all())) == []


def test_walk_tolerates_directories_vanishing(store, monkeypatch):
    real = os.scandir

    def flaky(path="."):
        if Path(path).name == "Thunderbird":
            raise FileNotFoundError(path)
        return real(path)

    monkeypatch.setattr(os, "scandir", flaky)
    found = list(walk_partitions(store, Filter.from_dict({})))
    assert {p.values for p in found} == {tuple(v) for v in TEL_PARTS if v[1] != "Thunderbird"}


def _dims(*names: str) -> list[dict]:
    return [{"field_name": n, "allowed_values": "x"} for n in names]


def test_a_dimension_no_selected_schema_has_is_an_error_naming_them():
    schemas = SchemaRegistry()
    flt = Filter.from_dict({"version": 1, "dimensions": _dims("appUpdateChanel")}, schemas)
    with pytest.raises(SchemaError) as e:
        flt.check_dimensions()
    assert str(e.value) == (
        "no dimension named 'appUpdateChanel' in the schema (its dimensions: telemetry: "
        "reason, appName, appUpdateChannel, appVersion, appBuildID, submission_date)")
    # docType is a dimension of generic namespaces, not of the telemetry tree
    with pytest.raises(SchemaError, match="'docType'"):
        Filter.from_dict({"version": 1, "dimensions": _dims("docType")},
                         schemas).check_dimensions()


def test_a_dimension_of_any_selected_schema_is_fine():
    schemas = SchemaRegistry()
    for doc in ({"version": 1, "dimensions": _dims("appUpdateChannel", "submission_date")},
                {"version": 1, "namespace": "*", "dimensions": _dims("docType", "appName")},
                {"version": 1, "namespace": ["glean-app"], "dimensions": _dims("channel")}):
        Filter.from_dict(doc, schemas).check_dimensions()
    with pytest.raises(SchemaError, match=r"'appName'.*glean-app: traffic, docType"):
        Filter.from_dict({"version": 1, "namespace": ["glean-app"],
                          "dimensions": _dims("appName")}, schemas).check_dimensions()
    # a schema table without an entry for a tree has nothing to check against
    Filter.from_dict({"version": 1, "dimensions": _dims("colour")},
                     {"other": Schema.of_fields(["a"])}).check_dimensions()


def test_telemetry_segments_compare_dash_and_underscore_alike():
    # The 2013 rule writes saved_session; stores of earlier versions hold saved-session.
    for written in (["saved-session"], ["saved_session"]):
        f = Filter.from_dict({"dimensions": [
            {"field_name": "reason", "allowed_values": written}]})
        assert f.allows_prefix("telemetry", ["saved_session"])
        assert f.allows_prefix("telemetry", ["saved-session"])
        assert not f.allows_prefix("telemetry", ["idle_daily"])
        for reason in ("saved-session", "saved_session"):
            assert f.allows_key(parse_key(f"telemetry/{reason}/a/b/c/d/e/f.zst"))
    # Generic trees keep "-" in their segments and compare exactly.
    f = Filter.from_dict({"namespace": "*", "dimensions": [
        {"field_name": "docType", "allowed_values": ["first-shutdown"]}]})
    assert f.allows_prefix("addons", ["main", "first-shutdown"])
    assert not f.allows_prefix("addons", ["main", "first_shutdown"])


def test_a_store_written_before_the_2013_rule_is_read_with_the_new_one(tmp_path):
    old = ["saved-session", "Firefox", "nightly", "27.0a1", "20131001030204", "20131002"]
    new = TELEMETRY.partition({"reason": "saved-session", "appName": "Firefox",
                               "appUpdateChannel": "nightly", "appVersion": "27.0a1",
                               "appBuildID": "20131001030204", "submission_date": "20131003"})
    assert new[0] == "saved_session"
    for values in (old, new):
        (tmp_path / partition_key("telemetry", values)).mkdir(parents=True)
    f = Filter.from_dict({"dimensions": [
        {"field_name": "reason", "allowed_values": ["saved-session"]}]})
    assert [list(p.values) for p in walk_partitions(tmp_path, f)] == [old, new]
