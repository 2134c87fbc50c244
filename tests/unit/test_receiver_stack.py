"""The receiver stack's drain on a MemoryReactorClock: the port closes first, a request in
progress is waited for until the deadline, then cut, and the spool writer stops last."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import MemoryReactorClock, StringTransport

from appliance.lifecycle import Deadline
from appliance.receiver.drain import NEW_CONNECTION_GRACE
from appliance.receiver.stack import ReceiverStack
from appliance.stats import Stats
from tests.stores import config_for

TIMEOUT = 30.0


class Port:
    def __init__(self, steps: list[str]):
        self.steps = steps

    def stopListening(self):
        self.steps.append("port closed")
        return succeed(None)


def built(tmp_path):
    config, _ = config_for(tmp_path)
    reactor = MemoryReactorClock()
    stack = ReceiverStack(config, reactor, Stats(reactor.seconds))
    steps: list[str] = []
    stack.serve(Port(steps))
    stopping_writer = stack.writer.stop
    stack.writer.stop = lambda: steps.append("writer stopped") or stopping_writer()
    return reactor, stack, steps


def connected(stack) -> tuple:
    protocol = stack.factory.buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 4000))
    protocol.makeConnection(transport)
    return protocol, transport


def test_with_no_connection_the_stack_stops_at_once_in_order(tmp_path):
    reactor, stack, steps = built(tmp_path)
    deadline = Deadline(reactor, TIMEOUT)
    stopped = Deferred.fromCoroutine(stack.stop(deadline))
    assert stopped.called
    assert steps == ["port closed", "writer stopped"]
    assert deadline.missed == []


def test_a_request_in_progress_is_waited_for_then_cut_at_the_deadline(tmp_path):
    reactor, stack, steps = built(tmp_path)
    protocol, transport = connected(stack)
    protocol.dataReceived(b"POST /submit/telemetry/abc HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 10\r\n\r\n12345")  # half its body
    deadline = Deadline(reactor, TIMEOUT)
    stopped = Deferred.fromCoroutine(stack.stop(deadline))
    assert steps == ["port closed"] and not stopped.called
    reactor.advance(TIMEOUT)
    assert transport.disconnecting  # aborted
    protocol.connectionLost(None)
    assert stopped.called
    assert steps == ["port closed", "writer stopped"]
    assert deadline.missed == ["client connections"]


def test_a_connection_without_a_request_is_closed_by_the_drain_after_its_grace(tmp_path):
    reactor, stack, steps = built(tmp_path)
    protocol, transport = connected(stack)
    stopped = Deferred.fromCoroutine(stack.stop(Deadline(reactor, TIMEOUT)))
    assert not transport.disconnecting
    reactor.advance(NEW_CONNECTION_GRACE)
    assert transport.disconnecting
    protocol.connectionLost(None)
    assert stopped.called and steps == ["port closed", "writer stopped"]
