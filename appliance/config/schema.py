"""Every configuration key, with its type, embedded default and meaning.

This table is the single source of truth: the loader validates against it,
`appliance config` prints it, and docs/configuration.md describes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.config.ciphers import MODERN_CIPHERS, check_ciphers
from appliance.config.headers import DEFAULT_KEEP, check_keep_headers

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


def _listen_check(value: str) -> str | None:
    from appliance.config.listen import parse_listen

    try:
        parse_listen(value)
    except ValueError as e:
        return str(e)
    return None


def _admin_listen_check(value: str) -> str | None:
    if value.startswith("unix:"):
        return None if value[len("unix:"):] else "unix: needs a socket path"
    return _listen_check(value)


KEYS: tuple[Key, ...] = (
    # [server]
    Key("server", "data_dir", "./appliance-data",
        "Where the spool, store, logs, TLS material and admin token live."),
    Key("server", "log_level", "info", "Lowest level written to the console and log file.",
        choices=("debug", "info", "warn", "error")),
    Key("server", "node_id", "",
        "Readable label of this node in keys and stats; empty means the host name. Keys also "
        "carry the data dir's unique node id (node.json), so labels may repeat."),
    Key("server", "shutdown_timeout", 30.0,
        "Seconds SIGTERM may take to drain: in-flight requests answered, the converter "
        "committed, uploads finished; what is left then is abandoned (and redone at start).",
        minimum=0),
    # [receiver]
    Key("receiver", "listen", "127.0.0.1:8443", "HOST:PORT of the public submission port.",
        check=_listen_check),
    Key("receiver", "tls", True,
        "Serve HTTPS (TLS 1.2+). false serves plain HTTP, e.g. behind a TLS-terminating proxy."),
    Key("receiver", "tls_ciphers", MODERN_CIPHERS,
        "OpenSSL cipher string for TLS 1.2 (TLS 1.3 always offers its own AEAD suites); the "
        "default allows only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305.",
        check=check_ciphers),
    Key("receiver", "cert_file", "",
        "PEM certificate (chain) for HTTPS; empty generates a self-signed one in the data dir."),
    Key("receiver", "key_file", "", "PEM private key for cert_file."),
    Key("receiver", "max_body_bytes", 1 * MiB,
        "Largest request body accepted, as received (compressed).", minimum=1),
    Key("receiver", "max_decompressed_bytes", 10 * MiB,
        "Largest decompressed size of a gzip body (checked from the gzip trailer).", minimum=1),
    Key("receiver", "max_path_bytes", 10 * 1024, "Longest request path accepted.", minimum=16),
    Key("receiver", "max_header_bytes", 16 * 1024, "Largest total size of request headers.",
        minimum=256),
    Key("receiver", "max_headers", 100, "Most header lines in one request.", minimum=1),
    Key("receiver", "max_connections", 1024, "Most concurrent client connections.", minimum=1),
    Key("receiver", "max_connections_per_ip", 128,
        "Most concurrent connections from one client address, per receiver process "
        "(behind a proxy every client has the proxy's address: raise it to max_connections).",
        minimum=1),
    Key("receiver", "max_chunks", 4096, "Most chunks in one chunked request body.", minimum=1),
    Key("receiver", "idle_timeout", 60.0,
        "Seconds a connection may receive nothing (between requests, or stalled).",
        minimum=0.1),
    Key("receiver", "head_timeout", 10.0,
        "Seconds a client has to send a whole request head (from the connection or the "
        "head's first byte).", minimum=0.1),
    Key("receiver", "body_timeout", 30.0,
        "Seconds a client has to send a whole body (plus its bytes at min_body_rate).",
        minimum=0.1),
    Key("receiver", "min_body_rate", 1024.0,
        "Slowest body accepted, bytes/s: each byte received adds 1/rate s to body_timeout "
        "(0: body_timeout alone).", minimum=0),
    Key("receiver", "keep_headers", DEFAULT_KEEP,
        "Request headers kept with each submission (comma-separated; Content-Encoding is "
        "always kept; each value cut to 1024 characters).", check=check_keep_headers),
    Key("receiver", "store_client_ip", False,
        "Record the client's IP address with each submission."),
    Key("receiver", "processes", 1,
        "Receiver processes sharing the public port (SO_REUSEPORT), each with its own spool "
        "writer; 1 serves in the server process itself.", minimum=1),
    # [spool]
    Key("spool", "durability", "fsync",
        "fsync: answer 200 only after fdatasync. none: no fsync (UNSAFE, benchmarks only).",
        choices=("fsync", "none")),
    Key("spool", "max_segment_bytes", 64 * MiB, "Seal the active segment at this size.",
        minimum=4096),
    Key("spool", "max_segment_age", 60.0, "Seal the active segment after this many seconds.",
        minimum=0.01),
    Key("spool", "max_batch_bytes", 8 * MiB, "Most bytes written and synced as one batch.",
        minimum=4096),
    Key("spool", "max_pending_bytes", 64 * MiB,
        "Bytes waiting for the disk before new submissions get 503.", minimum=4096),
    Key("spool", "min_free_bytes", 1 * GiB,
        "Answer 507 while the data dir's file system has less free space than this.", minimum=0),
    Key("spool", "min_free_percent", 5.0,
        "Answer 507 while less than this percentage of the file system is free.", minimum=0),
    Key("spool", "disk_check_interval", 1.0, "Seconds between free-space checks.",
        minimum=0.01),
    # [store]
    Key("store", "compression_level", 1,
        "zstd level of store files, 1-22 (1 is smaller than xz -0 and >10x faster: "
        "see docs/storage.md).", minimum=1,
        check=lambda v: None if v <= 22 else "zstd levels go up to 22"),
    Key("store", "max_file_bytes", 64 * MiB,
        "Finish a partition file at this many uncompressed bytes.", minimum=1024),
    Key("store", "max_file_age", 300.0,
        "Seconds after which the converter commits what it has converted.", minimum=0.01),
    Key("store", "schema_file", "",
        "Partitioning schema for telemetry (2013 telemetry_schema.json format); "
        "empty uses the built-in default."),
    # [converter]
    Key("converter", "enabled", True,
        "Run the converter in `appliance serve` (a child process)."),
    Key("converter", "idle_wait", 1.0,
        "Seconds the converter waits for new sealed segments when idle.", minimum=0.01),
    Key("converter", "processes", 0,
        "Conversion processes: 1 converts in the converter child itself; N >= 2 adds N "
        "worker processes that convert and write while the child commits (docs/conversion.md); "
        "0 is one per CPU core.", minimum=0),
    # [histograms]
    Key("histograms", "spec_dir", "",
        "Directory of <rev>.Histograms.json / <rev>.buckets.json; empty means "
        "<data_dir>/histograms."),
    Key("histograms", "server_url", "",
        "Histogram server fetched for revisions not in spec_dir (cached in spec_dir/cache)."),
    Key("histograms", "timeout", 2.0,
        "Seconds the converter waits for the histogram server's answer.", minimum=0.1),
    Key("histograms", "retry_after", 60.0,
        "Seconds a failed or unknown revision (and a failed server) is not asked again.",
        minimum=0.0),
    # [export]
    Key("export", "enabled", False,
        "Upload finished store files to S3; off means the local store is the archive."),
    Key("export", "bucket", "", "S3 bucket to upload into (required when enabled)."),
    Key("export", "prefix", "", "Key prefix in the bucket; objects are <prefix>/<store key>."),
    Key("export", "endpoint_url", "",
        "S3 endpoint for S3-compatible stores (e.g. http://127.0.0.1:8333); empty is AWS."),
    Key("export", "region", "us-east-1", "Region for signing requests."),
    Key("export", "access_key_id", "",
        "Credentials; empty uses the standard AWS chain (env, shared files, instance role)."),
    Key("export", "secret_access_key", "", "Secret for access_key_id."),
    Key("export", "concurrency", 4, "Uploads in flight at once.", minimum=1),
    Key("export", "multipart_threshold", 64 * MiB,
        "Files at least this large are uploaded in parts.", minimum=5 * MiB),
    Key("export", "part_size", 16 * MiB, "Size of each part of a multipart upload.",
        minimum=5 * MiB),
    Key("export", "retain_days", 0.0,
        "Keep exported files in <data_dir>/exported for this many days (0: delete at once).",
        minimum=0),
    Key("export", "interval", 10.0, "Seconds between scans of the store for new files.",
        minimum=0.01),
    Key("export", "max_backoff", 300.0,
        "Longest wait before retrying a failed file (errors back off exponentially).",
        minimum=0.01),
    # [jobs]
    Key("jobs", "enabled", True,
        "Run MapReduce jobs submitted through the admin API (in worker subprocesses)."),
    Key("jobs", "max_running", 1,
        "Jobs run at the same time (each has its own mapper and reducer processes); the rest "
        "wait in a queue.", minimum=1),
    Key("jobs", "timeout", 3600.0,
        "Seconds a job may run before it is cancelled (a submission may ask for another "
        "limit).", minimum=1),
    Key("jobs", "runner", "local",
        "Where submitted jobs run: local (mapper and reducer processes on this node) or dask "
        "(the Dask cluster at [jobs] scheduler; a submission may choose).",
        choices=("local", "dask")),
    Key("jobs", "scheduler", "",
        "The Dask scheduler address (tcp://HOST:PORT) for jobs run with the dask runner."),
    Key("jobs", "python_path", "",
        "Site directories, separated by ':' like PYTHONPATH, where job scripts find their "
        "libraries (e.g. a virtualenv's site-packages with numpy): used by job run, the "
        "server's pool and the binary alike (docs/mapreduce.md, \"Libraries\")."),
    Key("jobs", "keep", 200,
        "Finished jobs whose output and log are kept in <data_dir>/jobs (oldest removed "
        "first).", minimum=1),
    # [admin]
    Key("admin", "listen", "127.0.0.1:8444",
        "Admin API address: HOST:PORT (keep it on loopback; port 0 picks one) or unix:PATH "
        "(a relative PATH is in the data dir). Never the public port. An address other than "
        "loopback is refused unless allow_remote is set.", check=_admin_listen_check),
    Key("admin", "allow_remote", False,
        "Allow a non-loopback admin listen address (the bearer token then crosses the network "
        "in plain HTTP; a warning is logged at start)."),
    Key("admin", "token_file", "",
        "Bearer token for the admin API (created with mode 0600 on first start); empty means "
        "<data_dir>/admin.token."),
    Key("admin", "history_seconds", 900,
        "Seconds of 1 s samples kept for /v1/history (graphs of a client that attaches later).",
        minimum=1),
    Key("admin", "log_events", 1000, "Recent log events kept in memory for /v1/logs.",
        minimum=1),
    Key("admin", "ledger_interval", 10.0,
        "Seconds between reconciliations of the ledger (each reads the spool's new bytes and "
        "lists the local store).", minimum=0.01),
)


def key_index() -> dict[tuple[str, str], Key]:
    """The keys by (section, name)."""
    return {(k.section, k.name): k for k in KEYS}


def sections() -> list[str]:
    """Section names in the order the table defines them."""
    seen: dict[str, None] = {}
    for k in KEYS:
        seen.setdefault(k.section)
    return list(seen)
