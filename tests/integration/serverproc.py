"""Running `appliance serve` as a real child process, and talking to it over TLS."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

READY = re.compile(r"listening on (https?)://([^:]+):(\d+)")

# Tests must not depend on how full the machine's disk is.
TEST_ENV = {"APPLIANCE_SPOOL_MIN_FREE_BYTES": "0", "APPLIANCE_SPOOL_MIN_FREE_PERCENT": "0",
            # Test servers run side by side: each admin API on a port of its own.
            "APPLIANCE_ADMIN_LISTEN": "127.0.0.1:0"}


def eventually(check, what: str, timeout: float = 60.0, show=None):
    """Poll `check()` until it returns a true value, and return it.

    Only for state a server shows through its API and announces nowhere else
    (stats, the ledger); where a log line marks the event, use `wait_for_log`.
    `show()` says what was seen instead when it times out.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    seen = show() if show is not None else last
    raise AssertionError(f"timed out waiting for {what}; last: {seen!r}")


@dataclass
class ServerProcess:
    """One `appliance serve` child; start() returns once it is listening."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    # What runs `appliance`: the source tree by default, or a built binary.
    program: list[str] = field(default_factory=lambda: [sys.executable, "-m", "appliance"])
    proc: subprocess.Popen | None = None
    scheme: str = "https"
    host: str = "127.0.0.1"
    port: int = 0

    def start(self, port: int = 0) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
        env.update(TEST_ENV)
        env.update(self.env)
        cmd = [*self.program, "serve", "--data-dir", str(self.data_dir),
               "--listen", f"127.0.0.1:{port}", *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, text=True)
        self.log_lines: queue.Queue[str] = queue.Queue()
        self.history: list[str] = []  # every console line, for failure reports
        threading.Thread(target=self._read_log, args=(self.proc.stderr,), daemon=True).start()
        for line in self.proc.stdout:
            match = READY.search(line)
            if match:
                self.scheme, self.host, self.port = match[1], match[2], int(match[3])
                return self
            if "cannot start" in line:
                break
        self.proc.wait(timeout=30)
        raise RuntimeError(f"server did not start (exit code {self.proc.returncode})")

    def _read_log(self, stream) -> None:
        for line in stream:
            self.history.append(line)
            self.log_lines.put(line)
        stream.close()

    def wait_for_log(self, pattern: str, timeout: float = 60) -> re.Match:
        """Block until a console log line matches `pattern` (the server's own events)."""
        regex = re.compile(pattern)
        while True:
            try:
                line = self.log_lines.get(timeout=timeout)
            except queue.Empty:
                tail = "".join(self.history[-30:])
                raise AssertionError(
                    f"no log line matched {pattern!r}; last lines:\n{tail}") from None
            match = regex.search(line)
            if match:
                return match

    def admin(self):
        """An AdminClient for this server (the admin.url and admin.token in its data dir)."""
        from appliance.admin.client import AdminClient

        return AdminClient(lambda: (self.data_dir / "admin.url").read_text().strip(),
                           lambda: (self.data_dir / "admin.token").read_text().strip())

    @property
    def cafile(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.cafile))
        return ctx

    def connect(self, timeout: float = 30) -> socket.socket:
        """A connected socket, wrapped in TLS when the server speaks HTTPS."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.scheme == "https":
            sock = self.ssl_context().wrap_socket(sock, server_hostname=self.host)
        return sock

    def kill(self) -> None:
        """SIGKILL: the crash a 200 must survive."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self.proc.stdout.close()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def read_response(sock: socket.socket) -> Response:
    """Read one HTTP/1.1 response (skipping 100 Continue) from a socket."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed mid-response: {buf[:200]!r}")
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if status != 100:
            break
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return Response(status, headers, buf[:length])


def request(server: ServerProcess, raw: bytes) -> Response:
    """Send raw request bytes on a new connection and read the answer."""
    with server.connect() as sock:
        sock.sendall(raw)
        return read_response(sock)


def post(server: ServerProcess, path: str, body: bytes, headers: dict[str, str] | None = None,
         method: str = "POST") -> Response:
    """A well-formed request with Content-Length."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}",
             f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return request(server, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
