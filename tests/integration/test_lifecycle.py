"""The server's lifecycle from source: SIGTERM drains, SIGHUP reopens the log, one per data dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

from appliance.spool import SpoolDir, read_segment
from tests.integration.serverproc import TEST_ENV, ServerProcess, post, read_response

CLIENTS = 4


def stored_bodies(data_dir) -> list[bytes]:
    spool = SpoolDir(data_dir / "spool")
    return [r.body for seg in spool.all_segments() for r in read_segment(seg)]


def head(doc: str, length: int, keep_alive: bool = True) -> bytes:
    return (f"POST /submit/telemetry/{doc} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
            + ("" if keep_alive else "Connection: close\r\n") + "\r\n").encode()


def test_sigterm_answers_requests_in_flight_and_loses_no_200(tmp_path):
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir).start()
    acked: list[bytes] = []
    lock = threading.Lock()
    stop_clients = threading.Event()

    def client(worker: int) -> None:  # keep-alive load until the server goes away
        n = 0
        try:
            with server.connect(timeout=10) as sock:
                while not stop_clients.is_set():
                    body = b'{"worker": %d, "n": %d}' % (worker, n)
                    sock.sendall(head(f"load-{worker}-{n}", len(body)) + body)
                    if read_response(sock).status == 200:
                        with lock:
                            acked.append(body)
                    n += 1
        except OSError:
            return  # closed by the drain, or refused once the port is gone

    # Requests in progress when SIGTERM arrives: the head and half of the body sent.
    partial = []
    for i in range(3):
        body = b'{"in_flight": %d, "pad": "%s"}' % (i, b"x" * 2000)
        sock = server.connect()
        sock.sendall(head(f"flight-{i}", len(body)) + body[:1000])
        partial.append((sock, body))
    idle = server.connect()  # a keep-alive connection between requests
    idle.sendall(head("idle-0", 2) + b"{}")
    assert read_response(idle).status == 200

    threads = [threading.Thread(target=client, args=(w,)) for w in range(CLIENTS)]
    for t in threads:
        t.start()
    server.wait_for_log(r"converter: .*\(idle\)")  # up and converting before we stop it
    server.proc.send_signal(signal.SIGTERM)
    server.wait_for_log(r"stopping: draining")

    # The idle connection is closed; the ones in flight finish and get their 200.
    assert idle.recv(1) == b""
    idle.close()  # as a client does on EOF (a TLS close waits for the client's close_notify)
    for sock, body in partial:
        sock.sendall(body[1000:])
        response = read_response(sock)
        assert response.status == 200
        assert response.headers.get("connection") == "close"
        acked.append(body)
        sock.close()
    stop_clients.set()
    for t in threads:
        t.join(timeout=60)
    server.wait_for_log(r"stopped cleanly")
    assert server.proc.wait(timeout=60) == 0

    stored = stored_bodies(data_dir)
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged submissions lost"
    assert len(acked) > len(partial) + 1


def test_a_connection_that_never_finishes_is_cut_at_the_deadline(tmp_path):
    server = ServerProcess(tmp_path / "data",
                           env={"APPLIANCE_SERVER_SHUTDOWN_TIMEOUT": "0.5"}).start()
    with server.connect() as sock:
        sock.sendall(head("never", 100) + b"{")  # 99 bytes still owed
        server.wait_for_log(r"converter: .*\(idle\)")
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for_log(r"abandoned at the deadline: client connections")
        assert server.proc.wait(timeout=60) == 0
        try:
            assert sock.recv(1) == b""  # cut without an answer: the client retries
        except ConnectionResetError:
            pass


def test_second_server_on_the_same_data_dir_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    first = ServerProcess(data_dir).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    second = subprocess.run(
        [sys.executable, "-m", "appliance", "serve", "--data-dir", str(data_dir),
         "--listen", "127.0.0.1:0"], env={**env, **TEST_ENV}, capture_output=True, text=True,
        timeout=60)
    assert second.returncode == 2
    assert f"data dir {data_dir.resolve()} is in use" in second.stderr
    assert f"pid {first.proc.pid}" in second.stderr
    assert post(first, "/submit/telemetry/still-serving", b"{}").status == 200
    assert first.stop() == 0
    # Once the first has stopped, the data dir is free again.
    assert ServerProcess(data_dir).start().stop() == 0


def test_sighup_reopens_the_log_file(tmp_path):
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir).start()
    log = data_dir / "logs" / "appliance.log"
    rotated = log.with_name("appliance.log.1")
    log.rename(rotated)  # what logrotate does
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for_log(r"log file reopened")
    assert post(server, "/submit/telemetry/after-hup", b"{}").status == 200
    assert server.stop() == 0

    events = [json.loads(line)["log_format"] for line in log.read_text().splitlines()]
    assert "log file reopened (SIGHUP)" in events
    assert "stopped cleanly" in events
    old = rotated.read_text()
    assert "listening on" in old and "stopped cleanly" not in old
