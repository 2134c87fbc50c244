"""`appliance selftest`: what a frozen build can get wrong, checked in one command.

Each check runs in a scratch directory and is independent of the others; the
command prints one line per check and exits 1 naming the ones that failed.
It needs no data dir, no network beyond loopback and no configuration.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from appliance.cli.common import Subparsers
from appliance.config import Config

# Modules that need an optional extra the binary does not carry.
OPTIONAL = {"dask", "distributed", "cloudpickle"}

JOB_SCRIPT = '''\
import json

def map(key, dims, value, context):
    context.write(json.loads(value)["os"], 1)

def reduce(key, values, context):
    context.write(key, sum(values))
'''


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "selftest", parents=[common], help="check that this build works (imports, TLS, "
                                           "spool, zstd, a MapReduce job, the TUI's CSS)",
        description="Run the checks a packaged binary can fail: import every subsystem, "
                    "a TLS handshake on loopback, a spool write+fsync+read, a zstd round "
                    "trip, the S3 client's models, one MapReduce job through worker "
                    "processes, and the terminal dashboard's CSS loaded headless. Exits 1 "
                    "naming what failed.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    failed = []
    with tempfile.TemporaryDirectory(prefix="appliance-selftest-") as tmp:
        for name, check in CHECKS:
            scratch = Path(tmp) / name
            scratch.mkdir()
            start = time.perf_counter()
            try:
                note = check(scratch) or ""
            except Exception as e:  # every failure is reported, none stops the others
                failed.append(name)
                detail = "".join(traceback.format_exception_only(type(e), e)).strip()
                out.write(f"FAIL  {name}: {detail}\n")
            else:
                seconds = time.perf_counter() - start
                out.write(f"ok    {name} ({seconds:.2f} s){' ' + note if note else ''}\n")
            out.flush()
    if failed:
        out.write(f"selftest FAILED: {', '.join(failed)}\n")
        return 1
    out.write(f"selftest passed ({len(CHECKS)} checks)\n")
    return 0


def check_imports(_: Path) -> str:
    """Import every module of the appliance package (the binary must carry them all)."""
    import appliance

    count, skipped = 0, []
    for info in pkgutil.walk_packages(appliance.__path__, "appliance."):
        if info.name == "appliance.__main__":
            continue
        try:
            importlib.import_module(info.name)
        except ImportError as e:
            if (e.name or "").split(".")[0] not in OPTIONAL:
                raise
            skipped.append(info.name)
        count += 1
    if count < 20:
        raise AssertionError(f"only {count} modules found: the package is not complete")
    return f"{count} modules" + (f"; without optional extras: {', '.join(skipped)}"
                                 if skipped else "")


def check_tls(scratch: Path) -> str:
    """A self-signed certificate, the server's TLS context, and a verified handshake."""
    import ssl

    from OpenSSL import SSL

    from appliance.receiver.tls import ensure_self_signed, server_options

    cert, key, _ = ensure_self_signed(scratch / "tls")
    context = server_options(cert, key).getContext()
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            tls = SSL.Connection(context, conn)
            tls.set_accept_state()
            tls.do_handshake()
            received.append(tls.recv(64))
            tls.sendall(b"pong")
            tls.shutdown()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    client = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(listener.getsockname(), timeout=10) as raw, \
            client.wrap_socket(raw, server_hostname="localhost") as sock:
        sock.sendall(b"ping")
        answer = sock.recv(64)
        version = sock.version()
    server.join(10)
    listener.close()
    if received != [b"ping"] or answer != b"pong":
        raise AssertionError(f"TLS exchange went wrong: {received!r} / {answer!r}")
    return version or ""


def check_spool(scratch: Path) -> str:
    """Append records with fsync, seal the segment, read them back with their checksums."""
    from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord, read_segment

    spool = SpoolDir(scratch / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 20, max_segment_age=3600,
                               fsync=True)
    ids = RecordIds()
    bodies = [b'{"n": %d}' % i for i in range(10)]
    result = appender.append([SpoolRecord(ids.next(), time.time_ns(), "/submit/selftest/x",
                                          body) for body in bodies])
    appender.rotate()
    appender.close()
    if result.acked != len(bodies) or result.error is not None:
        raise AssertionError(f"append acknowledged {result.acked}: {result.error}")
    read = [r.body for seg in spool.all_segments() for r in read_segment(seg)]
    if read != bodies:
        raise AssertionError(f"read back {len(read)} records, not the {len(bodies)} written")
    return f"{len(read)} records"


def check_zstd(_: Path) -> str:
    """Compress and decompress with the store's codec."""
    import zstandard

    data = b"".join(b"doc-%d\t{\"n\": %d}\n" % (i, i) for i in range(2000))
    packed = zstandard.ZstdCompressor(level=3).compress(data)
    if zstandard.ZstdDecompressor().decompress(packed) != data:
        raise AssertionError("zstd round trip changed the data")
    return f"{len(data)} -> {len(packed)} bytes"


def check_s3_models(_: Path) -> str:
    """The S3 and STS clients build from botocore's bundled models (no request is sent)."""
    import boto3

    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x",
                                    region_name="us-east-1")
    for service in ("s3", "sts"):
        session.client(service, endpoint_url="http://127.0.0.1:9")
    return "s3, sts"


def check_job(scratch: Path) -> str:
    """One MapReduce job through mapper and reducer processes (this binary, spawned)."""
    import zstandard

    from appliance.mr.inputs import InputFile
    from appliance.mr.runner import LocalRunner

    script = scratch / "count_by_os.py"
    script.write_text(JOB_SCRIPT)
    inputs = []
    for i, systems in enumerate((["Linux", "WINNT", "Linux"], ["Darwin", "Linux"])):
        path = scratch / f"part{i}.zst"
        lines = "".join(f'doc-{i}-{n}\t{{"os": "{s}"}}\n' for n, s in enumerate(systems))
        path.write_bytes(zstandard.ZstdCompressor().compress(lines.encode()))
        inputs.append(InputFile(str(path), "telemetry", (), path.stat().st_size))
    output = scratch / "out.tsv"
    LocalRunner(script, inputs, output, mappers=2, reducers=2, work_dir=scratch).run()
    expected = "Darwin\t1\nLinux\t3\nWINNT\t1\n"
    if output.read_text() != expected:
        raise AssertionError(f"job output {output.read_text()!r}, expected {expected!r}")
    return "2 mappers, 2 reducers"


def check_tui_css(_: Path) -> str:
    """Every .tcss file of the dashboard parses and loads into a headless app."""
    import asyncio
    import inspect

    import textual.widgets
    from textual.app import App

    # textual/widgets/__init__.pyi leaves out the __all__ that its .py has
    widgets: list[str] = textual.widgets.__all__  # type: ignore[attr-defined]
    for name in widgets:  # widgets are imported lazily, by name
        getattr(textual.widgets, name)
    try:
        import appliance.tui as tui
    except ImportError as e:
        if e.name == "appliance.tui":
            return "no dashboard in this build"
        raise
    paths = set()
    for info in pkgutil.iter_modules(tui.__path__, "appliance.tui."):
        module = importlib.import_module(info.name)
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            css = getattr(cls, "CSS_PATH", None) if cls.__module__ == module.__name__ else None
            for rel in [css] if isinstance(css, str) else list(css or ()):
                path = Path(inspect.getfile(cls)).parent / rel
                if not path.is_file():
                    raise FileNotFoundError(f"{cls.__name__}.CSS_PATH {path} is missing")
                paths.add(path)

    async def load() -> None:
        app: App[None] = App(css_path=sorted(paths))
        async with app.run_test(headless=True):
            pass

    asyncio.run(load())
    return f"{len(paths)} stylesheets, {len(widgets)} widgets"


CHECKS: list[tuple[str, Callable[[Path], str | None]]] = [
    ("imports", check_imports),
    ("tls", check_tls),
    ("spool", check_spool),
    ("zstd", check_zstd),
    ("s3-models", check_s3_models),
    ("mapreduce", check_job),
    ("tui-css", check_tui_css),
]
