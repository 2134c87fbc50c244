"""The receiver pool's supervision with a fake process reactor: ready, reports, restarts, stop."""

from __future__ import annotations

import json
import signal

from twisted.internet.defer import CancelledError

from appliance.receiver.pool import MAX_BACKOFF, ReceiverPool
from appliance.stats import Stats
from appliance.supervise import MIN_DELAY, ChildExited
from tests.unit.process_fakes import ProcessReactor, end


class FakeSocket:
    """The address reservation, without a real socket."""

    def getsockname(self):
        return ("127.0.0.1", 41999)

    def close(self):
        pass


def report(**fields) -> bytes:
    line = {"status": {}, "form": {}, "bytes_received": 0, "open_connections": 0,
            "latency": {"values": [], "count": 0, "total": 0.0},
            "fsync": {"values": [], "count": 0, "total": 0.0}, "errors": {}, "acked": [],
            "spool_records": 0, "spool_bytes": 0, "spool_batches": 0,
            "spool_segments_sealed": 0, "spool_reappends": 0}
    line.update(fields)
    return json.dumps(line).encode() + b"\n"


def started_pool(count=2):
    reactor = ProcessReactor()
    stats = Stats(reactor.seconds)
    pool = ReceiverPool(reactor, ["appliance", "_receiver-worker"], count, stats, env={},
                        bind=lambda host, port: FakeSocket())
    ready = pool.start("127.0.0.1", 0)
    return reactor, stats, pool, ready


def test_ready_once_every_child_reported_and_counters_add_up():
    reactor, stats, pool, ready = started_pool()
    try:
        assert len(reactor.spawned) == 2
        assert reactor.spawned[0][1][-2:] == ["--listen", "127.0.0.1:41999"]
        first, second = reactor.spawned[0][0], reactor.spawned[1][0]
        first.outReceived(report(open_connections=3))
        assert not ready.called
        second.outReceived(report(status={"200": 5}, open_connections=2)[:10])
        second.outReceived(report(status={"200": 5}, open_connections=2)[10:])
        assert ready.result == 41999
        first.outReceived(report(status={"200": 2, "503": 1}, open_connections=1))
        assert stats.requests_by_status == {200: 7, 503: 1}
        assert stats.open_connections == 3
    finally:
        pool.stop()


def test_a_dead_child_is_restarted_in_its_slot_and_its_connections_forgotten():
    reactor, stats, pool, _ = started_pool()
    try:
        for protocol, _, _ in list(reactor.spawned):
            protocol.outReceived(report(open_connections=4))
        end(reactor.spawned[0][0])
        assert stats.open_connections == 4
        assert len(reactor.spawned) == 2
        reactor.advance(MIN_DELAY)
        assert len(reactor.spawned) == 3
        assert reactor.spawned[2][1] == reactor.spawned[0][1]  # slot 0 again, same address
        end(reactor.spawned[1][0])
        reactor.advance(MIN_DELAY)
        assert pool.restarts == 2
        assert pool.pids == [1002, 1003]
    finally:
        pool.stop()


def test_start_fails_if_a_child_exits_before_listening():
    reactor, _, pool, ready = started_pool()
    try:
        reactor.spawned[0][0].outReceived(report())
        end(reactor.spawned[1][0], code=1, sig=None)
        failure = ready.result
        ready.addErrback(lambda _: None)
        assert failure.check(ChildExited)
        assert "receiver process 1 exited before it was ready (code 1" in str(failure.value)
    finally:
        pool.stop()


def test_stop_signals_every_child_and_fires_when_all_exited_without_restarting():
    reactor, _, pool, _ = started_pool()
    for protocol, _, _ in reactor.spawned:
        protocol.outReceived(report())
    end(reactor.spawned[1][0])  # one died; its restart is pending
    stopped = pool.stop()
    assert reactor.spawned[0][2].signals == [signal.SIGTERM]
    assert not stopped.called
    end(reactor.spawned[0][0], code=0, sig=None)
    assert stopped.called
    assert not pool.reported_all  # what the dead child appended last may be uncounted
    reactor.advance(MAX_BACKOFF)
    assert len(reactor.spawned) == 2  # no restart after stop


def test_a_clean_stop_of_every_child_has_reported_all_they_appended():
    reactor, _, pool, _ = started_pool()
    for protocol, _, _ in reactor.spawned:
        protocol.outReceived(report())
    stopped = pool.stop()
    end(reactor.spawned[0][0], code=0, sig=None)
    assert not pool.reported_all
    end(reactor.spawned[1][0], code=0, sig=None)
    assert stopped.called and pool.reported_all


def test_a_stop_given_up_on_kills_the_children_and_fails_as_cancelled():
    reactor, _, pool, _ = started_pool()
    for protocol, _, _ in reactor.spawned:
        protocol.outReceived(report())
    stopped = pool.stop()
    stopped.cancel()  # the server's shutdown deadline ran out
    assert [t.signals for _, _, t in reactor.spawned] == [[signal.SIGTERM, signal.SIGKILL]] * 2
    failure = stopped.result
    stopped.addErrback(lambda _: None)
    assert failure.check(CancelledError)
    assert not pool.reported_all


def test_a_childs_failing_spool_is_the_pools_until_it_reports_otherwise():
    reactor, _, pool, _ = started_pool()
    try:
        first, second = reactor.spawned[0][0], reactor.spawned[1][0]
        first.outReceived(report())
        second.outReceived(report(failing="spool: [Errno 28] No space left on device"))
        assert pool.failing == "receiver process 1: spool: [Errno 28] No space left on device"
        second.outReceived(report(failing=None))  # its probe write synced: it recovered
        assert pool.failing is None
        first.outReceived(report(failing="spool: [Errno 5] EIO"))
        end(first)  # a dead child's state goes with it
        assert pool.failing is None
    finally:
        pool.stop()
