"""The README's quick start, run as written: every command, and the output it shows.

`make run` is replaced by a server on a free port with short segment and file
ages (so `store ls` need not wait five minutes); commands run from a folder
whose `examples/` is the repository's, so `appliance-data/` is the default
data dir as in a fresh clone. In the shown output `...` stands for any text,
and a line of its own `...` for any number of lines.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.serverproc import TEST_ENV, ServerProcess, eventually

ROOT = Path(__file__).resolve().parents[2]
SHOWN_URL = "https://127.0.0.1:8443"


def quick_start() -> list[tuple[str, list[str]]]:
    """(command, the output lines shown after it) of every `$ ` line of the section."""
    text = (ROOT / "README.md").read_text()
    start = text.index("## Quick start")
    section = text[start:text.index("\n## ", start + 1)]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        continuing = False
        for line in block.splitlines():
            if continuing:
                steps[-1] = (steps[-1][0] + "\n" + line, [])
            elif line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
            continuing = line.endswith("\\")
    return steps


def shown(lines: list[str]) -> re.Pattern:
    """The output `lines` as a pattern: `...` is any text, a lone `...` any lines."""
    parts = []
    for line in lines:
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\n]*".join(re.escape(p) for p in line.split("...")) + r"\n")
    return re.compile("".join(parts))


def test_shown_output_patterns_can_fail():
    assert shown(["a ... c", "...", "z"]).fullmatch("a b c\nx\ny\nz\n")
    assert not shown(["a ... c", "z"]).fullmatch("a b c\nx\nz\n")


@pytest.mark.skipif(shutil.which("curl") is None, reason="the quick start uses curl")
def test_the_quick_start_runs_as_written(tmp_path):
    steps = quick_start()
    assert steps[0][0] == "make run" and len(steps) >= 6
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    server = ServerProcess(tmp_path / "appliance-data",
                           # Short, not tiny: health calls a converter "behind" when a
                           # sealed segment waits 2 x max_file_age + max_segment_age.
                           env={"APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "1",
                                "APPLIANCE_STORE_MAX_FILE_AGE": "3"}).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update(TEST_ENV)
    admin = server.admin()
    try:
        for command, expected in steps[1:]:
            if "store ls" in command:  # the README says this comes after the file ages
                # "converted" counts records as they are converted; "files" as committed.
                eventually(lambda: admin.stats()["converter"].get("files", 0) >= 2,
                           "both sample pings committed to the store")
            command = command.replace(SHOWN_URL, f"https://127.0.0.1:{server.port}")
            command = command.replace(".venv/bin/appliance",
                                      f"{shlex.quote(sys.executable)} -m appliance")
            done = subprocess.run(command, shell=True, cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
            out = done.stdout if done.stdout.endswith("\n") else done.stdout + "\n"
            assert shown(expected).fullmatch(out), \
                f"{command}\nshown:\n" + "\n".join(expected) + f"\ngot:\n{out}"
    finally:
        server.stop()
