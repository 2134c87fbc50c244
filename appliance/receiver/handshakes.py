"""Failed TLS handshakes on the public port: logged, so a client that does not trust the
node's certificate (a Glean app without SSL_CERT_FILE, curl without --cacert) shows up in
the node's log instead of only retrying in silence."""

from __future__ import annotations

from collections.abc import Callable

from twisted.logger import Logger

log = Logger()

LOG_INTERVAL = 60.0  # at most one line a minute: a scanner must not flood the log


class HandshakeFailures:
    """Counts failed handshakes; logs the first, then at most one line per `interval`
    seconds with how many failed meanwhile."""

    def __init__(self, clock: Callable[[], float], interval: float = LOG_INTERVAL):
        self._clock = clock
        self._interval = interval
        self._last_logged: float | None = None
        self._unlogged = 0
        self.count = 0

    def failed(self, ip: str | None, error: str) -> None:
        """A connection from `ip` ended in a TLS error before any request."""
        self.count += 1
        now = self._clock()
        if self._last_logged is not None and now - self._last_logged < self._interval:
            self._unlogged += 1
            return
        more = (f" ({self._unlogged} more since the last such line)"
                if self._unlogged else "")
        log.warn("TLS handshake with {ip} failed: {error}{more}; a client that does not "
                 "trust this node's certificate fails so (docs/clients.md)",
                 ip=ip, error=error[:200], more=more)
        self._last_logged, self._unlogged = now, 0
