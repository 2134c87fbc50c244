"""Draining the public port at shutdown: every request in flight is answered, then closed.

After the listening port is closed, `DrainingFactory.drain()` closes idle
keep-alive connections at once and lets a connection with a request in
progress finish that request (its body, its spool fsync and its response)
and closes it after the answer (`Connection: close`), so a keep-alive client
gets no further request in. A connection that has not begun its first
request yet is given `NEW_CONNECTION_GRACE` seconds for it: its client has
just connected and may already have sent a request that the reactor has not
read yet (it is still in the socket, or in a TLS handshake); closing it would
drop a request its client never got an answer for. `abort()` cuts what is
left when the shutdown budget runs out: those clients got no answer and
retry, so nothing acknowledged is lost.
"""

from __future__ import annotations

import weakref
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IDelayedCall
from twisted.python.failure import Failure

from appliance.receiver.protocol import ReceiverFactory, ReceiverProtocol

NEW_CONNECTION_GRACE = 2.0


class DrainingProtocol(ReceiverProtocol):
    """A receiver connection that closes after its answer once the port drains."""

    factory: DrainingFactory

    _grace: IDelayedCall | None = None  # closes a connection that has not begun a request

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.factory.draining:
            self.drain()

    def connectionLost(self, reason: Failure | None = None) -> None:
        super().connectionLost(reason)
        if self._grace is not None and self._grace.active():
            self._grace.cancel()

    def drain(self) -> None:
        """Close now if idle, else after answering the request in progress.

        A connection that has not begun a request yet is closed only if none
        begins within NEW_CONNECTION_GRACE.
        """
        self.closing = True
        if not self.idle:
            return
        if self.requests_begun:
            self.close()
        else:
            self._grace = self.factory.reactor.callLater(NEW_CONNECTION_GRACE,
                                                         self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.idle:
            self.close()


class DrainingFactory(ReceiverFactory):
    """The receiver's factory, able to drain its connections before the server stops."""

    protocol = DrainingProtocol

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._protocols: weakref.WeakSet[DrainingProtocol] = weakref.WeakSet()
        self.draining = False
        self._drained: Deferred[None] | None = None

    def buildProtocol(self, addr: IAddress | None) -> DrainingProtocol | None:
        # the base builds `protocol`, a DrainingProtocol (and never returns None)
        protocol = cast("DrainingProtocol | None", super().buildProtocol(addr))
        if protocol is not None:
            self._protocols.add(protocol)
        return protocol

    def drain(self) -> Deferred[None]:
        """Take no new request; fires once every connection has been answered and closed."""
        self.draining = True
        self._drained = Deferred()
        for protocol in list(self._protocols):
            protocol.drain()
        self._check_drained()
        return self._drained

    def abort(self) -> None:
        """Cut every connection still open (the drain ran out of time)."""
        for protocol in list(self._protocols):
            if protocol.transport is not None:
                protocol.tcp.abortConnection()

    def connection_closed(self, ip: str | None) -> None:
        super().connection_closed(ip)
        self._check_drained()

    def _check_drained(self) -> None:
        if self._drained is not None and not self.open_connections and not self._drained.called:
            self._drained.callback(None)
