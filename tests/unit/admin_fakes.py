"""A server stand-in and an in-memory request driver for admin API unit tests."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from appliance.admin.api import AdminResource
from appliance.admin.logbuffer import RecentEvents
from appliance.admin.metrics import metrics_renderer
from appliance.admin.view import NodeView
from appliance.config import load_config
from appliance.stats import Stats

TOKEN = "unit-test-token"


@dataclass
class FakeDisk:
    free_bytes: int = 5 << 30
    total_bytes: int = 10 << 30
    low: str | None = None

    def watch(self, _watcher):
        pass


@dataclass
class FakeServer:
    """The attributes of appliance.server.Server that the admin view reads."""

    data_dir: Path
    reactor: Clock = field(default_factory=Clock)
    node_id: str = "node-a"
    node_label: str = "host-a"
    writer: object = None
    converter: object = None
    ledger: object = None
    jobs: object = None
    registry: object = None
    disk: FakeDisk = field(default_factory=FakeDisk)

    def __post_init__(self):
        self.config = load_config(env={}, overrides={("server", "data_dir"): str(self.data_dir)})
        self.stats = Stats(self.reactor.seconds)


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict

    def json(self):
        return json.loads(self.body)


class Api:
    """Drives an AdminResource over a FakeServer with DummyRequests (no reactor, no sockets)."""

    def __init__(self, server: FakeServer, blocking=lambda f: succeed(f())):
        """`blocking` stands in for the view's thread pool (default: runs the call at once)."""
        self.server = server
        self.view = NodeView(server, history_size=5, blocking=blocking)
        self.events = RecentEvents(50)
        self.resource = AdminResource(self.view, self.events, TOKEN,
                                      metrics_renderer(self.view))

    def call(self, method: str, path: str, *, token: str | None = TOKEN,
             auth: str | None = None, body=None) -> Answer:
        path_only, _, query = path.partition("?")
        request = DummyRequest([p.encode() for p in path_only.lstrip("/").split("/")])
        request.method = method.encode()
        request.path = path_only.encode()
        for pair in filter(None, query.split("&")):
            name, _, value = pair.partition("=")
            request.addArg(name.encode(), value.encode())
        if auth is not None:
            request.requestHeaders.addRawHeader(b"authorization", auth.encode())
        elif token is not None:
            request.requestHeaders.addRawHeader(b"authorization", f"Bearer {token}".encode())
        raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
        request.content = io.BytesIO(raw)
        result = self.resource.render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        assert request.finished, "the request was not answered"
        headers = {k.decode().lower(): v[0].decode()
                   for k, v in request.responseHeaders.getAllRawHeaders()}
        return Answer(request.responseCode or 200, b"".join(request.written), headers)
