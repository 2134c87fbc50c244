"""The submission resource: route, check, spool, and answer once durable."""

from __future__ import annotations

import time
from collections.abc import Callable

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from appliance.disk import DiskGuard
from appliance.receiver.gzipcheck import GzipProblem, check_gzip
from appliance.receiver.routes import RouteError, parse_submit_path
from appliance.spool import SpoolSaturated, SpoolWriteFailed, SpoolWriter
from appliance.stats import Stats

log = Logger()

KEPT_HEADERS = ("User-Agent", "Date", "DNT", "X-PingSender-Version", "Content-Encoding")
SUBMIT_METHODS = (b"POST", b"PUT")
STATUS_METHODS = (b"GET", b"HEAD")
RETRY_AFTER = "5"


class SubmissionResource(Resource):
    """Handles every path on the public port: /submit/..., /status, and 404s."""

    isLeaf = True

    def __init__(self, writer: SpoolWriter, disk: DiskGuard, stats: Stats, *,
                 max_decompressed_bytes: int, store_client_ip: bool,
                 now_ns: Callable[[], int] = time.time_ns):
        super().__init__()
        self._writer = writer
        self._disk = disk
        self._stats = stats
        self._max_decompressed = max_decompressed_bytes
        self._store_client_ip = store_client_ip
        self._now_ns = now_ns

    def not_accepting(self) -> str | None:
        """Why submissions are refused right now, or None when they are accepted."""
        return self._disk.low or self._writer.failing

    # -- answering ----------------------------------------------------------

    def _finish(self, request, status: int, message: str,
                headers: dict[str, str] | None = None) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        for name, value in (headers or {}).items():
            request.setHeader(name.encode(), value.encode())
        self._stats.requests_by_status[status] += 1
        started = getattr(request, "started", None)
        if started is not None:
            self._stats.request_latency.add(time.perf_counter() - started)
        return b"" if request.method == b"HEAD" else (message + "\n").encode()

    def render(self, request) -> bytes | int:
        path = request.path.decode("latin-1")
        if path == "/status":
            if request.method not in STATUS_METHODS:
                return self._finish(request, 405, "use GET", {"Allow": "GET, HEAD"})
            reason = self.not_accepting()
            if reason:
                return self._finish(request, 503, reason, {"Retry-After": RETRY_AFTER})
            problem = self._stats.export.get("problem")
            # Export trouble does not stop ingest, but the operator should see it.
            return self._finish(request, 200, f"ok\nexport failing: {problem}" if problem else "ok")
        try:
            route = parse_submit_path(path)
        except RouteError as e:
            if e.status == 404 or request.method in SUBMIT_METHODS:
                return self._finish(request, e.status, str(e))
            route = None
        if request.method not in SUBMIT_METHODS:
            return self._finish(request, 405, "submit with POST or PUT", {"Allow": "POST, PUT"})
        headers = request.requestHeaders
        if not headers.hasHeader(b"content-length") and not headers.hasHeader(
                b"transfer-encoding"):
            return self._finish(request, 411, "Content-Length (or chunked encoding) required")
        body = request.content.getvalue()
        if not body:
            return self._finish(request, 400, "empty body")
        self._stats.bytes_received += len(body)
        encoding = (headers.getRawHeaders(b"content-encoding") or [b""])[0].strip().lower()
        try:
            check_gzip(body, encoding == b"gzip", self._max_decompressed)
        except GzipProblem as e:
            return self._finish(request, e.status, str(e))
        if self._disk.low:
            return self._finish(request, 507, self._disk.low, {"Retry-After": RETRY_AFTER})
        kept = {}
        for name in KEPT_HEADERS:
            value = headers.getRawHeaders(name.encode())
            if value:  # latin-1: any bytes a client sends survive, nothing raises
                kept[name] = value[0].decode("latin-1")
        client_ip = request.getClientAddress().host if self._store_client_ip else None
        try:
            d = self._writer.submit(request.uri.decode("latin-1"), body, self._now_ns(),
                                    kept, client_ip)
        except SpoolSaturated as e:
            return self._finish(request, 503, f"spool saturated: {e}",
                                {"Retry-After": RETRY_AFTER})
        self._stats.requests_by_form[route.form] += 1
        d.addCallbacks(self._stored, self._not_stored, callbackArgs=(request,),
                       errbackArgs=(request,))
        return NOT_DONE_YET

    def _stored(self, _record, request) -> None:
        self._write(request, self._finish(request, 200, "OK"))

    def _not_stored(self, failure: Failure, request) -> None:
        error = failure.check(SpoolWriteFailed)
        if error is None:
            log.failure("unexpected error spooling a submission", failure)
            body = self._finish(request, 503, "spool failing", {"Retry-After": RETRY_AFTER})
        elif failure.value.no_space:
            body = self._finish(request, 507, "no space left for the spool",
                                {"Retry-After": RETRY_AFTER})
        else:
            body = self._finish(request, 503, str(failure.value), {"Retry-After": RETRY_AFTER})
        self._write(request, body)

    @staticmethod
    def _write(request, body: bytes) -> None:
        if request.finished or request.channel is None:
            return  # the client went away; the record is durable or failed all the same
        request.write(body)
        request.finish()
