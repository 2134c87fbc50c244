"""A 200 survives kill -9: the server is killed mid-load and restarted several times."""

from __future__ import annotations

import threading

import pytest

from appliance.spool import SpoolDir, read_segment
from tests.integration.serverproc import ServerProcess, read_response

KILLS = 4
ACKS_PER_ROUND = 60
CLIENTS = 4


@pytest.mark.slow
def test_every_acknowledged_submission_survives_kill_9(tmp_path):
    data_dir = tmp_path / "data"
    acked: list[bytes] = []
    cond = threading.Condition()

    def client(server: ServerProcess, worker: int, round_no: int) -> None:
        n = 0
        try:
            with server.connect(timeout=10) as sock:
                while True:
                    body = b'{"round": %d, "worker": %d, "n": %d, "pad": "%s"}' % (
                        round_no, worker, n, b"p" * (n * 97 % 3000))
                    sock.sendall(b"POST /submit/telemetry/r%d-w%d-%d HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: %d\r\n\r\n%s"
                                 % (round_no, worker, n, len(body), body))
                    if read_response(sock).status == 200:
                        with cond:
                            acked.append(body)
                            cond.notify_all()
                    n += 1
        except OSError:
            return  # the server was killed under us: expected

    for round_no in range(KILLS + 1):
        server = ServerProcess(data_dir).start()
        threads = [threading.Thread(target=client, args=(server, w, round_no))
                   for w in range(CLIENTS)]
        for t in threads:
            t.start()
        with cond:
            target = len(acked) + ACKS_PER_ROUND
            assert cond.wait_for(lambda t=target: len(acked) >= t, timeout=60)
        if round_no < KILLS:
            server.kill()  # SIGKILL while clients are mid-request
        else:
            server.stop()
        for t in threads:
            t.join(timeout=60)

    spool = SpoolDir(data_dir / "spool")
    spool.recover()
    stored = [r.body for seg in spool.all_segments() for r in read_segment(seg)]
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged submissions lost"
    assert len(acked) >= (KILLS + 1) * ACKS_PER_ROUND
    assert len(stored) == len(set(stored)), "a record was stored twice"
