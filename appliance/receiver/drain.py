"""Draining the public port at shutdown: every request in flight is answered, then closed.

After the listening port is closed, `DrainingFactory.drain()` closes idle
connections at once and lets a connection with a request in progress finish
that request (its body, its spool fsync and its response) and closes it
after the answer (`Connection: close`), so a keep-alive client gets no
further request in. `abort()` cuts what is left when the shutdown budget runs
out: those clients got no answer and retry, so nothing acknowledged is lost.
"""

from __future__ import annotations

import weakref

from twisted.internet.defer import Deferred

from appliance.receiver.http import ReceiverFactory, ReceiverProtocol


class DrainingProtocol(ReceiverProtocol):
    """A receiver connection that closes after its answer once the port drains."""

    factory: DrainingFactory

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.factory.draining:
            self.drain()

    def drain(self) -> None:
        """Close now if idle, else after answering the request in progress."""
        self.closing = True
        if self.idle:
            self.close()


class DrainingFactory(ReceiverFactory):
    """The receiver's factory, able to drain its connections before the server stops."""

    protocol = DrainingProtocol

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._protocols: weakref.WeakSet[DrainingProtocol] = weakref.WeakSet()
        self.draining = False
        self._drained: Deferred | None = None

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        self._protocols.add(protocol)
        return protocol

    def drain(self) -> Deferred:
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
                protocol.transport.abortConnection()

    def connection_closed(self, ip: str | None) -> None:
        super().connection_closed(ip)
        self._check_drained()

    def _check_drained(self) -> None:
        if self._drained is not None and not self.open_connections and not self._drained.called:
            self._drained.callback(None)
