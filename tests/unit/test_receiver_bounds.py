"""Per-connection bounds of the public port in memory: deadlines, per-address caps,
unsent answers, closing a connection whose client does not read."""

from __future__ import annotations

import dataclasses

from appliance.receiver.protocol import CLOSE_SECONDS, LINGER_SECONDS, TIMED_OUT
from tests.unit.test_receiver_http import LIMITS, Handler, another, connect, post, statuses

SLOW = dataclasses.replace(LIMITS, head_timeout=10, body_timeout=30, min_body_rate=100,
                           max_connections=100, max_connections_per_ip=2)
HEAD = b"POST /b HTTP/1.1\r\nHost: x\r\n"


def aborted(transport) -> bool:
    """Whether the connection was aborted (StringTransport sets `disconnected` only then)."""
    return transport.disconnected


def test_idle_connection_between_requests_is_aborted():
    proto, transport, _, reactor = connect()
    proto.dataReceived(post(b"/a", b"1"))
    reactor.advance(59)
    assert not transport.disconnecting
    reactor.advance(2)
    assert aborted(transport)


def test_a_silent_connection_is_aborted_at_the_head_deadline():
    proto, transport, factory, reactor = connect(limits=SLOW)
    reactor.advance(9.9)
    assert not transport.disconnecting
    reactor.advance(0.2)
    assert aborted(transport)
    assert factory.stats.requests_by_status[TIMED_OUT] == 1


def test_a_head_sent_a_byte_at_a_time_is_aborted_at_the_head_deadline():
    """Slowloris: each byte restarts the idle timer, but not the head's deadline."""
    proto, transport, _, reactor = connect(limits=SLOW)
    proto.dataReceived(post(b"/a", b"1"))  # a first request, answered
    reactor.advance(50)  # idle, well within idle_timeout
    for byte in b"GET /status HTTP/1.1\r\nHost: x\r\n":
        proto.dataReceived(bytes([byte]))
        reactor.advance(0.5)
        if transport.disconnecting:
            break
    assert aborted(transport)
    assert reactor.seconds() == 60.0  # 10 s after the second head's first byte


def test_a_head_in_time_is_served_and_the_next_one_gets_a_fresh_deadline():
    handler = Handler()
    proto, transport, _, reactor = connect(handler, limits=SLOW)
    proto.dataReceived(b"GET /status HTTP/1.1\r\n")
    reactor.advance(9)
    proto.dataReceived(b"Host: x\r\n\r\n")
    proto.dataReceived(b"GET /status HTTP/1.1\r\n")
    reactor.advance(9)
    proto.dataReceived(b"Host: x\r\n\r\n")
    assert statuses(transport) == [200, 200]
    reactor.advance(20)
    assert not transport.disconnecting


def test_a_body_at_the_minimum_rate_is_served():
    handler = Handler()
    proto, transport, _, reactor = connect(handler, limits=SLOW)
    proto.dataReceived(HEAD + b"Content-Length: 900\r\n\r\n")
    reactor.advance(29)  # the grace period, nothing sent
    for _ in range(9):  # 100 bytes a second: the minimum rate
        proto.dataReceived(b"x" * 100)
        reactor.advance(0.99)
    assert statuses(transport) == [200]
    assert len(handler.requests[0].body) == 900


def test_a_trickled_body_is_aborted_once_below_the_minimum_rate():
    proto, transport, factory, reactor = connect(limits=SLOW)
    proto.dataReceived(HEAD + b"Content-Length: 900\r\n\r\nab")
    for _ in range(40):
        reactor.advance(1)
        if transport.disconnecting:
            break
        proto.dataReceived(b"c")
    assert aborted(transport)
    assert 30 <= reactor.seconds() <= 31  # 30 s grace + 12 bytes at 100 B/s
    assert factory.stats.requests_by_status[TIMED_OUT] == 1


def test_a_chunked_body_stalled_in_its_trailers_is_aborted():
    proto, transport, _, reactor = connect(limits=SLOW)
    proto.dataReceived(HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n")
    for _ in range(40):
        reactor.advance(1)
        proto.dataReceived(b"T: 1\r\n")
        if transport.disconnecting:
            break
    assert aborted(transport)


def test_connections_past_the_per_address_cap_get_503_and_others_are_served():
    proto, _, factory, reactor = connect(limits=SLOW)
    second = another(factory)
    third, transport = another(factory)
    third.dataReceived(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(transport) == [503]
    other, other_transport = another(factory, "198.51.100.7")
    other.dataReceived(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(other_transport) == [200]
    second[0].connectionLost(None)
    third.connectionLost(None)
    again, again_transport = another(factory)  # a slot from that address is free again
    again.dataReceived(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(again_transport) == [200]


def test_a_full_write_buffer_stops_parsing_until_it_drains():
    """A client that pipelines requests and never reads its answers."""
    handler = Handler()
    proto, transport, _, _ = connect(handler)
    assert transport.producer is proto and transport.streaming
    proto.dataReceived(post(b"/1", b"a"))
    proto.pauseProducing()  # what the transport does when its buffer is over its bound
    assert transport.producerState == "paused"  # reading stopped
    proto.dataReceived(post(b"/2", b"b") + post(b"/3", b"c"))
    assert [r.path for r in handler.requests] == ["/1"]
    proto.resumeProducing()
    assert [r.path for r in handler.requests] == ["/1", "/2", "/3"]
    assert transport.producerState == "producing"


def test_pipelined_input_waiting_for_an_answer_stops_reading_past_its_bound():
    handler = Handler(hold=True)
    proto, transport, _, _ = connect(handler)
    request = post(b"/p", b"x")
    proto.dataReceived(request)  # with the handler until released
    sent = 0
    while sent <= LIMITS.max_body_bytes:
        assert transport.producerState == "producing"
        proto.dataReceived(request)
        sent += len(request)
    assert transport.producerState == "paused"
    while handler.pending:
        handler.pending.pop(0).callback(None)
    assert transport.producerState == "producing"
    assert statuses(transport) == [200] * (1 + sent // len(request))


def test_a_closing_connection_whose_client_does_not_read_is_aborted():
    proto, transport, _, reactor = connect()
    proto.dataReceived(b"GET / HTTP/2.0\r\n\r\n")  # refused: answered, closed after a linger
    reactor.advance(LINGER_SECONDS)
    assert transport.disconnecting and not aborted(transport)
    assert transport.producer is None  # unregistered: a TLS transport can now close
    reactor.advance(CLOSE_SECONDS)
    assert aborted(transport)


def test_a_closed_connection_cancels_its_timers():
    proto, transport, _, reactor = connect()
    proto.dataReceived(b"GET / HTTP/1.1\r\n")
    proto.connectionLost(None)
    assert reactor.getDelayedCalls() == []
