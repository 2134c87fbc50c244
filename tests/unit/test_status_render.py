"""`appliance status` renders what the admin API reports, with what to do about it."""

from __future__ import annotations

from appliance.cli.status_cmd import render
from tests.tui.fakeclient import FakeClient


def test_invalid_records_that_a_spec_can_fix_point_to_specs_add_and_reconvert():
    client = FakeClient()
    stats = client.stats()
    assert stats["converter"]["invalid_by_reason"]["unknown_revision"] > 0
    text = render(stats, client.ledger())
    assert "unknown_revision can be converted later" in text
    assert "appliance specs add" in text and "appliance reconvert" in text


def test_no_hint_without_fixable_records():
    client = FakeClient()
    stats = client.stats()
    stats["converter"]["invalid_by_reason"] = {"bad_json": 3}
    assert "reconvert" not in render(stats, client.ledger())
