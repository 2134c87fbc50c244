"""The admin site over an in-memory transport: the token is checked from the headers,
before any body is stored; bodies are bounded; every error is JSON."""

from __future__ import annotations

import json

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from appliance.admin.api import AdminSite
from appliance.admin.request import AdminRequest
from tests.unit.admin_fakes import TOKEN, Api, FakeServer

BIG = 50 << 20  # more than any body the site may keep


class Connection:
    """One client connection to an AdminSite, bytes in and out."""

    def __init__(self, site):
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5555))
        self.channel = site.buildProtocol(None)
        self.channel.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.channel.dataReceived(data)

    def answer(self) -> tuple[int, dict, bytes]:
        head, _, body = self.transport.value().partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.fixture
def site(tmp_path):
    api = Api(FakeServer(tmp_path))
    rendered = []
    real_render = api.resource.render
    api.resource.render = lambda request: rendered.append(request) or real_render(request)
    s = AdminSite(api.resource, reactor=Clock(), max_body_bytes=1000)
    s.rendered, s.requests = rendered, []

    def make_request(*args, **kwargs):
        s.requests.append(AdminRequest(*args, **kwargs))
        return s.requests[-1]

    s.requestFactory = make_request
    return s


def head(method: str, path: str, token: str | None, *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *extra]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("token", [None, "wrong"])
@pytest.mark.parametrize("framing", [f"Content-Length: {BIG}", "Transfer-Encoding: chunked"])
def test_without_the_token_the_body_is_never_read(site, token, framing):
    c = Connection(site)
    c.send(head("POST", "/v1/jobs", token, framing, "Expect: 100-continue"))
    status, headers, body = c.answer()
    assert status == 401 and headers["content-type"] == "application/json"
    assert headers["www-authenticate"].startswith("Bearer") and headers["connection"] == "close"
    assert "bearer token" in json.loads(body)["error"]
    assert b"100 Continue" not in c.transport.value()  # the body is not invited
    assert c.transport.disconnecting
    [request] = site.requests
    c.send(b"x" * 65536 if framing.startswith("Content") else b"10000\r\n" + b"x" * 65536)
    assert request.content.getvalue() == b"" and not site.rendered


def test_an_authenticated_body_over_the_limit_is_refused_before_it_is_read(site):
    c = Connection(site)
    c.send(head("POST", "/v1/jobs", TOKEN, "Content-Length: 1001"))
    status, _, body = c.answer()
    assert status == 413 and json.loads(body) == {"error": "request body over 1000 bytes"}
    assert c.transport.disconnecting and not site.rendered


def test_a_chunked_body_is_cut_off_at_the_limit(site):
    c = Connection(site)
    c.send(head("POST", "/v1/jobs", TOKEN, "Transfer-Encoding: chunked"))
    c.send(b"200\r\n" + b"x" * 512 + b"\r\n")
    assert c.transport.value() == b""  # within the limit so far
    c.send(b"200\r\n" + b"x" * 512 + b"\r\n0\r\n\r\n")
    status, _, body = c.answer()
    assert status == 413 and "over 1000 bytes" in json.loads(body)["error"]
    assert c.transport.disconnecting and not site.rendered


def test_an_authenticated_request_is_served(site):
    c = Connection(site)
    c.send(head("GET", "/v1/stats", TOKEN))
    status, headers, body = c.answer()
    assert status == 200 and json.loads(body)["node_id"] == "node-a"
    assert not c.transport.disconnecting and len(site.rendered) == 1


@pytest.mark.logs_failures("a bug in a handler is logged with its traceback, and answered 500")
def test_an_unexpected_error_is_a_json_500(site, monkeypatch):
    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr(site.resource.view, "stats", broken)
    c = Connection(site)
    c.send(head("GET", "/v1/stats", TOKEN))
    status, headers, body = c.answer()
    assert status == 500 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "internal error: a bug"}


def test_connections_beyond_the_cap_are_refused_until_one_closes(site):
    from twisted.python.failure import Failure

    from appliance.admin.service import ConnectionCap

    capped = ConnectionCap(site, limit=2)
    address = IPv4Address("TCP", "127.0.0.1", 5555)
    held = [capped.buildProtocol(address) for _ in range(2)]
    for protocol in held:
        protocol.makeConnection(StringTransport(peerAddress=address))
    assert capped.buildProtocol(address) is None
    held[0].connectionLost(Failure(ConnectionError("closed")))
    assert capped.buildProtocol(address) is not None
