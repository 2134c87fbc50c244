"""The server's job pool sending jobs to a Dask cluster (`[jobs] runner = "dask"`): records
of the store and the spool once each, per-source counts, cancel and timeout."""

from __future__ import annotations

import io
import socket

import pytest

from appliance.cli.main import main
from tests.integration.serverproc import eventually
from tests.integration.test_jobs_server import EXAMPLES, start_with_pings, submit, wait_end

pytest.importorskip("distributed")


def held_map(gate: socket.socket) -> str:
    """A job whose map calls wait until the test closes `gate`, a listening socket: each
    connects and waits for a byte; closing the listener resets the connections waiting in
    its backlog and refuses new ones. Finite (60 s at most): a Dask worker thread cannot be
    interrupted, so a task in progress finishes its input after a cancel (docs/mapreduce.md).
    """
    host, port = gate.getsockname()
    return ("import socket\n\n"
            "def map(k, d, v, c):\n"
            "    try:\n"
            f"        with socket.create_connection(({host!r}, {port}), timeout=60) as s:\n"
            "            s.recv(1)\n"
            "    except OSError:\n"
            "        pass\n"
            "    c.write('n', 1)\n")


def a_gate() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0), backlog=128)


@pytest.fixture(scope="module")
def server(tmp_path_factory, dask_cluster):
    """A server whose jobs run on the session's Dask cluster, with 30 pings: part converted,
    part still in the spool."""
    srv = start_with_pings(tmp_path_factory.mktemp("jobs-dask"), APPLIANCE_JOBS_RUNNER="dask",
                           APPLIANCE_JOBS_SCHEDULER=dask_cluster.address)
    try:
        yield srv
    finally:
        assert srv.stop() == 0


def test_the_pool_runs_a_job_on_the_cluster(server):
    job = submit(server, (EXAMPLES / "count.py").read_text())
    done = wait_end(server, job, "succeeded")
    summary = done["summary"]
    assert summary["extra"]["runner"] == "dask" and summary["records"] == 30
    assert sum(summary["sources"].values()) == 30 and set(summary["sources"]) <= {"spool",
                                                                                 "store"}
    assert summary["extra"]["spool_records"] == summary["sources"]["spool"] > 0
    assert server.admin().job_output(job["id"])["text"].split("\t")[-1].strip() == "30"
    assert "runner: dask" in server.admin().job_log(job["id"])["text"]
    assert not (server.data_dir / "jobs" / job["id"] / "work").exists()


def test_submit_chooses_the_runner(server, dask_cluster):
    ids = {}
    for runner in ("local", "dask"):
        out = io.StringIO()
        code = main(["job", "submit", str(EXAMPLES / "count_by_os.py"), "--runner", runner,
                     "--scheduler", dask_cluster.address, "--wait",
                     "--data-dir", str(server.data_dir)], stdout=out)
        assert code == 0, out.getvalue()
        ids[runner] = out.getvalue().splitlines()[0]
    records = {runner: server.admin().job(i)["summary"] for runner, i in ids.items()}
    assert "runner" not in records["local"]["extra"]
    assert records["dask"]["extra"]["runner"] == "dask"
    outputs = {runner: server.admin().job_output(i)["text"] for runner, i in ids.items()}
    assert outputs["dask"] == outputs["local"] and outputs["local"]  # the same bytes


def test_a_dask_job_without_a_scheduler_fails_clearly(server):
    job = submit(server, (EXAMPLES / "count.py").read_text(), runner="dask",
                 scheduler="tcp://127.0.0.1:1")
    assert "cannot connect to the Dask scheduler" in wait_end(server, job, "failed")["error"]


def test_cancel_and_timeout_of_dask_jobs(server, dask_cluster):
    from distributed import Client

    with Client(dask_cluster.address, timeout=30) as client, a_gate() as gate:
        slow = submit(server, held_map(gate))
        eventually(lambda: any(client.processing().values()), "the job's tasks to run")
        server.admin().cancel_job(slow["id"])
        assert wait_end(server, slow, "cancelled")["error"] == "cancelled"
        gate.close()  # the tasks in progress finish their input
        eventually(lambda: not any(client.processing().values()),
                   "the cancelled job's tasks to be gone", show=client.processing)
    with Client(dask_cluster.address, timeout=30) as client, a_gate() as gate:
        timed = submit(server, held_map(gate), timeout=1)
        assert "timed out after 1.0 s" in wait_end(server, timed, "timed_out")["error"]
        gate.close()
        eventually(lambda: not any(client.processing().values()),
                   "the timed-out job's tasks to be gone", show=client.processing)
    assert not list((server.data_dir / "jobs").glob("*/work"))
    assert server.admin().job(slow["id"])["state"] == "cancelled"
