"""The three submission URL forms and what they refuse."""

import pytest

from appliance.submission.routes import (
    FORM_GENERIC,
    FORM_TELEMETRY,
    FORM_TELEMETRY_DIMS,
    RouteError,
    parse_submit_path,
)


def test_2013_form_with_dimensions_in_the_path():
    route = parse_submit_path(
        "/submit/telemetry/abc-1/saved-session/Firefox/23.0/release/20130814063812")
    assert route.form == FORM_TELEMETRY_DIMS
    assert route.doc_id == "abc-1"
    assert route.dimensions == {"reason": "saved-session", "appName": "Firefox",
                                "appVersion": "23.0", "appUpdateChannel": "release",
                                "appBuildID": "20130814063812"}


def test_telemetry_form_without_dimensions():
    route = parse_submit_path("/submit/telemetry/2c8bb1a0-5c5b-4b7f-9f8e-1e3e0f1a7b22")
    assert (route.form, route.dimensions) == (FORM_TELEMETRY, {})


def test_generic_edge_form():
    route = parse_submit_path("/submit/eco/crash/4/doc.9/")
    assert route.form == FORM_GENERIC
    assert route.doc_id == "doc.9"
    assert route.dimensions == {"namespace": "eco", "docType": "crash", "docVersion": "4"}


def test_percent_encoded_dimension_is_decoded():
    route = parse_submit_path("/submit/telemetry/a/idle-daily/Fennec%20Beta/1/beta/2")
    assert route.dimensions["appName"] == "Fennec Beta"


@pytest.mark.parametrize("path, status", [
    ("/other", 404),
    ("/submitx/telemetry/a", 404),
    ("/submit/telemetry/", 400),
    ("/submit/telemetry/a/b", 400),
    ("/submit/telemetry/" + "a" * 129, 400),
    ("/submit/telemetry/a$b", 400),
    ("/submit/telemetry/../x", 400),
    ("/submit/telemetry/a/../Firefox/1/release/2", 400),
    ("/submit/telemetry/a/x/%2e%2e/1/release/2", 400),
    ("/submit/telemetry/a/x/a%2Fb/1/release/2", 400),
    ("/submit/telemetry/a/x/a%00b/1/release/2", 400),
    ("/submit/telemetry/a/x//1/release/2", 400),
    ("/submit/eco/crash/4", 400),
    ("/submit/eco/crash/4/bad id", 400),
    ("/submit/eco/%ff/4/doc", 400),
])
def test_refused_paths(path, status):
    with pytest.raises(RouteError) as e:
        parse_submit_path(path)
    assert e.value.status == status
