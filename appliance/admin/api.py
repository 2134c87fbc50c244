"""The admin API's HTTP resource: bearer-token auth, JSON endpoints and /metrics.

Every path, known or not, first needs `Authorization: Bearer <token>`; a token
in the query string is never looked at. Errors are JSON `{"error": "..."}`.
The site's requests (request.py) check the token before reading a body; the
resource checks it again, so it is safe on any site. docs/admin-api.md
describes each endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from appliance.admin.logbuffer import RecentEvents
from appliance.admin.request import CHALLENGE, UNAUTHORIZED, AdminRequest, error_body
from appliance.admin.token import bearer_matches
from appliance.admin.view import NodeView
from appliance.jobs.pool import JobPool, JobRefused, JobRequestError, NoOutput, UnknownJob

log = Logger()
MAX_BODY_BYTES = 4 << 20  # a job request: a script of at most 1 MiB, JSON-escaped, and options
MAX_CHUNK = 1 << 20
MAX_DEBUG_PINGS = 200


# What an endpoint gives: a JSON object, the bytes of /metrics, or a Deferred of either.
Answer = dict[str, Any] | bytes | Deferred[Any]

class ApiError(Exception):
    """An answer other than 200: status and message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _int_arg(request: IRequest, name: str, default: int, maximum: int | None = None) -> int:
    values = request.args.get(name.encode())
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if value < 0:
        raise ApiError(400, f"{name} must be >= 0")
    return min(value, maximum) if maximum is not None else value


_JOB_ERRORS = (JobRequestError, UnknownJob, NoOutput, JobRefused)


def _job_error(e: Exception, job_id: str | None) -> ApiError:
    """The answer to one of the job pool's refusals (_JOB_ERRORS)."""
    if isinstance(e, JobRequestError):
        return ApiError(400, str(e))
    if isinstance(e, UnknownJob):
        return ApiError(404, f"no such job: {job_id}")
    if isinstance(e, NoOutput):
        return ApiError(409, str(e) or "the job has no output yet")
    return ApiError(507, str(e))  # JobRefused


def _job_failed(failure: Failure, job_id: str | None) -> None:
    """A refusal that came from the pool's file work (its io thread) as a failed Deferred."""
    failure.trap(*_JOB_ERRORS)
    raise _job_error(failure.value, job_id)


def _gone(request: IRequest) -> bool:
    """The request was answered already, or its client went away."""
    # IRequest declares neither; twisted.web's Request has both
    return bool(getattr(request, "finished", False) or getattr(request, "_disconnected", False))


class AdminResource(Resource):
    """Routes /v1/... and /metrics to a NodeView, a LogBuffer, the ledger and the job pool."""

    isLeaf = True

    def __init__(self, view: NodeView, events: RecentEvents, token: str,
                 metrics: Callable[[], Deferred[bytes]]):
        super().__init__()
        self.view = view
        self.events = events
        self.token = token
        self.metrics = metrics

    # -- dispatch ------------------------------------------------------------

    def render(self, request: IRequest) -> bytes | int:
        request.setHeader(b"Cache-Control", b"no-store")
        if not bearer_matches(request.getHeader(b"authorization"), self.token):
            request.setHeader(b"WWW-Authenticate", CHALLENGE)
            return self._error(request, ApiError(401, UNAUTHORIZED))
        try:
            result = self._route(request)
        except ApiError as e:
            return self._error(request, e)
        if isinstance(result, Deferred):
            result.addCallbacks(lambda r: self._finish(request, r),
                                lambda f: self._failed(request, f))
            return NOT_DONE_YET
        return self._answer(request, result)

    def _route(self, request: IRequest) -> Answer:
        method = request.method
        parts = [p.decode("utf-8", "replace") for p in request.postpath]
        while parts and parts[-1] == "":
            parts.pop()
        if parts == ["metrics"]:
            self._allow(method, b"GET")
            return self.metrics()
        if len(parts) < 2 or parts[0] != "v1":
            raise ApiError(404, f"no such endpoint: {request.path.decode('utf-8', 'replace')}")
        name, rest = parts[1], parts[2:]
        if name == "jobs":
            return self._jobs(request, method, rest)
        if name == "debug" and rest == ["pings"]:
            self._allow(method, b"GET")
            return self._debug_pings(request)
        simple: dict[str, Callable[[], Answer]] = {
            "stats": self.view.stats, "history": self.view.history.as_dict,
            "partitions": self.view.partitions, "ledger": self._ledger,
            "logs": lambda: self._logs(request)}
        if name not in simple or rest:
            raise ApiError(404, f"no such endpoint: {request.path.decode('utf-8', 'replace')}")
        self._allow(method, b"GET")
        return simple[name]()

    @staticmethod
    def _allow(method: bytes, *allowed: bytes) -> None:
        if method not in allowed:
            raise ApiError(405, f"method {method.decode()} not allowed here "
                                f"(use {', '.join(m.decode() for m in allowed)})")

    # -- endpoints -----------------------------------------------------------

    def _ledger(self) -> dict[str, Any] | Deferred[dict[str, Any]]:
        ledger = self.view.server.ledger
        if ledger is None:
            raise ApiError(503, "the ledger is not running")
        if ledger.computed_at is None:
            return ledger.refresh().addCallback(lambda _: ledger.as_dict())
        return ledger.as_dict()

    def _logs(self, request: IRequest) -> dict[str, Any]:
        level = (request.args.get(b"level") or [b"info"])[0].decode("utf-8", "replace")
        limit = _int_arg(request, "limit", 200, self.events.size)
        try:
            return {"events": self.events.select(level, limit)}
        except ValueError as e:
            raise ApiError(400, str(e)) from None

    def _debug_pings(self, request: IRequest) -> Deferred[dict[str, Any]]:
        values = request.args.get(b"debug_id")
        debug_id = values[0].decode("utf-8", "replace") if values else None
        return self.view.debug_pings(debug_id, _int_arg(request, "limit", 50, MAX_DEBUG_PINGS))

    def _jobs(self, request: IRequest, method: bytes, rest: list[str]) -> Answer:
        pool = getattr(self.view.server, "jobs", None)
        if pool is None:
            raise ApiError(503, "jobs disabled")
        job_id = rest[0] if rest else None
        try:
            result = self._job_action(request, pool, method, rest)
        except _JOB_ERRORS as e:
            raise _job_error(e, job_id) from None
        if isinstance(result, Deferred):  # file work on the pool's io thread
            result.addErrback(_job_failed, job_id)
        return result

    def _job_action(self, request: IRequest, pool: JobPool, method: bytes,
                    rest: list[str]) -> Answer:
        if not rest:
            self._allow(method, b"GET", b"POST")
            if method == b"GET":
                return {"jobs": [job.to_json() for job in pool.list()]}
            submitted = pool.submit(self._body(request))  # a bad request raises here
            request.setResponseCode(201)
            return submitted.addCallback(lambda job: {"job": job.to_json()})
        job_id, action = rest[0], rest[1:]
        if not action:
            self._allow(method, b"GET")
            return {"job": pool.get(job_id).to_json()}
        if action == ["cancel"]:
            self._allow(method, b"POST")
            return {"job": pool.cancel(job_id).to_json()}
        if action in (["output"], ["log"]):
            self._allow(method, b"GET")
            offset = _int_arg(request, "offset", 0)
            limit = _int_arg(request, "limit", 65536, MAX_CHUNK)
            read = pool.read_output if action == ["output"] else pool.read_log
            return read(job_id, offset, limit)
        raise ApiError(404, f"no such endpoint: {request.path.decode('utf-8', 'replace')}")

    @staticmethod
    def _body(request: IRequest) -> dict[str, Any]:
        request.content.seek(0, 2)
        size = request.content.tell()
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")
        request.content.seek(0)
        try:
            body = orjson.loads(request.content.read())
        except orjson.JSONDecodeError as e:
            raise ApiError(400, f"the body must be a JSON object: {e}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    # -- answers -------------------------------------------------------------

    def _answer(self, request: IRequest, result: dict[str, Any] | bytes) -> bytes:
        if isinstance(result, bytes):  # /metrics
            request.setHeader(b"Content-Type", b"text/plain; version=0.0.4; charset=utf-8")
            return result
        return self._json(request, result)

    @staticmethod
    def _json(request: IRequest, obj: object) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)

    def _error(self, request: IRequest, error: ApiError) -> bytes:
        request.setResponseCode(error.status)
        request.setHeader(b"Content-Type", b"application/json")
        return error_body(error.message)

    def _finish(self, request: IRequest, result: dict[str, Any] | bytes) -> None:
        if not _gone(request):
            self._write(request, self._answer(request, result))

    def _failed(self, request: IRequest, failure: Failure) -> None:
        if isinstance(failure.value, ApiError):  # an answer, not a fault
            error = failure.value
        else:
            log.failure("admin API: {path} failed", failure, path=request.path.decode())
            error = ApiError(500, f"internal error: {failure.getErrorMessage()}")
        self._finish_error(request, error)

    def _finish_error(self, request: IRequest, error: ApiError) -> None:
        if not _gone(request):
            self._write(request, self._error(request, error))

    @staticmethod
    def _write(request: IRequest, body: bytes) -> None:
        """A late answer in one piece, with its length (as an answer returned at once has),
        not chunked."""
        request.setHeader(b"Content-Length", b"%d" % len(body))
        request.write(body)
        request.finish()


class AdminSite(Site):
    """The admin API's Site: its requests check `token` before reading a body of at most
    `max_body_bytes`; it logs no access lines (the dashboard polls every second)."""

    displayTracebacks = False

    def __init__(self, resource: AdminResource, *, max_body_bytes: int = MAX_BODY_BYTES,
                 **kwargs: Any):
        super().__init__(resource, requestFactory=AdminRequest, **kwargs)
        self.token = resource.token
        self.max_body_bytes = max_body_bytes

    def log(self, request: http.Request) -> None:
        pass

