"""Every configuration key, with its type, embedded default and meaning.

A frozen dataclass per section is the single source of truth: its fields are
the keys (the annotation is the type, `key()` gives the default, the help and
the checks), code reads them typed (`config.spool.max_segment_bytes: int`),
the loader validates against `KEYS` (derived from them), `appliance config`
prints it, and docs/configuration.md describes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from appliance.config.ciphers import MODERN_CIPHERS, check_ciphers
from appliance.config.headers import DEFAULT_KEEP, check_keep_headers
from appliance.config.listen import parse_listen

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Key:
    """One configuration key: `[section] name = default`."""

    section: str
    name: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    check: Callable[[Any], str | None] | None = None

    @property
    def kind(self) -> type:
        return type(self.default)

    @property
    def env_var(self) -> str:
        return f"APPLIANCE_{self.section.upper()}_{self.name.upper()}"


T = TypeVar("T")


def key(default: T, help: str, *, choices: tuple[str, ...] = (), minimum: float | None = None,
        check: Callable[[Any], str | None] | None = None) -> T:
    """A section's field: its default, and what `Key` says about it besides."""
    meta = {"help": help, "choices": choices, "minimum": minimum, "check": check}
    return field(default=default, metadata=meta)


def _listen_check(value: str) -> str | None:
    try:
        parse_listen(value)
    except ValueError as e:
        return str(e)
    return None


def _admin_listen_check(value: str) -> str | None:
    if value.startswith("unix:"):
        return None if value[len("unix:"):] else "unix: needs a socket path"
    return _listen_check(value)


@dataclass(frozen=True)
class ServerSection:
    """The [server] section."""

    data_dir: str = key("./appliance-data",
        "Where the spool, store, logs, TLS material and admin token live.")
    log_level: str = key("info", "Lowest level written to the console and log file.",
        choices=("debug", "info", "warn", "error"))
    node_id: str = key("",
        "Readable label of this node in keys and stats; empty means the host name. Keys also "
        "carry the data dir's unique node id (node.json), so labels may repeat.")
    shutdown_timeout: float = key(30.0,
        "Seconds SIGTERM may take to drain: in-flight requests answered, the converter "
        "committed, uploads finished; what is left then is abandoned (and redone at start), "
        "and the converter and receiver children still running are killed (SIGKILL).",
        minimum=0)


@dataclass(frozen=True)
class ReceiverSection:
    """The [receiver] section."""

    listen: str = key("127.0.0.1:8443", "HOST:PORT of the public submission port.",
        check=_listen_check)
    tls: bool = key(True,
        "Serve HTTPS (TLS 1.2+). false serves plain HTTP, e.g. behind a TLS-terminating proxy.")
    tls_ciphers: str = key(MODERN_CIPHERS,
        "OpenSSL cipher string for TLS 1.2 (TLS 1.3 always offers its own AEAD suites); the "
        "default allows only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305.",
        check=check_ciphers)
    cert_file: str = key("",
        "PEM certificate (chain) for HTTPS; empty generates a self-signed one in the data dir.")
    key_file: str = key("", "PEM private key for cert_file.")
    max_body_bytes: int = key(1 * MiB,
        "Largest request body accepted, as received (compressed).", minimum=1)
    max_decompressed_bytes: int = key(10 * MiB,
        "Largest decompressed size of a gzip body (checked from the gzip trailer).", minimum=1)
    max_path_bytes: int = key(10 * 1024, "Longest request path accepted.", minimum=16)
    max_header_bytes: int = key(16 * 1024, "Largest total size of request headers.",
        minimum=256)
    max_headers: int = key(100, "Most header lines in one request.", minimum=1)
    max_connections: int = key(1024, "Most concurrent client connections.", minimum=1)
    max_connections_per_ip: int = key(128,
        "Most concurrent connections from one client address, per receiver process "
        "(behind a proxy every client has the proxy's address: raise it to max_connections).",
        minimum=1)
    max_chunks: int = key(4096, "Most chunks in one chunked request body.", minimum=1)
    idle_timeout: float = key(60.0,
        "Seconds a connection may receive nothing (between requests, or stalled).",
        minimum=0.1)
    head_timeout: float = key(10.0,
        "Seconds a client has to send a whole request head (from the connection or the "
        "head's first byte).", minimum=0.1)
    body_timeout: float = key(30.0,
        "Seconds a client has to send a whole body (plus its bytes at min_body_rate).",
        minimum=0.1)
    min_body_rate: float = key(1024.0,
        "Slowest body accepted, bytes/s: each byte received adds 1/rate s to body_timeout "
        "(0: body_timeout alone).", minimum=0)
    keep_headers: str = key(DEFAULT_KEEP,
        "Request headers kept with each submission (comma-separated; Content-Encoding is "
        "always kept; each value cut to 1024 characters).", check=check_keep_headers)
    store_client_ip: bool = key(False,
        "Record the client's IP address with each submission.")
    processes: int = key(1,
        "Receiver processes sharing the public port (SO_REUSEPORT), each with its own spool "
        "writer; 1 serves in the server process itself.", minimum=1)


@dataclass(frozen=True)
class SpoolSection:
    """The [spool] section."""

    durability: str = key("fsync",
        "fsync: answer 200 only after fdatasync. none: no fsync (UNSAFE, benchmarks only).",
        choices=("fsync", "none"))
    max_segment_bytes: int = key(64 * MiB, "Seal the active segment at this size.",
        minimum=4096)
    max_segment_age: float = key(60.0, "Seal the active segment after this many seconds.",
        minimum=0.01)
    max_batch_bytes: int = key(8 * MiB, "Most bytes written and synced as one batch.",
        minimum=4096)
    max_pending_bytes: int = key(64 * MiB,
        "Bytes waiting for the disk before new submissions get 503.", minimum=4096)
    min_free_bytes: int = key(1 * GiB,
        "Answer 507 while the data dir's file system has less free space than this.", minimum=0)
    min_free_percent: float = key(5.0,
        "Answer 507 while less than this percentage of the file system is free.", minimum=0)
    disk_check_interval: float = key(1.0, "Seconds between free-space checks.",
        minimum=0.01)


@dataclass(frozen=True)
class StoreSection:
    """The [store] section."""

    compression_level: int = key(1,
        "zstd level of store files, 1-22 (1 is smaller than xz -0 and >10x faster: "
        "see docs/storage.md).", minimum=1,
        check=lambda v: None if v <= 22 else "zstd levels go up to 22")
    max_file_bytes: int = key(64 * MiB,
        "Finish a partition file at this many uncompressed bytes.", minimum=1024)
    max_file_age: float = key(300.0,
        "Seconds after which the converter commits what it has converted (at once, when it "
        "runs out of work, if the oldest record waiting was received this long ago).",
        minimum=0.01)
    schema_file: str = key("",
        "Partitioning schema for telemetry (2013 telemetry_schema.json format); "
        "empty uses the built-in default.")


@dataclass(frozen=True)
class ConverterSection:
    """The [converter] section."""

    enabled: bool = key(True,
        "Run the converter in `appliance serve` (a child process).")
    idle_wait: float = key(1.0,
        "Seconds the converter waits for new sealed segments when idle.", minimum=0.01)
    processes: int = key(0,
        "Conversion processes: 1 converts in the converter child itself; N >= 2 adds N "
        "worker processes that convert and write while the child commits (docs/conversion.md); "
        "0 is one per CPU core.", minimum=0)


@dataclass(frozen=True)
class HistogramsSection:
    """The [histograms] section."""

    spec_dir: str = key("",
        "Directory of <rev>.Histograms.json / <rev>.buckets.json; empty means "
        "<data_dir>/histograms.")
    server_url: str = key("",
        "Histogram server fetched for revisions not in spec_dir (cached in spec_dir/cache).")
    timeout: float = key(2.0,
        "Seconds the converter waits for the histogram server's answer.", minimum=0.1)
    retry_after: float = key(60.0,
        "Seconds a failed or unknown revision (and a failed server) is not asked again.",
        minimum=0.0)


@dataclass(frozen=True)
class ExportSection:
    """The [export] section."""

    enabled: bool = key(False,
        "Upload finished store files to S3; off means the local store is the archive.")
    bucket: str = key("", "S3 bucket to upload into (required when enabled).")
    prefix: str = key("", "Key prefix in the bucket; objects are <prefix>/<store key>.")
    endpoint_url: str = key("",
        "S3 endpoint for S3-compatible stores (e.g. http://127.0.0.1:8333); empty is AWS.")
    region: str = key("us-east-1", "Region for signing requests.")
    access_key_id: str = key("",
        "Credentials; empty uses the standard AWS chain (env, shared files, instance role).")
    secret_access_key: str = key("", "Secret for access_key_id.")
    concurrency: int = key(4, "Uploads in flight at once.", minimum=1)
    multipart_threshold: int = key(64 * MiB,
        "Files at least this large are uploaded in parts.", minimum=5 * MiB)
    part_size: int = key(16 * MiB, "Size of each part of a multipart upload.",
        minimum=5 * MiB)
    retain_days: float = key(0.0,
        "Keep exported files in <data_dir>/exported for this many days (0: delete at once).",
        minimum=0)
    interval: float = key(10.0, "Seconds between scans of the store for new files.",
        minimum=0.01)
    max_backoff: float = key(300.0,
        "Longest wait before retrying a failed file (errors back off exponentially).",
        minimum=0.01)


@dataclass(frozen=True)
class JobsSection:
    """The [jobs] section."""

    enabled: bool = key(True,
        "Run MapReduce jobs submitted through the admin API (in worker subprocesses).")
    max_running: int = key(1,
        "Jobs run at the same time (each has its own mapper and reducer processes); the rest "
        "wait in a queue.", minimum=1)
    timeout: float = key(3600.0,
        "Seconds a job may run before it is cancelled (a submission may ask for another "
        "limit).", minimum=1)
    runner: str = key("local",
        "Where submitted jobs run: local (mapper and reducer processes on this node) or dask "
        "(the Dask cluster at [jobs] scheduler; a submission may choose).",
        choices=("local", "dask"))
    scheduler: str = key("",
        "The Dask scheduler address (tcp://HOST:PORT) for jobs run with the dask runner.")
    python_path: str = key("",
        "Site directories, separated by ':' like PYTHONPATH, where job scripts find their "
        "libraries (e.g. a virtualenv's site-packages with numpy): used by job run, the "
        "server's pool and the binary alike (docs/mapreduce.md, \"Libraries\").")
    keep: int = key(200,
        "Finished jobs whose output and log are kept in <data_dir>/jobs (oldest removed "
        "first).", minimum=1)


@dataclass(frozen=True)
class AdminSection:
    """The [admin] section."""

    listen: str = key("127.0.0.1:8444",
        "Admin API address: HOST:PORT (keep it on loopback; port 0 picks one) or unix:PATH "
        "(a relative PATH is in the data dir). Never the public port. An address other than "
        "loopback is refused unless allow_remote is set.", check=_admin_listen_check)
    allow_remote: bool = key(False,
        "Allow a non-loopback admin listen address (the bearer token then crosses the network "
        "in plain HTTP; a warning is logged at start).")
    token_file: str = key("",
        "Bearer token for the admin API (created with mode 0600 on first start); empty means "
        "<data_dir>/admin.token.")
    history_seconds: int = key(900,
        "Seconds of 1 s samples kept for /v1/history (graphs of a client that attaches later).",
        minimum=1)
    log_events: int = key(1000, "Recent log events kept in memory for /v1/logs.",
        minimum=1)
    ledger_interval: float = key(10.0,
        "Seconds between reconciliations of the ledger (each reads the spool's new bytes and "
        "lists the local store).", minimum=0.01)


# The sections in the order `appliance config` prints them.
SECTIONS: dict[str, type] = {
    "server": ServerSection,
    "receiver": ReceiverSection,
    "spool": SpoolSection,
    "store": StoreSection,
    "converter": ConverterSection,
    "histograms": HistogramsSection,
    "export": ExportSection,
    "jobs": JobsSection,
    "admin": AdminSection,
}

KEYS: tuple[Key, ...] = tuple(
    Key(section, f.name, f.default, **f.metadata)
    for section, cls in SECTIONS.items() for f in fields(cls))



def key_index() -> dict[tuple[str, str], Key]:
    """The keys by (section, name)."""
    return {(k.section, k.name): k for k in KEYS}
