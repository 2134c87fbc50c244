"""Draining the public port in memory: which connections close at once, which are answered."""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock

from appliance.receiver.drain import NEW_CONNECTION_GRACE, DrainingFactory
from appliance.stats import Stats
from tests.unit.test_receiver_http import LIMITS, Handler, another, post, statuses


def draining_factory(handler=None):
    reactor = MemoryReactorClock()
    factory = DrainingFactory(handler or Handler(), LIMITS, Stats(reactor.seconds), reactor,
                              idle_timeout=60)
    return factory, reactor


def test_a_keep_alive_connection_between_requests_closes_at_once():
    factory, _ = draining_factory()
    proto, transport = another(factory)
    proto.dataReceived(post(b"/submit/a", b"{}"))
    factory.drain()
    assert statuses(transport) == [200]
    assert transport.disconnecting


def test_a_request_in_progress_is_answered_with_connection_close_then_closed():
    factory, _ = draining_factory()
    proto, transport = another(factory)
    raw = post(b"/submit/a", b"0123456789")
    proto.dataReceived(raw[:-5])
    drained = factory.drain()
    assert not transport.disconnecting
    proto.dataReceived(raw[-5:])
    assert statuses(transport) == [200]
    assert b"Connection: close" in transport.value()
    assert transport.disconnecting
    proto.connectionLost(None)
    assert drained.called


def test_a_new_connection_whose_request_arrives_after_the_drain_began_is_answered():
    # Its client sent the request before the drain; the reactor read it after.
    factory, reactor = draining_factory()
    proto, transport = another(factory)
    factory.drain()
    reactor.advance(NEW_CONNECTION_GRACE / 2)
    assert not transport.disconnecting
    proto.dataReceived(post(b"/submit/a", b"{}"))
    assert statuses(transport) == [200]
    assert b"Connection: close" in transport.value()
    assert transport.disconnecting


def test_a_new_connection_that_sends_nothing_closes_after_the_grace():
    factory, reactor = draining_factory()
    _, transport = another(factory)
    factory.drain()
    reactor.advance(NEW_CONNECTION_GRACE - 0.01)
    assert not transport.disconnecting
    reactor.advance(0.02)
    assert transport.disconnecting
