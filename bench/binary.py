"""The one-file binary beside the source install: its size and its time to the first 200.

Time to first 200: from exec of `appliance serve` to the first 200 answered
over HTTPS (a client retries a POST every 5 ms from exec on). Two starts per
program: "first start" on an empty data dir (it also generates the TLS key
and certificate) and "restart" on the same data dir again. The binary
(dist/appliance, built first if stale) and the source install
(`python -m appliance` in the venv) are interleaved, 5 rounds, medians.
Also the binary's `--version` (unpacking and interpreter start-up alone).

Run: `make bench` or `.venv/bin/python -m bench.binary [--rounds N]`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import interleaved, save, spread

ROOT = Path(__file__).resolve().parents[1]
BINARY = ROOT / "dist" / "appliance"
REQUEST = (b"POST /submit/telemetry/bench-first HTTP/1.1\r\nHost: x\r\n"
           b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
ENV = {"APPLIANCE_SPOOL_MIN_FREE_BYTES": "0", "APPLIANCE_SPOOL_MIN_FREE_PERCENT": "0",
       "APPLIANCE_ADMIN_LISTEN": "127.0.0.1:0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def try_post(port: int, ctx: ssl.SSLContext) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw) as sock:
            sock.sendall(REQUEST)
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def first_200(program: list[str], data_dir: Path, timeout: float = 60.0) -> float:
    """Seconds from exec to the first 200; the server is then stopped with SIGTERM."""
    port = free_port()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the certificate may be created by this very start
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")} | ENV
    started = time.perf_counter()
    proc = subprocess.Popen([*program, "serve", "--data-dir", str(data_dir),
                             "--listen", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not try_post(port, ctx):
            if proc.poll() is not None or time.perf_counter() - started > timeout:
                raise RuntimeError(f"{program[0]} did not answer (exit {proc.returncode})")
            time.sleep(0.005)
        return time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def version_time(program: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([*program, "--version"], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--if-stale"],
                   check=True)
    programs = {"binary": [str(BINARY)], "source": [sys.executable, "-m", "appliance"]}
    with tempfile.TemporaryDirectory() as tmp:
        def case(name: str):
            def run() -> dict:
                data_dir = Path(tempfile.mkdtemp(dir=tmp))
                return {"first start": first_200(programs[name], data_dir),
                        "restart": first_200(programs[name], data_dir),
                        "--version": version_time(programs[name])}
            return run

        runs = interleaved({name: case(name) for name in programs}, runs=args.rounds)
    results = {name: {k: spread([r[k] for r in rs]) for k in rs[0]}
               for name, rs in runs.items()}
    size = BINARY.stat().st_size
    path = save("binary", {"binary_bytes": size, "rounds": args.rounds, "results": results})
    print(f"dist/appliance: {size / 2**20:.1f} MiB")
    print(f"{'seconds (median, min-max)':28} {'binary':>18} {'source':>18}")
    for what in ("first start", "restart", "--version"):
        cells = [f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})"
                 for r in (results["binary"][what], results["source"][what])]
        print(f"{what:28} {cells[0]:>18} {cells[1]:>18}")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
