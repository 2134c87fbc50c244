"""The receiver's HTTP/1.1 protocol in memory: parsing, limits, ordering, persistence."""

from __future__ import annotations

import re

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport

from appliance.receiver.messages import Answer
from appliance.receiver.protocol import Limits, ReceiverFactory
from appliance.stats import Stats

LIMITS = Limits(max_body_bytes=1000, max_path_bytes=100, max_header_bytes=400, max_headers=5,
                max_connections=2, max_decompressed_bytes=10_000, max_chunks=8)


class Handler:
    """Answers 200 with the body length, or holds answers in Deferreds when `hold`."""

    def __init__(self, hold: bool = False):
        self.hold = hold
        self.requests = []
        self.pending: list[Deferred] = []

    def __call__(self, request):
        self.requests.append(request)
        answer = Answer(200, f"{request.method.decode()} {request.path} {len(request.body)}")
        if not self.hold:
            return answer
        d = Deferred()
        d.addCallback(lambda _: answer)
        self.pending.append(d)
        return d


def connect(handler=None, limits=LIMITS):
    reactor = MemoryReactorClock()
    factory = ReceiverFactory(handler or Handler(), limits, Stats(reactor.seconds), reactor,
                              idle_timeout=60)
    proto, transport = another(factory)
    return proto, transport, factory, reactor


def another(factory, ip: str = "192.0.2.1"):
    """One more connection to `factory` from `ip`."""
    proto = factory.buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", ip, 4000))
    proto.makeConnection(transport)
    return proto, transport


def statuses(transport) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", transport.value())]


def post(path: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s"
            % (path, len(body), extra, body))


def test_body_split_across_packets_is_joined_and_headers_kept():
    handler = Handler()
    proto, transport, factory, _ = connect(handler)
    raw = post(b"/submit/a?x=1", b"0123456789", b"User-Agent: \xe9t\xe9 \r\n")
    for i in range(0, len(raw), 7):
        proto.dataReceived(raw[i:i + 7])
    (request,) = handler.requests
    assert (request.body, request.path, request.target) == (
        b"0123456789", "/submit/a", b"/submit/a?x=1")
    assert request.headers[b"user-agent"] == b"\xe9t\xe9"
    assert statuses(transport) == [200]
    assert b"Connection: close" not in transport.value()
    assert factory.stats.requests_by_status[200] == 1


def test_pipelined_requests_wait_for_the_earlier_answer_and_stay_in_order():
    handler = Handler(hold=True)
    proto, transport, _, _ = connect(handler)
    proto.dataReceived(post(b"/one", b"1") + post(b"/two", b"22"))
    assert [r.path for r in handler.requests] == ["/one"]
    assert transport.value() == b""
    handler.pending[0].callback(None)
    assert [r.path for r in handler.requests] == ["/one", "/two"]
    handler.pending[1].callback(None)
    body = transport.value()
    assert statuses(transport) == [200, 200]
    assert body.index(b"POST /one 1") < body.index(b"POST /two 2")


def test_thousands_of_pipelined_requests_in_one_read_are_answered_in_order():
    handler = Handler()
    proto, transport, _, _ = connect(handler)
    proto.dataReceived(b"".join(post(b"/%d" % i, b"x") for i in range(5000)))
    assert [r.path for r in handler.requests] == [f"/{i}" for i in range(5000)]
    assert statuses(transport) == [200] * 5000


@pytest.mark.parametrize("before, status", [(b"\r\n", 200), (b"\n", 400), (b"\r", 400),
                                            (b"\r\n" * 600, 400)])
def test_what_comes_before_a_request_in_reads_of_its_own(before, status):
    proto, transport, _, _ = connect()
    for at in range(0, len(before), 2):
        proto.dataReceived(before[at:at + 2])
    proto.dataReceived(post(b"/a", b"x"))
    assert statuses(transport) == [status]


def test_a_lenient_request_line_among_pipelined_ones_is_refused():
    handler = Handler()
    proto, transport, _, _ = connect(handler)
    proto.dataReceived(post(b"/1", b"a") + post(b"/2", b"b").replace(b"POST ", b"POST  "))
    assert [r.path for r in handler.requests] == ["/1"]
    assert statuses(transport) == [200, 400]


def test_pipelined_input_buffered_while_busy_is_not_taken_for_one_big_head():
    handler = Handler(hold=True)
    proto, transport, _, _ = connect(handler)
    one = post(b"/p", b"x")
    proto.dataReceived(one + one[:10])  # a second head begins
    stream = one[10:] + one * 300 + one[:10]  # it ends, many follow, one more begins
    for at in range(0, len(stream), 1000):
        proto.dataReceived(stream[at:at + 1000])  # buffered: the first is with the handler
    while handler.pending:
        handler.pending.pop(0).callback(None)
    assert statuses(transport) == [200] * 302
    assert not proto.rejected


def test_chunked_body_with_extensions_and_trailers():
    handler = Handler()
    proto, transport, _, _ = connect(handler)
    proto.dataReceived(b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n")
    assert handler.requests[0].body == b"abcde"
    assert handler.requests[0].has_length
    assert statuses(transport) == [200]


def test_a_body_of_max_chunks_chunks_is_served():
    handler = Handler()
    proto, transport, _, _ = connect(handler)
    proto.dataReceived(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + b"1\r\na\r\n" * LIMITS.max_chunks + b"0\r\n\r\n")
    assert statuses(transport) == [200]
    assert handler.requests[0].body == b"a" * LIMITS.max_chunks


def test_request_without_length_is_handed_over_without_a_body():
    handler = Handler()
    proto, _, _, _ = connect(handler)
    proto.dataReceived(b"POST /n HTTP/1.1\r\nHost: x\r\n\r\n")
    assert handler.requests[0].has_length is False


def test_http_1_0_closes_unless_keep_alive_and_head_has_no_body():
    proto, transport, _, _ = connect()
    proto.dataReceived(b"HEAD /status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert b"Connection: keep-alive" in transport.value()
    assert transport.value().endswith(b"\r\n\r\n")  # no body after the head
    proto.dataReceived(b"GET /status HTTP/1.0\r\n\r\n")
    assert b"Connection: close" in transport.value()
    assert transport.disconnecting


def test_expect_100_continue_is_answered_before_the_body():
    proto, transport, _, _ = connect()
    proto.dataReceived(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                       b"Expect: 100-continue\r\n\r\n")
    assert transport.value() == b"HTTP/1.1 100 Continue\r\n\r\n"
    proto.dataReceived(b"ok")
    assert statuses(transport) == [100, 200]


H = b"GET / HTTP/1.1\r\nHost: x\r\n"
P = b"POST / HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize("raw, status", [
    (P + b"Content-Length: 1001\r\n\r\n", 413),
    (P + b"Transfer-Encoding: chunked\r\n\r\n3e8\r\n" + b"a" * 1000 + b"\r\n1\r\nb", 413),
    (P + b"Transfer-Encoding: chunked\r\n\r\n" + b"1\r\na\r\n" * 10, 413),  # max_chunks
    (P + b"Content-Length: " + b"9" * 40 + b"\r\n\r\n", 400),  # beyond 64 bits
    (P + b"Content-Length: " + b"9" * 18 + b"\r\n\r\n", 413),
    (b"POST /" + b"p" * 101 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /" + b"p" * 200, 414),  # no end of line yet
    (H + b"X: " + b"h" * 500 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 6 + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 7, 431),  # no end of head yet
    (P + b"Transfer-Encoding: chunked\r\n\r\n0\r\n" + b"T: " + b"t" * 500 + b"\r\n\r\n", 431),
    (b"GET /\r\n\r\n", 505),  # HTTP/0.9
    (b"GET / HTTP/1.1\nHost: x\n", 400),  # bare LF: at once
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    (b"CONNECT h:1 HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    (H + b"Connection: upgrade\r\nUpgrade: h2c\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (H + b"Host: y\r\n\r\n", 400),
    (H + b"no colon\r\n\r\n", 400),
    (H + b"A: b\r\n folded\r\n\r\n", 400),
    (P + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (P + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
    (P + b"Content-Length: x\r\n\r\n", 400),
    (P + b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (P + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    (P + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (P + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (P + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (P + b"Transfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n", 400),
])
def test_refusals_answer_at_once_and_close_after_the_linger(raw, status):
    handler = Handler()
    proto, transport, factory, reactor = connect(handler)
    proto.dataReceived(raw)
    assert statuses(transport) == [status]
    assert b"Connection: close" in transport.value()
    assert handler.requests == []
    assert factory.stats.requests_by_status[status] == 1
    proto.dataReceived(b"more bytes are dropped")
    assert statuses(transport) == [status]
    reactor.advance(1.0)
    assert transport.disconnecting


def test_a_head_growing_past_its_limit_is_refused_before_it_ends():
    proto, transport, _, _ = connect()
    proto.dataReceived(H + b"X: ")
    proto.dataReceived(b"h" * 300)
    assert statuses(transport) == []
    proto.dataReceived(b"h" * 300)  # past max_header_bytes + max_path_bytes, no end yet
    assert statuses(transport) == [431]


def test_a_trailer_growing_without_end_is_refused():
    proto, transport, _, _ = connect()
    proto.dataReceived(P + b"Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nT: ")
    for _ in range(100):
        proto.dataReceived(b"t" * 100)
        if proto.rejected:
            break
    assert statuses(transport) == [413]


def test_connections_over_the_limit_get_503_with_retry_after():
    factory = connect()[2]
    protos = [another(factory, f"192.0.2.{i}") for i in range(3)]
    last, transport = protos[-1]
    last.dataReceived(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(transport) == [503]
    assert b"Retry-After: 1" in transport.value()
    assert factory.open_connections == 4
    last.connectionLost(None)
    assert factory.stats.open_connections == 3


def test_answer_for_a_client_that_left_is_counted_but_not_written():
    handler = Handler(hold=True)
    proto, transport, factory, _ = connect(handler)
    proto.dataReceived(post(b"/gone", b"x"))
    proto.connectionLost(None)
    handler.pending[0].callback(None)
    assert transport.value() == b""
    assert factory.stats.requests_by_status[200] == 1
