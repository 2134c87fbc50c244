"""A synchronous client of the admin API, for `appliance status`, the TUI and scripts.

Blocking (http.client), one keep-alive connection, safe to share between the
threads of one worker (a lock serialises requests). Where the server is and
which token to send are looked up again on every new connection, so a client
made before the server starts, or kept across a server restart (a new port
when `[admin] listen` ends in `:0`), reconnects by itself.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

from appliance.admin.locations import admin_url_file, default_url, token_path
from appliance.admin.nodestats import NodeStats
from appliance.config import Config

TIMEOUT = 10.0


class AdminError(Exception):
    """The admin API answered with an error (`status`), or could not be reached (0)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class AdminUnavailable(AdminError):
    """No server answers at the admin address (not running, or gone)."""

    def __init__(self, message: str):
        super().__init__(0, message)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    if url.startswith("unix:"):
        return _UnixConnection(url[len("unix:"):], timeout)
    if not url.startswith("http://"):
        raise AdminUnavailable(f"admin URL must be http://HOST:PORT or unix:PATH, got {url!r}")
    host = url[len("http://"):].rstrip("/")
    return http.client.HTTPConnection(host, timeout=timeout)


class AdminClient:
    """Calls the admin API; every method returns decoded JSON or raises AdminError."""

    def __init__(self, url: str | Callable[[], str], token: str | Callable[[], str],
                 timeout: float = TIMEOUT):
        """`url` and `token` are values, or functions asked at each new connection."""
        self._url = url if callable(url) else (lambda: url)
        self._token = token if callable(token) else (lambda: token)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._conn_token: str | None = None

    @classmethod
    def from_config(cls, config: Config, url: str | None = None,
                    token_file: str | Path | None = None) -> AdminClient:
        """A client for the server of this configuration's data dir.

        `url` (http://HOST:PORT or unix:PATH) defaults to the address the
        running server wrote into `<data_dir>/admin.url` (or last wrote, once the file
        has gone), else `[admin] listen`;
        `token_file` defaults to `[admin] token_file`, else `<data_dir>/admin.token`.
        """
        tokens = Path(token_file) if token_file else token_path(config)
        # A stopping server removes admin.url: until one writes it again, the address last
        # read there is still the one to retry (and to name), not the configured default.
        last = {"url": default_url(config)}

        def find_url() -> str:
            if url:
                return url
            try:
                last["url"] = admin_url_file(config).read_text().strip() or last["url"]
            except FileNotFoundError:
                pass
            return last["url"]

        def read_token() -> str:
            try:
                return tokens.read_text().strip()
            except FileNotFoundError:
                raise AdminUnavailable(
                    f"no admin token at {tokens}: has the server been started with this data "
                    f"dir (or pass --token-file)?") from None
            except PermissionError:
                raise AdminError(401, f"cannot read the admin token {tokens}: permission "
                                      f"denied (run as the server's user)") from None

        return cls(find_url, read_token)

    # -- transport ----------------------------------------------------------

    def close(self) -> None:
        """Drop the connection (the next call opens a new one)."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _request(self, method: str, path: str, body: bytes | None = None
                 ) -> tuple[int, str, bytes]:
        with self._lock:
            for attempt in (1, 2):
                conn = self._conn
                fresh = conn is None
                if conn is None:
                    self._conn_token = self._token()
                    url = self._url()
                    self._conn = conn = _connection(url, self._timeout)
                headers = {"Authorization": f"Bearer {self._conn_token}"}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as e:
                    self._drop()
                    if fresh or attempt == 2:  # a kept-alive connection may just have expired
                        raise AdminUnavailable(
                            f"cannot reach the admin API at {self._url()}: {e} "
                            f"(is `appliance serve` running?)") from None
                    continue
                if response.will_close:
                    self._drop()
                return response.status, response.getheader("Content-Type", ""), data
        raise AdminUnavailable("unreachable")  # the loop returns or raises

    def _json(self, method: str, path: str,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
        payload = None if body is None else json.dumps(body).encode()
        status, _ctype, data = self._request(method, path, payload)
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = {"error": data[:200].decode(errors="replace")}
        if status >= 400:
            message = decoded.get("error") if isinstance(decoded, dict) else None
            if status == 401:
                message = ("the server refused the admin token: it does not match the server's "
                           "(wrong --token-file, data dir or --admin address?)")
            raise AdminError(status, message or f"HTTP {status}")
        if not isinstance(decoded, dict):  # not this API's answer (another --admin service?)
            raise AdminError(status, f"the answer to {path} is not a JSON object")
        return decoded

    # -- the API ------------------------------------------------------------

    def stats(self) -> NodeStats:
        """GET /v1/stats: every counter, health, disk, store, jobs, rates."""
        return cast(NodeStats, self._json("GET", "/v1/stats"))

    def history(self) -> dict[str, Any]:
        """GET /v1/history: the last samples at 1 s resolution."""
        return self._json("GET", "/v1/history")

    def ledger(self) -> dict[str, Any]:
        """GET /v1/ledger: per-day accepted/converted/invalid/exported and reconciliation."""
        return self._json("GET", "/v1/ledger")

    def partitions(self) -> dict[str, Any]:
        """GET /v1/partitions: local and exported partitions with files/records/bytes."""
        return self._json("GET", "/v1/partitions")

    def debug_pings(self, debug_id: str | None = None,
                    limit: int = 50) -> list[dict[str, Any]]:
        """GET /v1/debug/pings: the latest pings carrying a debug id (only `debug_id`'s if
        given), newest first, each with its document and metadata."""
        query = {"limit": limit} if debug_id is None else {"limit": limit, "debug_id": debug_id}
        answer = self._json("GET", f"/v1/debug/pings?{urlencode(query)}")
        pings: list[dict[str, Any]] = answer["pings"]
        return pings

    def logs(self, level: str = "info", limit: int = 200) -> list[dict[str, Any]]:
        """GET /v1/logs: recent server log events at `level` or above, oldest first."""
        query = urlencode({"level": level, "limit": limit})
        events: list[dict[str, Any]] = self._json("GET", f"/v1/logs?{query}")["events"]
        return events

    def jobs(self) -> list[dict[str, Any]]:
        """GET /v1/jobs: every job, newest first."""
        jobs: list[dict[str, Any]] = self._json("GET", "/v1/jobs")["jobs"]
        return jobs

    def job(self, job_id: str) -> dict[str, Any]:
        """GET /v1/jobs/<id>."""
        return self._job(self._json("GET", f"/v1/jobs/{quote(job_id, safe='')}"))

    def submit_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/jobs: returns the queued job; AdminError(400) names what is wrong."""
        return self._job(self._json("POST", "/v1/jobs", request))

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """POST /v1/jobs/<id>/cancel."""
        return self._job(self._json("POST", f"/v1/jobs/{quote(job_id, safe='')}/cancel", {}))

    @staticmethod
    def _job(answer: dict[str, Any]) -> dict[str, Any]:
        job: dict[str, Any] = answer["job"]
        return job

    def job_output(self, job_id: str, offset: int = 0, limit: int = 65536) -> dict[str, Any]:
        """GET /v1/jobs/<id>/output: a chunk; AdminError(409) while there is no output."""
        query = urlencode({"offset": offset, "limit": limit})
        return self._json("GET", f"/v1/jobs/{quote(job_id, safe='')}/output?{query}")

    def job_log(self, job_id: str, offset: int = 0, limit: int = 65536) -> dict[str, Any]:
        """GET /v1/jobs/<id>/log: a chunk of the job's log."""
        query = urlencode({"offset": offset, "limit": limit})
        return self._json("GET", f"/v1/jobs/{quote(job_id, safe='')}/log?{query}")

    def metrics(self) -> str:
        """GET /metrics: the Prometheus text exposition."""
        status, _ctype, data = self._request("GET", "/metrics")
        if status >= 400:
            raise AdminError(status, f"GET /metrics: HTTP {status}")
        return data.decode()
