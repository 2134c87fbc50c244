"""A repeated SIGINT or SIGTERM while the server drains is noted, never a traceback."""

from __future__ import annotations

import signal

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
