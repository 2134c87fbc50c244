"""CPU per request of the receiver's HTTP protocol, this tree against earlier revisions.

Recorded submissions (a gzip ping and a 1 KB body, with a browser's headers)
are fed through the receiver's `ReceiverProtocol` over a StringTransport with a
handler that answers 200 at once: what is timed is parsing, limits, handing
over and writing the answer, with no sockets, TLS or spool. Each request
arrives in 16 KiB reads, as TLS records deliver it. A last case times one
request of a million one-byte chunks (in 64 KiB reads) until it is answered.

Each revision given with `--against REV` is exported (`git archive`) to a
temporary directory and measured in its own process, interleaved with this
tree round by round; medians with min-max. The figures in docs/performance.md
compare the hand-written strict parser (the revision before llhttp) and the
lax parser it replaced with the llhttp-based protocol.

Run: `.venv/bin/python -m bench.http_parser [--against REV ...] [--requests N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from bench.common import save, spread

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
READ = 16 * 1024
HEADERS = (b"Host: 127.0.0.1:8443\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:23.0) "
           b"Gecko/20100101 Firefox/23.0\r\nAccept: */*\r\nContent-Type: application/json\r\n"
           b"Date: Fri, 04 Dec 2026 17:00:00 GMT\r\nX-PingSender-Version: 1.0\r\n")


def recorded(body: bytes, gzip: bool, n: int) -> list[list[bytes]]:
    """`n` requests posting `body` to fresh docIds, each cut into 16 KiB reads."""
    out = []
    for i in range(n):
        head = (b"POST /submit/telemetry/bench-%d/saved-session/Firefox/23.0/release/"
                b"20130814063812 HTTP/1.1\r\n" % i + HEADERS
                + (b"Content-Encoding: gzip\r\n" if gzip else b"")
                + b"Content-Length: %d\r\n\r\n" % len(body))
        raw = head + body
        out.append([raw[at:at + READ] for at in range(0, len(raw), READ)])
    return out


def measure(n: int) -> dict[str, float]:
    """In this process, with whichever `appliance` is first on the path: CPU us/request."""
    from twisted.internet.testing import MemoryReactorClock, StringTransport

    from appliance.receiver.protocol import Answer, Limits, ReceiverFactory
    from appliance.stats import Stats
    from bench.payloads import PingGenerator

    ok = Answer(200, "OK")
    limits = Limits(max_body_bytes=1 << 20, max_path_bytes=10 * 1024,
                    max_header_bytes=16 * 1024, max_headers=100, max_connections=1024,
                    max_decompressed_bytes=10 << 20)
    gen = PingGenerator(seed=7)
    out = {}
    for label, body, gzip in (("gzip ping", gen.gzip_bytes(0), True),
                              ("1 KB", gen.json_bytes(0)[:1018], False)):
        requests = recorded(body, gzip, n)
        reactor = MemoryReactorClock()
        factory = ReceiverFactory(lambda request: ok, limits, Stats(reactor.seconds), reactor,
                                  idle_timeout=60)
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        started = time.process_time()
        for reads in requests:
            for data in reads:
                proto.dataReceived(data)
            transport.clear()
        elapsed = time.process_time() - started
        served = factory.stats.requests_by_status[200]
        assert served == n, f"served {served} of {n}"
        out[label] = elapsed / n * 1e6
    out["a million 1-byte chunks"] = many_chunks(ok, limits)
    return out


def many_chunks(ok, limits) -> float:
    """CPU microseconds one request of a million one-byte chunks costs, until it is
    answered (served, or refused past max_chunks)."""
    from twisted.internet.testing import MemoryReactorClock, StringTransport

    from appliance.receiver.protocol import ReceiverFactory
    from appliance.stats import Stats

    raw = (b"POST /submit/telemetry/chunks HTTP/1.1\r\nHost: x\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" + b"1\r\na\r\n" * 1_000_000 + b"0\r\n\r\n")
    reads = [raw[at:at + 65536] for at in range(0, len(raw), 65536)]
    reactor = MemoryReactorClock()
    factory = ReceiverFactory(lambda request: ok, limits, Stats(reactor.seconds), reactor,
                              idle_timeout=60)
    proto = factory.buildProtocol(None)
    proto.makeConnection(StringTransport())
    started = time.process_time()
    for data in reads:
        proto.dataReceived(data)
        if factory.stats.requests_by_status:
            break
    return (time.process_time() - started) * 1e6


def export(rev: str, into: Path) -> Path:
    """The `appliance` package of git revision `rev`, unpacked under `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "appliance"],
                             check=True, capture_output=True).stdout
    tree = into / rev
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def run_in(tree: Path, n: int) -> dict[str, float]:
    """`measure` in a child process importing `appliance` from `tree`."""
    # The child's working directory comes first on its path: the tree's package wins.
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-m", "bench.http_parser", "--one", str(n)],
                         cwd=tree, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", action="append", default=[], metavar="REV",
                        help="a git revision to measure side by side (repeatable)")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": ROOT, **{rev: export(rev, Path(tmp)) for rev in args.against}}
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(run_in(tree, args.requests))
    results = {name: {label: spread([r[label] for r in rs]) for label in rs[0]}
               for name, rs in runs.items()}
    for label in next(iter(results.values())):
        print(f"{label}, CPU us/request, median (min-max):")
        for name, by_label in results.items():
            s = by_label[label]
            print(f"  {name:24} {s['median']:6.2f} ({s['min']:.2f}-{s['max']:.2f})")
    print("saved", save("http_parser", {"requests": args.requests, "rounds": args.rounds,
                                       "against": args.against, "results": results}))


if __name__ == "__main__":
    main()
