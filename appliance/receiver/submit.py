"""The submission handler: route, check, spool, and answer once durable."""

from __future__ import annotations

import time
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from appliance.config.headers import DEFAULT_KEEP
from appliance.disk import DiskGuard
from appliance.receiver.keptheaders import KeptHeaders
from appliance.receiver.messages import Answer, Request
from appliance.spool import SpoolSaturated, SpoolWriteFailed, SpoolWriter
from appliance.stats import Stats
from appliance.submission.gzipcheck import GzipProblem, check_gzip
from appliance.submission.routes import RouteError, parse_submit_path

log = Logger()

SUBMIT_METHODS = (b"POST", b"PUT")
STATUS_METHODS = (b"GET", b"HEAD")
RETRY_AFTER = "5"
_RETRY = (("Retry-After", RETRY_AFTER),)
STORED = Answer(200, "OK")
_NOT_A_SUBMIT_METHOD = Answer(405, "submit with POST or PUT", (("Allow", "POST, PUT"),))


class SubmissionHandler:
    """Answers every request on the public port: /submit/..., /status, and 404s."""

    def __init__(self, writer: SpoolWriter, disk: DiskGuard, stats: Stats, *,
                 max_decompressed_bytes: int, store_client_ip: bool,
                 max_connections: int | None = None,
                 kept_headers: KeptHeaders | None = None,
                 now_ns: Callable[[], int] = time.time_ns):
        self._writer = writer
        self._disk = disk
        self._stats = stats
        self._max_decompressed = max_decompressed_bytes
        self._store_client_ip = store_client_ip
        self._max_connections = max_connections
        self._kept = kept_headers or KeptHeaders.from_config(DEFAULT_KEEP)
        self._now_ns = now_ns

    def not_accepting(self) -> str | None:
        """Why submissions are refused right now, or None when they are accepted."""
        return self._disk.low or self._writer.failing

    def __call__(self, request: Request) -> Answer | Deferred[Answer]:
        """The answer to `request`, or a Deferred firing with it once the body is durable."""
        path = request.path
        method = request.method
        if path == "/status":
            return self._status(method)
        try:
            route = parse_submit_path(path)
        except RouteError as e:
            if e.status == 404 or method in SUBMIT_METHODS:
                return Answer(e.status, str(e))
            return _NOT_A_SUBMIT_METHOD
        if method not in SUBMIT_METHODS:
            return _NOT_A_SUBMIT_METHOD
        if not request.has_length:
            return Answer(411, "Content-Length (or chunked encoding) required")
        body = request.body
        if not body:
            return Answer(400, "empty body")
        self._stats.bytes_received += len(body)
        headers = request.headers
        encoding = headers.get(b"content-encoding", b"").lower()
        try:
            check_gzip(body, encoding == b"gzip", self._max_decompressed)
        except GzipProblem as e:
            return Answer(e.status, str(e))
        if self._disk.low:
            return Answer(507, self._disk.low, _RETRY)
        kept = self._kept.pick(headers)
        client_ip = request.client_ip() if self._store_client_ip else None
        try:
            d = self._writer.submit(request.target.decode("latin-1"), body, self._now_ns(),
                                    kept, client_ip)
        except SpoolSaturated as e:
            return Answer(503, f"spool saturated: {e}", _RETRY)
        self._stats.requests_by_form[route.form] += 1
        return d.addCallbacks(_stored, _not_stored)

    def _status(self, method: bytes) -> Answer:
        if method not in STATUS_METHODS:
            return Answer(405, "use GET", (("Allow", "GET, HEAD"),))
        reason = self.not_accepting()
        if reason:
            return Answer(503, reason, _RETRY)
        limit = self._max_connections
        if limit is not None and self._stats.open_connections >= limit:
            # A balancer should send new clients elsewhere: every slot is taken.
            return Answer(503, f"connections saturated ({limit} open)", _RETRY)
        problem = self._stats.export.get("problem")
        # Export trouble does not stop ingest, but the operator should see it.
        return Answer(200, f"ok\nexport failing: {problem}" if problem else "ok")


def _stored(_record: object) -> Answer:
    return STORED


def _not_stored(failure: Failure) -> Answer:
    if failure.check(SpoolWriteFailed) is None:
        log.failure("unexpected error spooling a submission", failure)
        return Answer(503, "spool failing", _RETRY)
    if failure.value.no_space:
        return Answer(507, "no space left for the spool", _RETRY)
    return Answer(503, str(failure.value), _RETRY)
