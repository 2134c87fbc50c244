"""A real server refuses a non-loopback admin listener unless it is explicitly allowed."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.serverproc import TEST_ENV, ServerProcess


def test_a_wildcard_admin_listener_stops_the_start_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update(TEST_ENV, APPLIANCE_ADMIN_LISTEN="0.0.0.0:0")
    done = subprocess.run([sys.executable, "-m", "appliance", "serve", "--http",
                           "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    [line] = [x for x in done.stdout.splitlines() if "cannot start" in x]
    assert "[admin] listen = '0.0.0.0:0' is not a loopback address" in line
    assert "[admin] allow_remote = true" in line
    assert "listening on" not in done.stdout


def test_an_allowed_remote_admin_listener_starts_with_a_warning(tmp_path):
    server = ServerProcess(tmp_path / "data", args=["--http"],
                           env={"APPLIANCE_ADMIN_LISTEN": "0.0.0.0:0",
                                "APPLIANCE_ADMIN_ALLOW_REMOTE": "true"}).start()
    try:
        server.wait_for_log(r"allow_remote = true.*plain HTTP")
        assert server.admin().stats()["health"]["ok"]
    finally:
        assert server.stop() == 0
