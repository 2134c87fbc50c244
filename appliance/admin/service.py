"""Starting the admin API in the server: token, endpoint, history, log buffer."""

from __future__ import annotations

import os
from typing import cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint, UNIXServerEndpoint
from twisted.internet.interfaces import IAddress, IListeningPort, IProtocolFactory
from twisted.logger import Logger, LogPublisher, globalLogPublisher
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

from appliance.admin.api import AdminResource, AdminSite
from appliance.admin.locations import admin_url_file, socket_path, token_path
from appliance.admin.logbuffer import RecentEvents
from appliance.admin.metrics import metrics_renderer
from appliance.admin.serverparts import ServerParts
from appliance.admin.token import ensure_token
from appliance.admin.view import NodeView
from appliance.config import parse_listen
from appliance.durable import write_atomic
from appliance.listening import listen

log = Logger()
# The dashboard, `appliance status` and scripts each hold one or two connections;
# the cap keeps local processes from taking every file descriptor the node has.
MAX_CONNECTIONS = 64


class ConnectionCap(WrappingFactory):
    """Refuses (closes at once) connections beyond `limit` open ones."""

    def __init__(self, factory: IProtocolFactory, limit: int = MAX_CONNECTIONS):
        super().__init__(factory)
        self.limit = limit

    # A factory may refuse a connection with None (IProtocolFactory); WrappingFactory's
    # annotation leaves that out.
    def buildProtocol(  # type: ignore[override]
            self, addr: IAddress | None) -> ProtocolWrapper | None:
        if len(self.protocols) >= self.limit:
            return None
        return super().buildProtocol(addr)


class AdminService:
    """The admin API of one Server, on its own endpoint (never the public port)."""

    def __init__(self, server: ServerParts, publisher: LogPublisher = globalLogPublisher):
        self.server = server
        cfg = server.config.admin
        self.events = RecentEvents(cfg.log_events)
        self.view = NodeView(server, cfg.history_seconds)
        self._publisher = publisher
        self._port: IListeningPort | None = None
        self.url: str | None = None
        self._publisher.addObserver(self.events)  # from construction: start-up events too

    async def start(self) -> str:
        """Listen and start sampling; returns the URL (also written to <data_dir>/admin.url)."""
        server = self.server
        token = ensure_token(token_path(server.config))
        resource = AdminResource(self.view, self.events, token, metrics_renderer(self.view))
        site = AdminSite(resource, reactor=server.reactor)
        site.noisy = False
        capped = ConnectionCap(site)
        listen_at = server.config.admin.listen
        if listen_at.startswith("unix:"):
            path = socket_path(listen_at, server.data_dir)
            if path.exists():
                path.unlink()  # left by a previous run (the data dir lock says it is ours)
            endpoint = UNIXServerEndpoint(server.reactor, str(path), mode=0o600)
            self._port = await listen("[admin] listen", listen_at, endpoint, capped)
            self.url = f"unix:{path}"
        else:
            host, port = parse_listen(listen_at)
            kind = TCP6ServerEndpoint if ":" in host else TCP4ServerEndpoint
            self._port = await listen("[admin] listen", listen_at,
                                      kind(server.reactor, port, interface=host), capped)
            # a TCP endpoint's port: an IPv4Address or IPv6Address, which have a host and port
            actual = cast(IPv4Address | IPv6Address, self._port.getHost())
            shown = f"[{actual.host}]" if ":" in actual.host else actual.host
            self.url = f"http://{shown}:{actual.port}"
        write_atomic(admin_url_file(server.config), (self.url + "\n").encode())
        self.view.history.start()
        log.info("admin API on {url} (token in {token_file})", url=self.url,
                 token_file=str(token_path(server.config)))
        return self.url

    async def stop(self) -> None:
        self.view.history.stop()
        if self._port is not None:
            stopped = self._port.stopListening()
            if stopped is not None:
                await stopped
            self._port = None
        self._publisher.removeObserver(self.events)
        try:
            os.unlink(admin_url_file(self.server.config))
        except FileNotFoundError:
            pass
