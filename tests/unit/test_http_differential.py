"""The receiver's parser against two strict references: llhttp (httptools) and h11.

Hypothesis builds requests, well formed and subtly not (chunk sizes, line
ends, header names and values, repeated or conflicting framing headers,
obs-fold, versions, targets, whitespace in the request line), and splits
each at random points. The rule: whatever the receiver hands to its handler,
both references accept too, with the same method, target and body; so
whatever either rejects, the receiver does not serve. (One allowance: h11 is
given the request without the empty lines before it, see `h11_parse`.) A
request built with no fault in it must be served.

`make test` runs a few hundred examples; `make fuzz` sets HTTP_FUZZ_EXAMPLES
for a long run.
"""

from __future__ import annotations

import dataclasses
import os

import h11
import httptools
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from appliance.receiver.protocol import Limits
from tests.unit.test_receiver_http import Handler, connect, statuses

EXAMPLES = int(os.environ.get("HTTP_FUZZ_EXAMPLES", "300"))
LIMITS = Limits(max_body_bytes=1 << 20, max_path_bytes=4096, max_header_bytes=64 * 1024,
                max_headers=200, max_connections=10, max_decompressed_bytes=1 << 20,
                max_chunks=1000)
REJECTED = "rejected"


@dataclasses.dataclass
class Built:
    """A generated request: its bytes, and whether a fault was put in on purpose."""

    raw: bytes
    faulty: bool


# -- what the references make of it ----------------------------------------

class _Collect:
    def __init__(self):
        self.url = b""
        self.body = b""
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def llhttp(pieces: list[bytes]):
    """(method, target, body) of the first request, None if incomplete, or REJECTED."""
    seen = _Collect()
    parser = httptools.HttpRequestParser(seen)
    try:
        for piece in pieces:
            parser.feed_data(piece)
            if seen.complete:
                return parser.get_method(), seen.url, seen.body
    except httptools.HttpParserError:
        return REJECTED
    return None


def h11_parse(pieces: list[bytes]):
    """(method, target, body) of the first request, None if incomplete, or REJECTED.

    Empty lines before the request line are taken off first: RFC 9112 (2.2) says a
    server SHOULD ignore them, the receiver and llhttp do, and h11 refuses them.
    """
    raw = b"".join(pieces)
    at = 0
    while raw.startswith(b"\r\n", at):
        at += 2
    if at:
        pieces = [raw[at:]]
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
    request, body = None, b""
    try:
        for piece in pieces:
            conn.receive_data(piece)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    break
                if isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    return request.method, request.target, body
    except h11.RemoteProtocolError:
        return REJECTED
    return None


def appliance(pieces: list[bytes]):
    """(method, target, body) the receiver's handler got, None, or (REJECTED, status)."""
    handler = Handler()
    proto, transport, _, _ = connect(handler, LIMITS)
    for piece in pieces:
        proto.dataReceived(piece)
        if handler.requests:
            request = handler.requests[0]
            return request.method, request.target, request.body
        if proto.rejected:
            return REJECTED, statuses(transport)
    return None


# -- building requests -------------------------------------------------------

TOKEN = st.text("abcXYZ019-!#$%&'*+.^_`|~", min_size=1, max_size=8).map(str.encode)
ODD_BYTES = st.sampled_from([b" ", b"\t", b"\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"\r",
                             b"\n", b"\x0b", b"\x0c", b":", b'"', b"(", b"@", b"\xe9"])
FIELD_TEXT = st.text("abc XYZ 09;=,/\t-", max_size=12).map(str.encode)


@st.composite
def faulty_bytes(draw, base: bytes) -> bytes:
    """`base` with an odd byte put somewhere in it."""
    at = draw(st.integers(0, len(base)))
    return base[:at] + draw(ODD_BYTES) + base[at:]


@st.composite
def chunk_size_lines(draw, size: int) -> tuple[bytes, bool]:
    """A chunk-size line for `size`: (line, faulty)."""
    digits = draw(st.sampled_from(["%x", "%X", "%04x"])) % size
    ext = draw(st.sampled_from([b"", b";a", b";a=b", b';n="q\\"s"', b";a=b;c"]))
    line, faulty = digits.encode() + ext, False
    if draw(st.integers(0, 5)) == 0:
        line = draw(st.sampled_from([b"0x", b"+", b" ", b"-", b"_"])) + line
        faulty = True
    elif draw(st.integers(0, 8)) == 0:
        line = digits.encode() + draw(st.sampled_from(
            [b" ", b"\t", b"_0", b" ;a", b";", b";a=", b";a b", b'; a="x', b";\x00"]))
        faulty = True
    return line, faulty


@st.composite
def requests(draw) -> Built:
    """A request, well formed or with a fault in it."""
    faulty = False
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS"]))
    if draw(st.integers(0, 15)) == 0:
        method, faulty = draw(st.sampled_from([b"get", b"BREW", b"G T", b"", b"CONNECT"])), True
    target = b"/" + draw(st.text("abc/?=&%.-_~+", max_size=20)).encode()
    if draw(st.integers(0, 10)) == 0:
        target = draw(st.sampled_from([b"http://h/p?q", b"*", b"h/p"]))
        faulty = faulty or target != b"http://h/p?q"
    elif draw(st.integers(0, 15)) == 0:
        target, faulty = draw(faulty_bytes(target)), True
    version = b"HTTP/1.1"
    if draw(st.integers(0, 10)) == 0:
        version = draw(st.sampled_from([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.10", b"http/1.1",
                                        b"HTTP/1.1 ", b"HTTP/1"]))
        faulty = faulty or version != b"HTTP/1.0"
    lines = [method + b" " + target + b" " + version]
    if draw(st.integers(0, 12)) == 0:  # whitespace a lenient parser skips
        lines[0] = draw(st.sampled_from([
            method + b"  " + target + b" " + version, method + b" " + target + b"  " + version,
            method + b"\t" + target + b" " + version, b"\n" + lines[0], b"\r\n" + lines[0],
            b" " + lines[0], lines[0] + b" "]))
        faulty = True

    fields: list[bytes] = []
    if version != b"HTTP/1.0" or draw(st.booleans()):
        fields.append(b"Host: example")
    if draw(st.integers(0, 15)) == 0:
        fields.append(b"Host: other")
        faulty = True
    for _ in range(draw(st.integers(0, 3))):
        name, value = draw(TOKEN), draw(FIELD_TEXT)
        if name.lower() in (b"host", b"content-length", b"transfer-encoding", b"upgrade",
                            b"connection", b"expect"):
            continue
        sep = b": "
        if draw(st.integers(0, 8)) == 0:
            sep, faulty = draw(st.sampled_from([b" :", b" : ", b"\t:"])), True
        if draw(st.integers(0, 8)) == 0:
            name, faulty = draw(faulty_bytes(name)), True
        if draw(st.integers(0, 8)) == 0:
            value = draw(faulty_bytes(value))
            faulty = True  # may be harmless (a space, obs-text): only faulty requests may fail
        fields.append(name + sep + value)
        if draw(st.integers(0, 15)) == 0:
            fields.append(b" folded")  # obs-fold
            faulty = True

    body = draw(st.binary(max_size=40))
    framing = draw(st.sampled_from(["length", "chunked", "none"]))
    if version == b"HTTP/1.0" and framing == "chunked":
        framing = "length"
    tail = b""
    if framing == "none":
        body = b""
    elif framing == "length":
        length = b"%d" % len(body)
        if draw(st.integers(0, 8)) == 0:
            length = draw(st.sampled_from([b"+" + length, b"0x%x" % len(body),
                                           length + b"," + length, b"-1", length + b" x"]))
            faulty = True
        fields.append(b"Content-Length: " + length)
        if draw(st.integers(0, 15)) == 0:
            fields.append(draw(st.sampled_from([b"Content-Length: " + length,
                                                b"Transfer-Encoding: chunked"])))
            faulty = True
        tail = body
    else:
        coding = b"chunked"
        if draw(st.integers(0, 10)) == 0:
            coding = draw(st.sampled_from([b"Chunked", b"gzip, chunked", b"chunked, gzip",
                                           b"identity", b"chunked, chunked"]))
            faulty = faulty or coding != b"Chunked"
        fields.append(b"Transfer-Encoding: " + coding)
        if draw(st.integers(0, 15)) == 0:
            fields.append(draw(st.sampled_from([b"Transfer-Encoding: chunked",
                                                b"Content-Length: 3"])))
            faulty = True
        parts, at = [], 0
        while at < len(body):
            n = draw(st.integers(1, len(body) - at))
            line, odd = draw(chunk_size_lines(n))
            faulty = faulty or odd
            parts += [line + b"\r\n" + body[at:at + n] + b"\r\n"]
            at += n
        last = b"0"
        if draw(st.integers(0, 10)) == 0:
            last = draw(st.sampled_from([b"00", b"0;x=y", b"0 ", b"0x0"]))
            faulty = faulty or last not in (b"00", b"0;x=y")
        trailers = draw(st.sampled_from([b"", b"T: v\r\n", b"T : v\r\n", b"bad\r\n"]))
        faulty = faulty or trailers in (b"T : v\r\n", b"bad\r\n")
        tail = b"".join(parts) + last + b"\r\n" + trailers + b"\r\n"

    head = b"\r\n".join(lines + fields) + b"\r\n\r\n"
    ends = [i for i in range(len(head) - 1) if head[i:i + 2] == b"\r\n"]
    if draw(st.integers(0, 8)) == 0:
        at = draw(st.sampled_from(ends))
        head = head[:at] + draw(st.sampled_from([b"\n", b"\r", b"\r\r\n", b"\n\r"])) \
            + head[at + 2:]
        faulty = True
    return Built(head + tail, faulty)


@st.composite
def split(draw, raw: bytes) -> list[bytes]:
    """`raw` cut at a few random points."""
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    edges = [0, *cuts, len(raw)]
    return [raw[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a] or [b""]


@st.composite
def split_requests(draw) -> tuple[Built, list[bytes]]:
    built = draw(requests())
    return built, draw(split(built.raw))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_requests())
def test_what_the_receiver_serves_both_references_accept_alike(case):
    built, pieces = case
    ours = appliance(pieces)
    event("served" if ours and ours[0] != REJECTED else "refused" if ours else "incomplete")
    if ours is not None and ours[0] != REJECTED:
        assert llhttp(pieces) == ours, "llhttp disagrees with what the receiver served"
        assert h11_parse(pieces) == ours, "h11 disagrees with what the receiver served"
    if not built.faulty:
        assert ours is not None and ours[0] != REJECTED, f"refused a good request: {ours}"
    if ours is not None and ours[0] == REJECTED:
        assert all(400 <= s < 600 for s in ours[1]) and ours[1]


def test_the_issues_cases_are_refused_by_all_three():
    """The inputs the receiver used to accept (issue 13), each refused by every parser."""
    head = b"POST / HTTP/1.1\r\nHost: x\r\n"
    chunked = head + b"Transfer-Encoding: chunked\r\n\r\n"
    for raw in [chunked + b"0x9\r\n123456789\r\n0\r\n\r\n",
                chunked + b"+9\r\n123456789\r\n0\r\n\r\n",
                chunked + b"0_9\r\n123456789\r\n0\r\n\r\n",
                chunked + b" 9 \r\n123456789\r\n0\r\n\r\n",
                head + b"A: b\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nx",
                head + b"A\rB: c\r\nContent-Length: 0\r\n\r\n",
                head + b"A\x00: c\r\nContent-Length: 0\r\n\r\n",
                head + b"A B: c\r\nContent-Length: 0\r\n\r\n",
                head + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
                       b"0\r\n\r\n"]:
        assert appliance([raw])[0] == REJECTED, raw
        assert REJECTED in (llhttp([raw]), h11_parse([raw])), raw


def test_bare_lf_line_ends_are_answered_400_at_once():
    ours = appliance([b"GET / HTTP/1.1\nHost: x\n"])
    assert ours == (REJECTED, [400])


def test_a_good_request_is_served_like_the_references():
    """Extensions, trailers and a split head: served, and read alike by all three."""
    raw = (b"POST /submit/a HTTP/1.1\r\nHost: example\r\nX-a: b c\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: v\r\n\r\n")
    assert appliance([raw[:20], raw[20:]]) == llhttp([raw]) == h11_parse([raw]) == (
        b"POST", b"/submit/a", b"abc")
