"""Partitioning schemas, value sanitising and the key round trip (DESIGN 3.3)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.storage.keys import (
    BadKey,
    invalid_tree,
    object_key,
    parse_key,
    partition_key,
    tree_for_namespace,
)
from appliance.storage.schema import (
    MAX_SEGMENT,
    AnyValue,
    Dimension,
    OneOf,
    Range,
    Schema,
    SchemaError,
    SchemaRegistry,
    fold_2013,
    is_safe_segment,
    sanitise,
    sanitise_2013,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def dim(allowed, name="d"):
    return Dimension(name, allowed)


# --- allowed values --------------------------------------------------------------------------


def test_star_keeps_every_value():
    d = dim("*")
    assert isinstance(d.allowed, AnyValue)
    assert d.value("anything-1.2") == "anything-1.2"
    assert d.value("OTHER") == "OTHER"


def test_list_keeps_members_and_maps_the_rest_to_other():
    d = dim(["release", "beta"])
    assert isinstance(d.allowed, OneOf)
    assert d.value("beta") == "beta"
    assert d.value("nightly") == "OTHER"
    assert d.value("Beta") == "OTHER"  # exact, case-sensitive


def test_list_is_checked_before_sanitising():
    d = dim(["Firefox OS"])
    assert d.value("Firefox OS") == "Firefox_OS"
    assert d.value("Firefox_OS") == "OTHER"


def test_a_plain_string_is_a_one_element_list():
    d = dim("saved-session")
    assert d.allowed == OneOf(("saved-session",))
    assert d.value("saved-session") == "saved-session"
    assert d.value("idle-daily") == "OTHER"


@pytest.mark.parametrize("value,kept", [
    ("20130600", True), ("20130607", True), ("20130603", True),
    ("20130599", False), ("20130608", False),
    ("201306", False),           # shorter: a prefix sorts first
    ("20130600123456", True),    # longer build id: string order, not numeric
    ("2013060799", False),
    ("3", False),                # "3" > "20130607" as strings
])
def test_closed_range_compares_strings(value, kept):
    d = dim({"min": "20130600", "max": "20130607"})
    assert d.value(value) == (value if kept else "OTHER")


def test_string_order_is_not_numeric_order():
    d = dim({"min": "10", "max": "20"})
    assert d.value("9") == "OTHER"
    assert d.value("100") == "100"


def test_open_ranges():
    lo = dim({"min": "20"})
    assert lo.value("20") == "20" and lo.value("9") == "9" and lo.value("100") == "OTHER"
    hi = dim({"max": "20"})
    assert hi.value("100") == "100" and hi.value("3") == "OTHER" and hi.value("20") == "20"
    assert dim({"min": "20"}).allowed == Range("20", None)


def test_missing_and_empty_values_are_unknown_whatever_is_allowed():
    for allowed in ("*", ["a"], {"min": "b"}):
        d = dim(allowed)
        assert d.value(None) == "UNKNOWN"
        assert d.value("") == "UNKNOWN"


def test_with_the_2013_rule_a_missing_value_is_checked_as_unknown():
    assert dim(["a"]).value(None, rule_2013=True) == "OTHER"
    assert dim(["a", "UNKNOWN"]).value("", rule_2013=True) == "UNKNOWN"
    assert dim("*").value(None, rule_2013=True) == "UNKNOWN"


def test_other_is_then_sanitised_and_other_and_unknown_are_ordinary_values():
    d = dim("*")
    assert d.value("UNKNOWN") == "UNKNOWN"
    assert dim(["OTHER"]).value("OTHER") == "OTHER"


def test_json_scalars_become_text():
    d = dim("*")
    assert d.value(3) == "3"
    assert d.value(True) == "true"
    assert dim({"min": "2", "max": "4"}).value(3) == "3"


# --- sanitising ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw,clean", [
    ("Firefox", "Firefox"),
    ("a-b_c.d", "a-b_c.d"),
    ("Firefox OS", "Firefox_OS"),
    ("a/b", "a_b"),
    ("a\\b", "a_b"),
    ("a\x00b\nc", "a_b_c"),
    (".", "_"),
    ("..", "__"),
    ("...", "___"),
    (".hidden", "_hidden"),
    ("../../etc/passwd", "___.._etc_passwd"),
    ("../..", "___.."),
    ("a/../b", "a_.._b"),
    ("1.0.", "1.0."),
    ("", "UNKNOWN"),
    (None, "UNKNOWN"),
    ("é", "_"),
    ("e\u0301", "e_"),              # decomposed: one "_" per code point
    ("日本語", "___"),
    ("🦊", "_"),
    ("\ud800", "_"),                 # a lone surrogate
    ("~user", "_user"),
    ("$HOME", "_HOME"),
    ("-rf", "-rf"),
])
def test_sanitise(raw, clean):
    assert sanitise(raw) == clean
    assert is_safe_segment(clean)


def test_traversal_and_hidden_names_never_survive():
    for raw in (".", "..", "./", "/..", "..\\..", ".\x00.", "\u2024\u2024", "%2e%2e"):
        out = sanitise(raw)
        assert out not in (".", "..") and not out.startswith(".") and "/" not in out


def test_long_values_are_capped_with_a_hash():
    long_a = "a" * 200
    long_b = "a" * 199 + "b"
    out_a, out_b = sanitise(long_a), sanitise(long_b)
    assert len(out_a) == len(out_b) == MAX_SEGMENT
    assert out_a.startswith("a" * 111 + "_") and out_a != out_b
    assert sanitise(out_a) == out_a                  # idempotent
    assert sanitise("a" * MAX_SEGMENT) == "a" * MAX_SEGMENT  # exactly at the cap: kept
    assert len(sanitise("a" * (MAX_SEGMENT + 1))) == MAX_SEGMENT
    assert len(sanitise("日" * 1000)) == MAX_SEGMENT


@given(st.one_of(st.none(), st.text()), st.sampled_from([sanitise, sanitise_2013]))
def test_sanitise_is_safe_and_idempotent(value, rule):
    out = rule(value)
    assert is_safe_segment(out)
    assert 1 <= len(out) <= MAX_SEGMENT
    assert out not in (".", "..") and "/" not in out and "\x00" not in out
    assert out.encode("ascii")
    assert rule(out) == out
    if rule is sanitise_2013:
        assert "-" not in out


# --- schemas -------------------------------------------------------------------------------


def test_defaults():
    t = Schema.telemetry_default()
    assert t.field_names == ["reason", "appName", "appUpdateChannel", "appVersion",
                             "appBuildID", "submission_date"]
    # The 2013 server's lists; the rest allows everything.
    assert [d.allowed.to_json() for d in t.dimensions] == [
        ["idle-daily", "saved-session", "android-anr-report", "ftu", "loop"],
        ["Firefox", "Fennec", "Thunderbird", "FirefoxOS"],
        ["release", "beta", "nightly", "aurora"], "*", "*", "*"]
    assert t.rule_2013
    g = Schema.generic_default()
    assert g.field_names == ["traffic", "docType", "docVersion", "channel", "submission_date"]
    assert all(isinstance(d.allowed, AnyValue) for d in g.dimensions) and not g.rule_2013
    assert g.version == t.version == 1


def test_the_default_telemetry_schema_buckets_and_sanitises_as_in_2013():
    t = Schema.telemetry_default()
    assert t.partition({"reason": "saved-session", "appName": "Firefox",
                        "appUpdateChannel": "nightly-ux", "appVersion": "27.0a1",
                        "appBuildID": "2013-10-01 03:02", "submission_date": "20131002"}) == [
        "saved_session", "Firefox", "OTHER", "27.0a1", "2013_10_01_03_02", "20131002"]
    # a missing channel is UNKNOWN, which the 2013 list does not allow: OTHER, as in 2013
    assert t.partition({"reason": "main", "appName": "SeaMonkey"})[:4] == [
        "OTHER", "OTHER", "OTHER", "UNKNOWN"]
    assert t.partition({"reason": "ftu", "appName": "FirefoxOS"})[:2] == ["ftu", "FirefoxOS"]


def test_sanitise_2013_replaces_the_dash_too():
    assert sanitise_2013("android-anr-report") == "android_anr_report"
    assert sanitise_2013("a/b c.d") == "a_b_c.d"
    assert sanitise_2013("..x") == "__x" and sanitise_2013("") == "UNKNOWN"
    assert sanitise("saved-session") == "saved-session"     # the generic trees keep "-"
    assert fold_2013("saved-session") == sanitise_2013("saved-session")


def test_partition_applies_allowed_and_sanitise_in_order():
    s = Schema.from_dict({"version": 1, "dimensions": [
        {"field_name": "reason", "allowed_values": ["saved-session"]},
        {"field_name": "appName", "allowed_values": "*"},
        {"field_name": "appBuildID", "allowed_values": {"min": "20130101"}},
        {"field_name": "submission_date", "allowed_values": "*"},
    ]})
    assert s.partition({"reason": "idle-daily", "appName": "Firefox OS",
                        "appBuildID": "20130601000000", "submission_date": "20131015",
                        "extra": "ignored"}) == ["OTHER", "Firefox_OS", "20130601000000",
                                                 "20131015"]
    assert s.partition({"reason": "saved-session"})[0] == "saved_session"   # the 2013 rule
    # missing values are UNKNOWN, then checked as in 2013: OTHER under a list, kept under
    # "*" and under a range that allows the string "UNKNOWN"
    assert s.partition({}) == ["OTHER", "UNKNOWN", "UNKNOWN", "UNKNOWN"]


@pytest.mark.skipif(not (CORPUS / "telemetry_schema.json").exists(),
                    reason="the shared corpus is not present")
def test_load_the_2013_schema():
    s = Schema.from_file(CORPUS / "telemetry_schema.json")
    assert s.field_names == Schema.telemetry_default().field_names
    assert s.dimensions[0].allowed == OneOf(("idle-daily", "saved-session"))
    assert s.partition({"reason": "saved-session", "appName": "Firefox",
                        "appUpdateChannel": "esr", "appVersion": "24.0",
                        "appBuildID": "20130910160258", "submission_date": "20131001"}) == [
        "saved_session", "Firefox", "OTHER", "24.0", "20130910160258", "20131001"]
    assert Schema.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("doc,message", [
    ([], "must be a JSON object"),
    ({"version": 1}, "\"dimensions\" is missing"),
    ({"version": 2, "dimensions": []}, "\"version\" must be 1"),
    ({"dimensions": []}, "at least one dimension"),
    ({"dimensions": {}}, "must be a list"),
    ({"dimensions": [], "namespace": "x"}, "unknown top-level keys ['namespace']"),
    ({"dimensions": ["reason"]}, "dimension 0: must be an object"),
    ({"dimensions": [{"allowed_values": "*"}]}, "dimension 0: \"field_name\""),
    ({"dimensions": [{"field_name": "", "allowed_values": "*"}]}, "dimension 0: \"field_name\""),
    ({"dimensions": [{"field_name": "a"}]}, "dimension 0 ('a'): \"allowed_values\" is missing"),
    ({"dimensions": [{"field_name": "a", "allowed_values": "*"},
                     {"field_name": "a", "allowed_values": "*"}]},
     "dimension 1 ('a'): field_name appears twice"),
    ({"dimensions": [{"field_name": "a", "allowed_values": "*", "allowed": 1}]},
     "dimension 0 ('a'): unknown keys ['allowed']"),
    ({"dimensions": [{"field_name": "a", "allowed_values": []}]},
     "dimension 0 ('a'): an empty list"),
    ({"dimensions": [{"field_name": "a", "allowed_values": ["x", 3]}]},
     "dimension 0 ('a'): list items must be strings, not 3"),
    ({"dimensions": [{"field_name": "a", "allowed_values": 7}]}, "dimension 0 ('a'): must be"),
    ({"dimensions": [{"field_name": "a", "allowed_values": {}}]},
     "dimension 0 ('a'): a range needs"),
    ({"dimensions": [{"field_name": "a", "allowed_values": {"min": "1", "mx": "2"}}]},
     "dimension 0 ('a'): a range has only"),
    ({"dimensions": [{"field_name": "b", "allowed_values": {"min": 20130101}}]},
     "dimension 0 ('b'): \"min\" must be a string"),
    ({"dimensions": [{"field_name": "b", "allowed_values": {"min": "2", "max": "1"}}]},
     "dimension 0 ('b'): \"min\" '2' is greater than \"max\" '1'"),
])
def test_schema_errors_name_the_problem_and_the_dimension(doc, message):
    with pytest.raises(SchemaError) as e:
        Schema.from_dict(doc)
    assert message in str(e.value)


def test_schema_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(SchemaError, match="nope.json: cannot read"):
        Schema.from_file(missing)
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "dimensions": [')
    with pytest.raises(SchemaError, match="bad.json: not valid JSON"):
        Schema.from_file(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"dimensions": [{"field_name": "x", "allowed_values": 1}]}))
    with pytest.raises(SchemaError, match=r"wrong.json: dimension 0 \('x'\)"):
        Schema.from_file(wrong)


def test_registry():
    reg = SchemaRegistry()
    assert reg("telemetry") == Schema.telemetry_default()
    assert reg("invalid/telemetry") == Schema.telemetry_default()
    assert reg("addons") == reg("invalid/addons") == Schema.generic_default()
    custom = Schema.of_fields(["reason", "submission_date"])
    assert SchemaRegistry(telemetry=custom)("telemetry") is custom


# --- trees and keys ------------------------------------------------------------------------


def test_tree_names_reserve_invalid_and_telemetry():
    assert tree_for_namespace("telemetry") == "telemetry"
    assert tree_for_namespace("invalid") == "invalid_"
    assert tree_for_namespace("invalid_") == "invalid__"
    assert tree_for_namespace("INVALID") == "INVALID_"
    assert tree_for_namespace("Telemetry") == "Telemetry_"
    assert tree_for_namespace("invalid.x") == "invalid.x"
    assert tree_for_namespace("my app") == "my_app"
    assert tree_for_namespace("..") == "__"
    assert tree_for_namespace("") == "UNKNOWN"
    assert invalid_tree("telemetry") == "invalid/telemetry"
    assert invalid_tree("invalid_") == "invalid/invalid_"


@given(st.lists(st.text(max_size=12), max_size=40))
def test_tree_names_are_one_to_one_on_sanitised_names(names):
    sanitised = {sanitise(n) for n in names if n != "telemetry"}
    trees = {tree_for_namespace(n) for n in sanitised}
    assert len(trees) == len(sanitised)
    assert "invalid" not in trees and "telemetry" not in trees
    assert all(is_safe_segment(t) for t in trees)


def test_keys_round_trip():
    values = Schema.telemetry_default().partition(
        {"reason": "saved-session", "appName": "Firefox", "appUpdateChannel": "nightly",
         "appVersion": "27.0a1", "appBuildID": "20131001030204", "submission_date": "20131002"})
    prefix = partition_key("telemetry", values)
    assert prefix == "telemetry/saved_session/Firefox/nightly/27.0a1/20131001030204/20131002"
    # A key of an earlier store (the value kept its "-") still parses.
    assert parse_key(f"telemetry/saved-session/{'/'.join(values[1:])}/f.zst").values == (
        "saved-session", *values[1:])
    key = object_key("telemetry", values, "node1.000042.zst")
    parsed = parse_key(key)
    assert parsed.tree == "telemetry" and parsed.file_name == "node1.000042.zst"
    assert parsed.dimensions["appVersion"] == "27.0a1" and list(parsed.values) == values
    assert not parsed.invalid

    inv = parse_key("invalid/addons/debug/crash/1/UNKNOWN/20131002/f.zst")
    assert inv.tree == "invalid/addons" and inv.invalid
    assert inv.dimensions == {"traffic": "debug", "docType": "crash", "docVersion": "1",
                              "channel": "UNKNOWN", "submission_date": "20131002"}
    gen = parse_key("invalid_/main/crash/1/release/20131002/f.zst")
    assert gen.tree == "invalid_" and not gen.invalid


@pytest.mark.parametrize("key,message", [
    ("", "empty"),
    ("/telemetry/a/b/c/d/e/f/file", "relative"),
    ("telemetry/a/b/c/d/e/file", "6 dimensions"),
    ("telemetry/a/b/c/d/e/f/g/file", "found 8 segments"),
    ("telemetry/a/b/../d/e/f/file", "appUpdateChannel segment '..'"),
    ("telemetry/a/b/.x/d/e/f/file", "appUpdateChannel segment '.x'"),
    ("telemetry/a//c/d/e/f/file", "appName segment ''"),
    ("telemetry/a/b/c/d/e/f/.tmp-file", "bad file name"),
    ("telemetry/a/b/c/d/e/f/", "bad file name ''"),
    ("..", "bad tree"),
    ("invalid", "needs a tree"),
    ("invalid/invalid/a/b/c/f", "bad tree 'invalid/invalid'"),
    ("addons/main/a b/1/x/2/f", "docType segment 'a b'"),
])
def test_malformed_keys(key, message):
    with pytest.raises(BadKey) as e:
        parse_key(key)
    assert message in str(e.value)
    assert isinstance(e.value, KeyError) and isinstance(e.value, ValueError)


def test_partition_key_rejects_unsanitised_values_and_trees():
    with pytest.raises(BadKey, match="not a sanitised segment"):
        partition_key("telemetry", ["a/b"])
    with pytest.raises(BadKey, match="not a sanitised segment"):
        partition_key("telemetry", [".."])
    with pytest.raises(BadKey, match="bad tree"):
        partition_key("invalid", ["a"])
    with pytest.raises(BadKey, match="bad file name"):
        object_key("telemetry", ["a"], "../x")


def test_parse_key_accepts_a_schema_or_a_mapping():
    two = Schema.of_fields(["x", "y"])
    assert parse_key("t/1/2/f", two).dimensions == {"x": "1", "y": "2"}
    assert parse_key("invalid/t/1/2/f", {"t": two}).dimensions == {"x": "1", "y": "2"}
    with pytest.raises(BadKey, match="no schema for tree 'u'"):
        parse_key("u/1/2/f", {"t": two})


_VALUES = st.dictionaries(
    st.sampled_from(["reason", "appName", "appUpdateChannel", "appVersion", "appBuildID",
                     "submission_date", "docType", "docVersion"]),
    st.one_of(st.none(), st.text(), st.text(alphabet=".", max_size=3), st.text(min_size=120)))


@settings(max_examples=300)
@given(namespace=st.one_of(st.just("telemetry"), st.text()), values=_VALUES,
       invalid=st.booleans())
def test_parse_key_gives_back_the_partitioned_values(namespace, values, invalid):
    reg = SchemaRegistry(telemetry=Schema.from_dict({"dimensions": [
        {"field_name": "reason", "allowed_values": ["saved-session", "idle-daily"]},
        {"field_name": "appName", "allowed_values": "*"},
        {"field_name": "appUpdateChannel", "allowed_values": "*"},
        {"field_name": "appVersion", "allowed_values": {"min": "1", "max": "9"}},
        {"field_name": "appBuildID", "allowed_values": {"min": "2013"}},
        {"field_name": "submission_date", "allowed_values": "*"}]}))
    tree = tree_for_namespace(namespace)
    if invalid:
        tree = invalid_tree(tree)
    schema = reg(tree)
    parts = schema.partition(values)
    key = object_key(tree, parts, "n1.000001.zst")
    parsed = parse_key(key, reg)
    assert parsed.tree == tree
    assert list(parsed.values) == parts
    assert list(parsed.dimensions) == schema.field_names
    assert parsed.file_name == "n1.000001.zst"
    for segment in key.split("/"):
        assert is_safe_segment(segment) or segment == "n1.000001.zst"
        assert segment not in ("", ".", "..") and not segment.startswith(".")
        assert len(segment.encode()) <= 255
    # As a path under a store root, the key never leaves it.
    root = Path("/store")
    assert os.path.normpath(root / key).startswith("/store/")
