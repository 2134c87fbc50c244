"""A repeated SIGINT or SIGTERM while the server drains is noted, never a traceback."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.integration.serverproc import ServerProcess


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_during_the_drain_is_only_noted(tmp_path, number):
    server = ServerProcess(tmp_path / "data", args=["--http"],
                           env={"APPLIANCE_SERVER_SHUTDOWN_TIMEOUT": "3"}).start()
    # A request still arriving keeps the drain waiting until shutdown_timeout.
    with server.connect() as held:
        held.sendall(b"POST /submit/telemetry/held HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 100\r\n\r\nabc")
        server.proc.send_signal(number)
        server.wait_for_log("stopping: draining")
        server.proc.send_signal(number)
        server.wait_for_log(f"{number.name} again: already stopping")
        server.wait_for_log("Main loop terminated")  # every line before it has been read
        code = server.proc.wait(timeout=60)
    server.proc.stdout.close()
    seen = "".join(server.history)
    assert code == 0
    assert "Traceback" not in seen and "critical" not in seen


def children_of(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def test_a_ctrl_c_to_the_whole_process_group_stops_the_server_once(tmp_path):
    """A terminal's Ctrl-C reaches the server and its children alike: the children have
    SIGINT blocked (even while they start), and only the server acts on it."""
    server = ServerProcess(tmp_path / "data", args=["--http"]).start()
    server.wait_for_log("converter: .* \\(idle\\)")
    children = children_of(server.proc.pid)
    assert children, "the converter child is running"
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        blocked = int(re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.M)[1], 16)
        assert blocked & (1 << (signal.SIGINT - 1)), f"child {pid} would take the Ctrl-C"
    for pid in [server.proc.pid, *children]:  # what the terminal does
        os.kill(pid, signal.SIGINT)
    server.wait_for_log("Main loop terminated")
    assert server.proc.wait(timeout=60) == 0
    server.proc.stdout.close()
    seen = "".join(server.history)
    assert "Traceback" not in seen and "KeyboardInterrupt" not in seen
    assert "converter exited" not in seen  # stopped by the server, not by the signal
