"""The child supervisor with a fake process reactor: readiness, lines, backoff, kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from twisted.internet.defer import CancelledError
from twisted.logger import LogLevel, capturedLogs

from appliance.supervise import MIN_DELAY, ChildExited, Supervisor
from tests.integration.serverproc import eventually
from tests.unit.process_fakes import ProcessReactor, end

MAX_DELAY = 8.0
RESET_AFTER = 30.0
GRACE = 10.0


def supervised(group: bool = False):
    reactor = ProcessReactor()
    reports: list[dict] = []
    endings: list[tuple] = []
    supervisor = Supervisor(reactor, "worker", ["appliance", "_worker"], env={},
                            on_report=reports.append,
                            on_ended=lambda code, sig: endings.append((code, sig)),
                            max_delay=MAX_DELAY, reset_after=RESET_AFTER, grace=GRACE,
                            group=group)
    ready: list = []  # what start() gave: the supervisor, or a ChildExited failure
    supervisor.start().addBoth(ready.append)
    return reactor, supervisor, ready, reports, endings


def child(reactor, n=-1):
    """(protocol, transport) of the `n`th spawned child."""
    protocol, _, transport = reactor.spawned[n]
    return protocol, transport


def test_the_first_line_makes_it_ready_and_every_line_is_a_report():
    reactor, supervisor, ready, reports, _ = supervised()
    protocol, _ = child(reactor)
    assert supervisor.running and supervisor.pid == 1000
    protocol.outReceived(b'{"n": ')
    assert ready == []  # half a line says nothing
    protocol.outReceived(b'1}\n{"n": 2}\n{"n"')
    assert ready == [supervisor]
    assert reports == [{"n": 1}, {"n": 2}]


def test_a_line_that_is_no_json_is_logged_not_reported():
    reactor, _, ready, reports, _ = supervised()
    with capturedLogs() as events:
        child(reactor)[0].outReceived(b"Traceback (most recent call last):\n")
    assert reports == [] and ready == []
    assert [(e["log_level"], e["line"]) for e in events if "line" in e] == [
        (LogLevel.warn, "Traceback (most recent call last):")]


def test_stderr_is_logged_one_whole_line_at_a_time():
    reactor, _, _, _, _ = supervised()
    protocol, _ = child(reactor)
    with capturedLogs() as events:
        protocol.errReceived(b"conv")
        protocol.errReceived(b"erting\nstill con")
        protocol.errReceived(b"verting\n\nlast words")
        end(protocol, code=1, sig=None)
    assert [e["line"] for e in events if "line" in e] == [
        "converting", "still converting", "last words"]
    assert all(e["label"] == "worker" for e in events if "line" in e)


def test_a_child_dying_before_it_is_ready_fails_ready_and_is_restarted_anyway():
    reactor, supervisor, ready, _, endings = supervised()
    end(child(reactor)[0], code=2, sig=None)
    assert endings == [(2, None)]
    assert not supervisor.running
    assert ready[0].check(ChildExited)
    reactor.advance(MIN_DELAY)
    assert len(reactor.spawned) == 2 and supervisor.restarts == 1


def test_quick_deaths_double_the_delay_up_to_the_maximum():
    reactor, supervisor, _, _, _ = supervised()
    delays = []
    for _ in range(6):
        end(child(reactor)[0])
        spawned, waited = len(reactor.spawned), 0.0
        while len(reactor.spawned) == spawned:
            reactor.advance(0.5)
            waited += 0.5
        delays.append(waited)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert supervisor.restarts == 6


def test_a_child_that_ran_long_enough_starts_the_delays_over():
    reactor, _, _, _, _ = supervised()
    for _ in range(3):  # delays 1, 2, 4: the next would be 8
        end(child(reactor)[0])
        reactor.advance(MAX_DELAY)
    reactor.advance(RESET_AFTER)
    end(child(reactor)[0])
    spawned = len(reactor.spawned)
    reactor.advance(MIN_DELAY)
    assert len(reactor.spawned) == spawned + 1
    end(child(reactor)[0])  # and it grows again from there
    reactor.advance(MIN_DELAY)
    assert len(reactor.spawned) == spawned + 1
    reactor.advance(MIN_DELAY)
    assert len(reactor.spawned) == spawned + 2


def test_a_report_starts_the_delays_over():
    reactor, _, _, _, _ = supervised()
    for _ in range(2):  # delays 1, 2: the next would be 4
        end(child(reactor)[0])
        reactor.advance(MAX_DELAY)
    child(reactor)[0].outReceived(b'{"commits": 1}\n')  # progress
    end(child(reactor)[0])
    spawned = len(reactor.spawned)
    reactor.advance(MIN_DELAY)
    assert len(reactor.spawned) == spawned + 1


def test_a_child_that_stops_in_time_gets_sigterm_only():
    reactor, supervisor, _, _, _ = supervised()
    protocol, transport = child(reactor)
    stopped = supervisor.stop()
    assert transport.signals == [signal.SIGTERM]
    reactor.advance(GRACE - 1)
    end(protocol, code=0, sig=None)
    assert stopped.result == 0
    reactor.advance(GRACE + MAX_DELAY)
    assert transport.signals == [signal.SIGTERM]
    assert len(reactor.spawned) == 1  # no restart after a stop


def test_a_child_still_there_after_the_grace_period_gets_sigkill():
    reactor, supervisor, _, _, _ = supervised()
    protocol, transport = child(reactor)
    with capturedLogs() as events:
        stopped = supervisor.stop(grace=5.0)
        reactor.advance(4.9)
        assert transport.signals == [signal.SIGTERM]
        reactor.advance(0.1)
    assert transport.signals == [signal.SIGTERM, signal.SIGKILL]
    assert any(e["log_level"] == LogLevel.warn and "SIGKILL" in e["log_format"] for e in events)
    assert not stopped.called
    end(protocol, sig=signal.SIGKILL)
    assert stopped.result is None  # killed: no exit code


def test_cancelling_the_stop_kills_at_once():
    reactor, supervisor, _, _, _ = supervised()
    protocol, transport = child(reactor)
    stopped = supervisor.stop()
    stopped.cancel()  # the server's shutdown deadline gave up on it
    assert transport.signals == [signal.SIGTERM, signal.SIGKILL]
    failure = stopped.result
    stopped.addErrback(lambda _: None)
    assert failure.check(CancelledError)
    end(protocol, sig=signal.SIGKILL)  # its end after the cancel is no error
    reactor.advance(GRACE)
    assert transport.signals == [signal.SIGTERM, signal.SIGKILL]


def test_a_child_gone_before_its_signal_is_no_error():
    reactor, supervisor, _, _, _ = supervised()
    protocol, transport = child(reactor)
    transport.gone = True  # exited; the reactor has not reaped it yet
    stopped = supervisor.stop()
    assert transport.signals == []
    end(protocol, code=0, sig=None)
    assert stopped.result == 0


def test_stopping_while_a_restart_is_pending_cancels_it():
    reactor, supervisor, _, _, _ = supervised()
    end(child(reactor)[0])
    stopped = supervisor.stop()
    assert stopped.called and stopped.result is None
    reactor.advance(MAX_DELAY)
    assert len(reactor.spawned) == 1


def test_children_start_with_sigint_blocked_and_the_server_keeps_its_mask():
    masks = []

    class MaskReactor(ProcessReactor):
        def spawnProcess(self, *args, **kwargs):
            masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, set()))
            return super().spawnProcess(*args, **kwargs)

    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    Supervisor(MaskReactor(), "worker", ["x"], env={}, on_report=print).start()
    assert signal.SIGINT in masks[0]
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before


def test_a_group_child_is_signalled_with_its_whole_process_group(monkeypatch):
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: sent.append((pgid, sig)))
    reactor, supervisor, _, _, _ = supervised(group=True)
    protocol, transport = child(reactor)
    supervisor.stop(grace=5.0)
    reactor.advance(5.0)
    assert sent == [(transport.pid, signal.SIGTERM), (transport.pid, signal.SIGKILL)]
    assert transport.signals == []
    end(protocol, sig=signal.SIGKILL)


def test_a_group_child_that_has_not_made_its_group_yet_is_signalled_alone(monkeypatch):
    def no_group(pgid, sig):
        raise ProcessLookupError(pgid)

    monkeypatch.setattr(os, "killpg", no_group)
    reactor, supervisor, _, _, _ = supervised(group=True)
    protocol, transport = child(reactor)
    supervisor.stop()
    assert transport.signals == [signal.SIGTERM]
    end(protocol, code=0, sig=None)


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie waiting for init counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


GROUP_LEADER = """
import subprocess, sys
from appliance.lifecycle import lead_process_group
lead_process_group()
# The helper lives until the test closes the stdin it shares with the leader (or a kill).
helper = subprocess.Popen([sys.executable, "-c",
                           "import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                           "print(flush=True); sys.stdin.read()"], stdout=subprocess.PIPE)
helper.stdout.readline()  # it ignores SIGTERM from now on
print(helper.pid, flush=True)
sys.stdin.read()
"""


def test_a_group_leader_and_the_helpers_it_starts_end_with_one_group_sigkill():
    leader = subprocess.Popen([sys.executable, "-c", GROUP_LEADER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        helper = int(leader.stdout.readline())
        assert os.getpgid(helper) == leader.pid
        assert Supervisor._signal_group(leader.pid, signal.SIGKILL)
        assert leader.wait(timeout=30) == -signal.SIGKILL
        # The helper is not our child: poll for its end (it cannot ignore SIGKILL).
        eventually(lambda: gone(helper), "the helper to end with its group")
    finally:
        leader.kill()
        leader.stdin.close()  # ends the helper if the group's SIGKILL did not
