"""`appliance selftest` from source: every check passes, and a failing one is named."""

from __future__ import annotations

import io

from appliance.cli import selftest_cmd
from appliance.cli.main import main


def test_selftest_passes_from_source():
    out = io.StringIO()
    assert main(["selftest"], stdout=out) == 0
    text = out.getvalue()
    for name, _ in selftest_cmd.CHECKS:
        assert f"ok    {name} " in text
    assert "selftest passed" in text


def test_a_failing_check_is_named_and_the_others_still_run(monkeypatch):
    def broken(_scratch):
        raise FileNotFoundError("dashboard.tcss is missing")

    monkeypatch.setattr(selftest_cmd, "CHECKS",
                        [("zstd", selftest_cmd.check_zstd), ("tui-css", broken),
                         ("spool", selftest_cmd.check_spool)])
    out = io.StringIO()
    assert main(["selftest"], stdout=out) == 1
    text = out.getvalue()
    assert "FAIL  tui-css: FileNotFoundError: dashboard.tcss is missing" in text
    assert "ok    zstd " in text and "ok    spool " in text
    assert text.rstrip().endswith("selftest FAILED: tui-css")
