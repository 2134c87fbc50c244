"""Ingest, side by side: appliance (fsync), appliance (no fsync), a trivial twisted.web
handler (the framework's ceiling) and nginx writing bodies to temp files (the machine's).

wrk on one core, the server pinned to the other (taskset), 64 keep-alive
connections, 10 s per run, HTTPS and HTTP, realistic gzip pings and 1 KB
bodies; 3 interleaved rounds (A/B/C/D, A/B/C/D, ...), medians with min-max.
The appliance runs with its converter off: this measures the receiver.

Needs wrk (`apt-get install wrk`); nginx is optional (`apt-get install nginx-light`).
Run: `make bench-ingest` or `.venv/bin/python -m bench.ingest [--seconds S] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance.receiver.tls import ensure_self_signed
from bench.common import save, spread
from bench.payloads import PingGenerator

HERE = Path(__file__).resolve().parent
SERVER_CPU, LOAD_CPU = "0", "1"
NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    client_max_body_size 2m;
    upstream ok {{ server 127.0.0.1:{upstream}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port} {ssl};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            # Read each body into a temp file (deleted after the answer), then
            # answer 200 from a local server block without sending the body on.
            client_body_in_file_only clean;
            proxy_pass http://ok;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
    }}
    server {{ listen 127.0.0.1:{upstream}; location / {{ return 200 "OK\\n"; }} }}
}}
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server under test, pinned to `cpus` (a taskset list; None: unpinned)."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict | None = None,
                 ready: str | None = None, cpus: str | None = SERVER_CPU):
        self.name, self.argv, self.port, self.env, self.ready = name, argv, port, env, ready
        self.cpus = cpus
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
        env.update(self.env or {})
        pin = ["taskset", "-c", self.cpus] if self.cpus is not None else []
        self.proc = subprocess.Popen([*pin, *self.argv], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, start_new_session=True)
        if self.ready:
            for line in self.proc.stdout:
                if self.ready in line:
                    break
            else:
                raise RuntimeError(f"{self.name} did not start")
        else:
            deadline = time.monotonic() + 10
            import socket

            while time.monotonic() < deadline:  # nginx prints nothing: wait for the port
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
        return self

    def cpu_seconds(self) -> float:
        """CPU time of the server's whole process group (workers included)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.proc.pid:  # process group
                total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def check_answers(url: str, body: Path) -> None:
    """Refuse to measure a server that does not answer 200 to a submission."""
    import urllib.request

    req = urllib.request.Request(f"{url}/submit/telemetry/check", data=body.read_bytes())
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # our own self-signed cert
    with urllib.request.urlopen(req, context=ctx, timeout=10) as answer:
        if answer.status != 200:
            raise RuntimeError(f"{url} answered {answer.status}")


def wrk(url: str, body: Path, gzipped: bool, seconds: int) -> dict:
    env = dict(os.environ, BODY_FILE=str(body), BODY_GZIP="1" if gzipped else "0")
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c64", f"-d{seconds}s",
                          "--latency", "-s", str(HERE / "post.lua"), url],
                         env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    lat = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out))
    return {"rps": rps, "non_2xx": int(non2xx[1]) if non2xx else 0,
            "p50_ms": _ms(lat.get("50", "0ms")), "p99_ms": _ms(lat.get("99", "0ms")),
            "requests": int(re.search(r"(\d+) requests in", out)[1])}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def servers(tmp: Path, tls: bool) -> dict[str, Server]:
    cert, key, _ = ensure_self_signed(tmp / "tls")
    python = sys.executable
    common = {"APPLIANCE_SPOOL_MIN_FREE_BYTES": "0", "APPLIANCE_SPOOL_MIN_FREE_PERCENT": "0",
              "APPLIANCE_CONVERTER_ENABLED": "false", "APPLIANCE_SERVER_LOG_LEVEL": "warn",
              "APPLIANCE_ADMIN_LISTEN": "127.0.0.1:0",  # one admin port per server
              "APPLIANCE_RECEIVER_CERT_FILE": str(cert),
              "APPLIANCE_RECEIVER_KEY_FILE": str(key)}
    out = {}
    for name, durability in (("appliance fsync", "fsync"), ("appliance no-fsync", "none")):
        port = free_port()
        argv = [python, "-m", "appliance", "serve", "--data-dir", str(tmp / durability),
                "--listen", f"127.0.0.1:{port}"] + ([] if tls else ["--http"])
        out[name] = Server(name, argv, port, dict(common, APPLIANCE_SPOOL_DURABILITY=durability),
                           ready="listening on")
    port = free_port()
    out["twisted.web trivial"] = Server(
        "twisted.web trivial",
        [python, "-m", "bench.trivial_twisted", str(port)] + ([str(cert), str(key)] if tls
                                                              else []), port, ready="ready")
    if shutil.which("nginx"):
        port = free_port()
        conf_dir = tmp / f"nginx-{port}"
        (conf_dir / "body").mkdir(parents=True)
        (conf_dir / "nginx.conf").write_text(NGINX_CONF.format(
            dir=conf_dir, port=port, upstream=free_port(), ssl="ssl" if tls else "",
            cert=cert, key=key,
            # As root, nginx's workers would run as nobody and could not write here.
            user="user root;" if os.geteuid() == 0 else ""))
        out["nginx body to file"] = Server("nginx body to file",
                                           [shutil.which("nginx"), "-c",
                                            str(conf_dir / "nginx.conf")], port)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench.ingest needs wrk: apt-get install wrk (nginx-light for the nginx "
                 "baseline)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("bench.ingest needs 2 cores (server and load generator pinned apart)")
    if not shutil.which("nginx"):
        print("nginx not installed: the nginx baseline is skipped (apt-get install nginx-light)")
    gen = PingGenerator(seed=7)
    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bodies = {"gzip ping": (tmp / "ping.gz", gen.gzip_bytes(1), True),
                  "1 KB": (tmp / "1k.json", b'{"ver":2,"pad":"' + b"x" * 1000 + b'"}', False)}
        for path, data, _ in bodies.values():
            path.write_bytes(data)
        for tls in (True, False):
            scheme = "https" if tls else "http"
            running = {n: s.start() for n, s in servers(tmp / scheme, tls).items()}
            try:
                for server in running.values():
                    check_answers(f"{scheme}://127.0.0.1:{server.port}", bodies["1 KB"][0])
                for body_name, (path, data, gzipped) in bodies.items():
                    rows = {name: [] for name in running}
                    for _ in range(args.rounds):
                        for name, server in running.items():
                            cpu0 = server.cpu_seconds()
                            row = wrk(f"{scheme}://127.0.0.1:{server.port}", path, gzipped,
                                      args.seconds)
                            row["cpu_ms_per_request"] = (
                                1000 * (server.cpu_seconds() - cpu0) / max(1, row["requests"]))
                            row["mb_s"] = row["rps"] * len(data) / 1e6
                            rows[name].append(row)
                    results[f"{scheme} {body_name}"] = rows
                    report(f"{scheme.upper()}, {body_name} ({len(data)} bytes)", rows)
            finally:
                for server in running.values():
                    server.stop()
    path = save("ingest", {"seconds": args.seconds, "rounds": args.rounds, "runs": results})
    print(f"results: {path}")


def report(title: str, rows: dict[str, list[dict]]) -> None:
    print(f"\n{title}: medians of {len(next(iter(rows.values())))} rounds (min-max)")
    print(f"{'server':22} {'req/s':>22} {'MB/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'CPU ms/req':>10} {'non-2xx':>8}")
    med, cpu = {}, {}
    for name, runs in rows.items():
        rps = spread([r["rps"] for r in runs])
        med[name] = rps["median"]
        cpu[name] = spread([r["cpu_ms_per_request"] for r in runs])["median"]

        def m(key, runs=runs):
            return spread([r[key] for r in runs])["median"]

        print(f"{name:22} {rps['median']:>8.0f} ({rps['min']:.0f}-{rps['max']:.0f})"
              f" {m('mb_s'):>8.1f} {m('p50_ms'):>8.1f} {m('p99_ms'):>8.1f}"
              f" {m('cpu_ms_per_request'):>10.3f} {sum(r['non_2xx'] for r in runs):>8}")
    a = med.get("appliance fsync")
    ratios = [f"a/b {a / med['appliance no-fsync']:.2f}",
              f"a/c {a / med['twisted.web trivial']:.2f}"]
    if "nginx body to file" in med:
        ratios.append(f"a/d {a / med['nginx body to file']:.2f}")
    print("ratios (same run): " + ", ".join(ratios) +
          "  (a appliance fsync, b no fsync, c trivial twisted.web, d nginx)")
    # On a busy machine req/s depends on what else runs; CPU per request much less.
    print("capacity ratios (inverse CPU per request): " + ", ".join(
        f"a/{k} {cpu[name] / cpu['appliance fsync']:.2f}"
        for k, name in (("c", "twisted.web trivial"), ("d", "nginx body to file"))
        if name in cpu))


if __name__ == "__main__":
    main()
