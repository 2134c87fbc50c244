"""The one-file binary does what the source install does (built by packaging/build.py).

Skipped when PyInstaller is not installed; `make test-binary` builds first. The
binary is rebuilt only when a source file is newer than dist/appliance.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.spool import SpoolDir, read_segment
from tests import pings
from tests.integration.serverproc import TEST_ENV, ServerProcess, post, read_response

pytest.importorskip("PyInstaller", reason="PyInstaller is not installed (dev extras)")

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
POSTED = 12


@pytest.fixture(scope="module")
def binary() -> Path:
    subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--if-stale"],
                   check=True, cwd=ROOT)
    return ROOT / "dist" / "appliance"


def bare_env(home: Path) -> dict[str, str]:
    """What a fresh machine has: no venv on PATH, no Python variables."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def test_selftest_passes_in_a_bare_environment(binary, tmp_path):
    result = subprocess.run([str(binary), "selftest"], cwd=tmp_path, env=bare_env(tmp_path),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest passed" in result.stdout
    assert "FAIL" not in result.stdout


def test_the_binary_carries_the_compiled_conversion(binary):
    # Built from an install that has the extension, the binary must convert with it
    # (appliance/convert/rowsjson.py), not fall back to pure Python.
    from PyInstaller.archive.readers import CArchiveReader

    from appliance.convert import rowsjson

    if not rowsjson.COMPILED:
        pytest.skip("the extension is not built in this install")
    names = CArchiveReader(str(binary)).toc
    assert [n for n in names if n.startswith("appliance/convert/_rowsjson.")
            and n.endswith(".so")]


def test_serve_convert_job_and_drain(binary, tmp_path):
    data_dir = tmp_path / "data"
    env = {"APPLIANCE_HISTOGRAMS_SPEC_DIR": str(pings.write_spec(tmp_path / "specs")),
           "APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "0.2", "APPLIANCE_STORE_MAX_FILE_AGE": "0.2"}
    server = ServerProcess(data_dir, env=env, program=[str(binary)]).start()
    assert server.scheme == "https"
    for i in range(POSTED):
        response = post(server, f"/submit/telemetry/doc-{i}/{pings.DIMS}", pings.body(i),
                        {"Content-Encoding": "gzip"})
        assert response.status == 200
    # The converter child (the binary's hidden subcommand) commits them to the store.
    server.wait_for_log(rf"converter: {POSTED} converted, 0 invalid")

    output = tmp_path / "by_os.tsv"
    job = subprocess.run(
        [str(binary), "job", "run", str(ROOT / "examples/jobs/count_by_os.py"),
         "--filter", str(ROOT / "examples/jobs/filters/all.json"), "--output", str(output),
         "--data-dir", str(data_dir), "--mappers", "2", "--reducers", "2"],
        cwd=tmp_path, env={**bare_env(tmp_path), **env}, capture_output=True, text=True,
        timeout=300)
    assert job.returncode == 0, job.stdout + job.stderr
    by_os = dict(line.split("\t") for line in output.read_text().splitlines())
    assert by_os == {"WINNT": "4", "Linux": "4", "Darwin": "4"}

    # SIGTERM with a request in flight: it is answered, then the server stops cleanly.
    body = gzip.compress(json.dumps(pings.ping(99)).encode())
    with server.connect() as sock:
        sock.sendall(f"POST /submit/telemetry/in-flight HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Length: {len(body)}\r\nContent-Encoding: gzip\r\n\r\n".encode()
                     + body[:10])
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for_log(r"stopping: draining")
        sock.sendall(body[10:])
        assert read_response(sock).status == 200
    server.wait_for_log(r"stopped cleanly")
    assert server.proc.wait(timeout=60) == 0
    spool = SpoolDir(data_dir / "spool")
    assert body in [r.body for seg in spool.all_segments() for r in read_segment(seg)]


def test_the_binary_ports_a_2013_job_and_finds_its_libraries(binary, tmp_path):
    """fissix's fixers and grammar are in the binary; a job directory's helper module and a
    library from PYTHONPATH (which the frozen binary reads for jobs) are importable."""
    from tests.jobs2013 import JOBS, LIB, expected, parse_output, write_store

    rows = write_store(tmp_path / "store", 60)
    (tmp_path / "d" / "spool").mkdir(parents=True)  # an (empty) appliance data dir
    shutil.copytree(JOBS / "slowsql", tmp_path / "slowsql")
    env = {**bare_env(tmp_path), "PYTHONPATH": str(LIB)}

    def run(*argv):
        result = subprocess.run([str(binary), *map(str, argv), "--data-dir", tmp_path / "d"],
                                cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert "+++ slowsql_py3/job.py" in run("job", "port", tmp_path / "slowsql")
    for job, style in ((tmp_path / "slowsql_py3", "slowsql"), (JOBS / "mainthreadio.py", None)):
        out = tmp_path / "out"
        run("job", "run", job, "--store", tmp_path / "store", "--output", out, "--mappers", "2",
            *(() if style else ("--py2",)))
        assert parse_output(out.read_text()) == expected(style or "mainthreadio", rows)


def test_binary_runs_with_every_python_on_the_machine_hidden(binary, tmp_path):
    """A fresh machine without Python: in a private mount namespace every interpreter and
    library directory (the venv, its base install, the system's) is covered by an empty
    tmpfs, `python3` no longer runs, and the binary's selftest still passes."""
    if os.geteuid() != 0 or subprocess.run(["unshare", "--mount", "true"]).returncode:
        pytest.skip("needs root and unshare(1) to hide the machine's Python")
    dirs = sorted({sys.prefix, sys.base_prefix, *glob.glob("/usr/lib/python3*"),
                   *glob.glob("/usr/local/lib/python3*")})
    files = sorted(set(glob.glob("/usr/bin/python3*") + glob.glob("/usr/local/bin/python3*")))
    script = "; ".join(
        [f"mount -t tmpfs none {shlex.quote(d)}" for d in dirs]
        + [f"mount --bind /dev/null {shlex.quote(f)}" for f in files]
        + ["if python3 -c 1 2>/dev/null; then echo PYTHON STILL RUNS; exit 3; fi",
           f"exec {shlex.quote(str(binary))} selftest"])
    result = subprocess.run(["unshare", "--mount", "sh", "-c", script], cwd=tmp_path,
                            env=bare_env(tmp_path), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest passed" in result.stdout


def test_ctrl_c_under_a_terminal_drains_without_a_traceback(binary, tmp_path):
    """The bootloader passes on the Ctrl-C the terminal already sent to the whole
    process group: the server sees it twice and must stop once, quietly."""
    import pty
    import select

    env = {**bare_env(tmp_path), **TEST_ENV}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the binary on the pty, as an operator runs it
        os.execve(str(binary), [str(binary), "serve", "--data-dir", str(tmp_path / "data"),
                                "--listen", "127.0.0.1:0"], env)
    seen = b""

    def read_until(marker: bytes) -> bool:
        nonlocal seen
        while marker not in seen:
            ready, _, _ = select.select([fd], [], [], 120)
            try:
                chunk = os.read(fd, 65536) if ready else b""
            except OSError:  # EIO: the child has gone
                chunk = b""
            if not chunk:
                return False
            seen += chunk
        return True

    assert read_until(b"listening on"), seen.decode(errors="replace")
    os.write(fd, b"\x03")  # Ctrl-C, through the terminal's line discipline
    read_until(b"Main loop terminated")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "SIGINT: stopping" in text and "stopped cleanly" in text
    assert "Traceback" not in text and "critical" not in text
