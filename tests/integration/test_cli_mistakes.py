"""Operator and analyst mistakes: one line naming the problem, exit status 2, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.integration.serverproc import TEST_ENV


def appliance(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    environ.update(TEST_ENV)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True,
                          text=True, timeout=60, env=environ)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "a-file").write_text("not a directory\n")
    (tmp_path / "broken.json").write_text("{\n")
    (tmp_path / "all.json").write_text('{"version": 1, "dimensions": []}')
    (tmp_path / "syntax.py").write_text("def map(:\n")
    (tmp_path / "count.py").write_text("def map(k, d, v, c):\n    c.write(1, 1)\n")
    (tmp_path / "d" / "store").mkdir(parents=True)  # an appliance data dir
    return tmp_path


MISTAKES = [
    # (arguments with {tmp} for the test's folder, what stderr must say)
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "usage: appliance"),
    (["serve", "--data-dir", "{tmp}/a-file"], "{tmp}/a-file: exists and is not a directory"),
    (["serve", "--data-dir", "{tmp}/a-file/data"], "{tmp}/a-file/data: Not a directory"),
    (["job", "run", "--data-dir", "{tmp}/d", "--filter", "{tmp}/missing.json", "--output",
      "{tmp}/out", "{tmp}/count.py"],
     "appliance: filter {tmp}/missing.json: cannot read: No such file or directory"),
    (["job", "run", "--data-dir", "{tmp}/d", "--filter", "{tmp}/broken.json", "--output",
      "{tmp}/out", "{tmp}/count.py"], "appliance: filter {tmp}/broken.json: not valid JSON"),
    (["job", "run", "--data-dir", "{tmp}/d", "--filter", "{tmp}/all.json", "--output",
      "{tmp}/out", "{tmp}/missing.py"], "appliance: job script {tmp}/missing.py: no such file"),
    (["job", "run", "--data-dir", "{tmp}/d", "--filter", "{tmp}/all.json", "--output",
      "{tmp}/out", "{tmp}/syntax.py"], "SyntaxError"),
    (["config", "--config", "{tmp}/missing.toml"], "{tmp}/missing.toml"),
]


@pytest.mark.parametrize("args,expected", MISTAKES, ids=lambda v: " ".join(v)[:60]
                         if isinstance(v, list) else None)
def test_a_mistake_is_one_clear_line(files, args, expected):
    done = appliance(*(a.format(tmp=files) for a in args))
    assert done.returncode == 2, done.stderr
    assert expected.format(tmp=files) in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "_job-worker" not in done.stderr and "_convert-worker" not in done.stderr


@pytest.mark.parametrize("key", ["receiver", "admin"])
def test_a_taken_port_names_its_key(tmp_path, key):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        env = {f"APPLIANCE_{key.upper()}_LISTEN": address}
        done = appliance("serve", "--data-dir", str(tmp_path / "data"), env=env)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert f"cannot start: [{key}] listen = {address}: address already in use" in out
    assert "Traceback" not in out
