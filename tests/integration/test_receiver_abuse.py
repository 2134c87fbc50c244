"""Hostile clients against a running server: each is cut off, honest clients are served.

Slowloris heads, a slow body, a client that pipelines requests and never reads
the answers, and a request of many tiny chunks, all at once over TLS, with
small deadlines configured so the test takes seconds. While they run, an
honest client keeps submitting and every answer is 200; the server's RSS
stays bounded; and the server closes every abusive connection (the abusers
wait for that close, they do not time it).
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from pathlib import Path

from tests.integration.serverproc import ServerProcess, eventually, post, read_response

SLOWLORIS = 40
SLOW_BODIES = 8
RSS_BOUND = 200 * 1024 * 1024
ENV = {"APPLIANCE_RECEIVER_HEAD_TIMEOUT": "1", "APPLIANCE_RECEIVER_BODY_TIMEOUT": "1",
       "APPLIANCE_RECEIVER_MIN_BODY_RATE": "1000", "APPLIANCE_RECEIVER_IDLE_TIMEOUT": "3",
       "APPLIANCE_RECEIVER_MAX_CONNECTIONS": "300",
       "APPLIANCE_RECEIVER_MAX_CONNECTIONS_PER_IP": "200",
       "APPLIANCE_CONVERTER_ENABLED": "false"}


def rss(pid: int) -> int:
    """Resident set size of process `pid`, in bytes (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def closed_by_server(sock: socket.socket, wait: float) -> bool:
    """Whether the server closes or resets `sock` within `wait` seconds (reading what
    arrives meanwhile)."""
    sock.settimeout(wait)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except (OSError, ssl.SSLError):
        return True  # reset: an aborted connection
    return True


def trickle(sock: socket.socket, head: bytes, byte: bytes, every: float, limit: float) -> bool:
    """Send `head`, then `byte` each `every` seconds until the server closes the
    connection (true) or `limit` seconds pass (false)."""
    try:
        sock.sendall(head)
        for _ in range(int(limit / every)):
            readable, _, _ = select.select([sock], [], [], every)
            if readable:
                return closed_by_server(sock, limit)
            sock.sendall(byte)
    except (OSError, ssl.SSLError):
        return True  # the server reset it while we wrote
    return False


def slowloris(srv: ServerProcess) -> bool:
    with srv.connect() as sock:
        return trickle(sock, b"GET /status HTTP/1.1\r\nHost: x\r\n", b"X", 0.2, 30)


def slow_body(srv: ServerProcess) -> bool:
    head = b"POST /submit/telemetry/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    with srv.connect() as sock:
        return trickle(sock, head, b"x" * 10, 0.2, 30)


def never_reads(srv: ServerProcess) -> bool:
    """Pipeline GET /status for up to 30 MB without reading one answer."""
    burst = b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
    with srv.connect(timeout=30) as sock:
        try:
            for _ in range(30 * 1024 * 1024 // len(burst)):
                sock.sendall(burst)  # blocks once the server stops reading
        except (OSError, ssl.SSLError):
            return True  # aborted at its idle deadline while we wrote
        return closed_by_server(sock, 30)


def many_chunks(srv: ServerProcess) -> bool:
    """A million one-byte chunks: refused (413) past max_chunks, then closed."""
    head = (b"POST /submit/telemetry/chunks HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    with srv.connect() as sock:
        try:
            sock.sendall(head + b"1\r\na\r\n" * 1_000_000)
        except (OSError, ssl.SSLError):
            pass  # the server may have closed before taking it all
        response = read_response(sock)
        return response.status == 413 and closed_by_server(sock, 30)


def test_abusive_clients_are_cut_off_while_an_honest_one_is_served(tmp_path):
    srv = ServerProcess(tmp_path / "data", env=ENV).start()
    outcomes: dict[str, list[bool]] = {}
    lock = threading.Lock()

    def run(name, attack):
        outcome = attack(srv)
        with lock:
            outcomes.setdefault(name, []).append(outcome)

    attacks = ([("slowloris", slowloris)] * SLOWLORIS + [("slow body", slow_body)] * SLOW_BODIES
               + [("never reads", never_reads), ("many chunks", many_chunks)])
    threads = [threading.Thread(target=run, args=attack, daemon=True) for attack in attacks]
    try:
        for thread in threads:
            thread.start()
        served, peak = 0, 0
        while any(thread.is_alive() for thread in threads):
            response = post(srv, f"/submit/telemetry/honest-{served}", b'{"ok": 1}')
            assert response.status == 200, response
            served += 1
            peak = max(peak, rss(srv.proc.pid))
        for thread in threads:
            thread.join()
        assert served > 0
        assert peak < RSS_BOUND, f"server RSS reached {peak / 2**20:.0f} MiB"
        assert outcomes == {"slowloris": [True] * SLOWLORIS,
                            "slow body": [True] * SLOW_BODIES,
                            "never reads": [True], "many chunks": [True]}
        # Every abusive connection is gone: only this test's own are counted.
        stats = srv.admin().stats
        eventually(lambda: stats()["ingest"]["open_connections"] == 0,
                   "the abusive connections to be closed", timeout=30,
                   show=lambda: stats()["ingest"]["open_connections"])
        assert stats()["ingest"]["requests_by_status"]["408"] >= SLOWLORIS + SLOW_BODIES
    finally:
        srv.stop()


def test_deadlines_apply_in_receiver_processes(tmp_path):
    """With `[receiver] processes = 2` each child enforces the same deadlines."""
    env = {**ENV, "APPLIANCE_RECEIVER_PROCESSES": "2"}
    srv = ServerProcess(tmp_path / "data", env=env).start()
    try:
        outcomes = [slowloris(srv) for _ in range(4)]  # the kernel spreads them over both
        assert outcomes == [True] * 4
        assert post(srv, "/submit/telemetry/after", b'{"ok": 1}').status == 200
        stats = srv.admin().stats  # the children's counts, as they report them
        eventually(lambda: stats()["ingest"]["requests_by_status"].get("408", 0) >= 4,
                   "the children to count their timed-out connections",
                   show=lambda: stats()["ingest"]["requests_by_status"])
    finally:
        srv.stop()
