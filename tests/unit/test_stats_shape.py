"""/v1/stats has one definition (appliance/admin/nodestats.py): the server's answer and the
dashboard's fake both fit it, so a renamed key fails here instead of showing a blank."""

from __future__ import annotations

from dataclasses import fields

from appliance.admin.nodestats import ConverterCounters, NodeStats
from appliance.convert.loop import ConverterCounts
from tests.shapes import shape_errors
from tests.tui.fakeclient import FakeClient, stats_snapshot
from tests.unit.admin_fakes import Api, FakeServer


def test_the_checker_names_missing_unknown_and_mistyped_keys():
    stats = stats_snapshot()
    del stats["disk"]["low"]
    stats["spool"]["sealed"] = stats["spool"].pop("sealed_segments")
    stats["uptime_seconds"] = "1 h"
    assert shape_errors(NodeStats, stats) == [
        ".disk.low: missing", ".spool.sealed_segments: missing",
        ".spool.sealed: not in SpoolStats", ".uptime_seconds: expected float, got '1 h'"]


def test_the_dashboards_fake_answers_in_the_servers_shape():
    assert shape_errors(NodeStats, FakeClient().stats()) == []


def test_the_server_answers_in_the_shape_it_declares(tmp_path):
    api = Api(FakeServer(tmp_path))
    api.server.stats.converter = {"converted": 3, "invalid": 1, "idle": True,
                                  "invalid_by_reason": {"bad_json": 1}}
    assert shape_errors(NodeStats, api.call("GET", "/v1/stats").json()) == []


def test_the_converter_section_is_the_childs_counts_and_whether_it_runs():
    reported = {f.name for f in fields(ConverterCounts)}
    assert set(ConverterCounters.__annotations__) == reported | {"running", "restarts"}
