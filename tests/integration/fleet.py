"""Several `appliance serve` nodes on one bucket and prefix, a load over all of them, and jobs
run on any node: helpers shared by the fleet tests (a new runner adds a `run_*` function)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from appliance.node import load_identity
from appliance.storage.filenames import split_file_name
from tests import pings
from tests.integration.serverproc import ServerProcess, eventually, post
from tests.integration.test_export import export_env
from tests.integration.test_mr_runner import EXAMPLES

DOC_IDS = "def map(key, dims, value, context):\n    context.write(key, 1)\n"


@dataclass
class Node:
    """One running node and the docIds it acknowledged."""

    server: ServerProcess
    env: dict[str, str]
    accepted: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The node part of its file names (label and id)."""
        return load_identity(self.server.data_dir, socket.gethostname()).name


def fleet_env(tmp_path: Path, s3, bucket: str, **extra) -> dict[str, str]:
    """Settings every node shares: the bucket and prefix, quick conversion and export."""
    env = export_env(s3, bucket, APPLIANCE_EXPORT_INTERVAL="0.1")
    env.update({"APPLIANCE_HISTOGRAMS_SPEC_DIR": str(pings.write_spec(tmp_path / "specs")),
                "APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "0.2", "APPLIANCE_STORE_MAX_FILE_AGE": "0.2",
                "APPLIANCE_CONVERTER_IDLE_WAIT": "0.05", **extra})
    return env


def start_fleet(tmp_path: Path, env: dict[str, str], count: int) -> list[Node]:
    """`count` nodes with their own data dirs and the host's name as their (same) label."""
    nodes = []
    try:
        for i in range(count):
            nodes.append(Node(ServerProcess(tmp_path / f"data{i}", env=env).start(), env))
    except BaseException:
        stop_fleet(nodes)
        raise
    return nodes


def stop_fleet(nodes: list[Node]) -> list[int]:
    return [n.server.stop() for n in nodes]


class Load:
    """Posts pings to every node at once, each with a docId unique in the fleet."""

    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self.stop = threading.Event()
        self.sent: set[str] = set()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._post, args=(i, n))
                         for i, n in enumerate(nodes)]

    def _post(self, i: int, node: Node) -> None:
        k = 0
        while not self.stop.is_set():
            doc = f"n{i}-{k}"
            with self._lock:
                self.sent.add(doc)
            if post(node.server, f"/submit/telemetry/{doc}/{pings.DIMS}",
                    pings.body(k)).status == 200:
                node.accepted.append(doc)
            k += 1

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self._threads:
            t.join()


def post_some(node: Node, tag: str, count: int) -> None:
    """Post `count` pings to one node, one after the other."""
    for k in range(count):
        doc = f"{tag}-{k}"
        if post(node.server, f"/submit/telemetry/{doc}/{pings.DIMS}", pings.body(k)).status == 200:
            node.accepted.append(doc)


def accepted(nodes: list[Node]) -> list[str]:
    """Every docId the fleet acknowledged."""
    return [doc for n in nodes for doc in n.accepted]


def store_objects(s3, bucket: str) -> list[str]:
    """The file names of the bucket's store objects."""
    names = []
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
        names += [name for o in page.get("Contents", [])
                  if (name := o["Key"].rsplit("/", 1)[-1]).endswith(".zst")]
    return names


def exported_records(s3, bucket: str) -> int:
    """Records in the bucket's store objects (from their names, no download)."""
    return sum(int(name.rsplit(".", 2)[-2]) for name in store_objects(s3, bucket))


def exporting_nodes(s3, bucket: str) -> set[str]:
    """The node parts of the bucket's store object names."""
    return {split_file_name(name).node for name in store_objects(s3, bucket)}


def wait_exported(s3, bucket: str, nodes: list[Node]) -> None:
    """Until every acknowledged record is in S3 (each node's spool and store drained)."""
    want = len(accepted(nodes))
    eventually(lambda: exported_records(s3, bucket) == want, f"{want} records in S3",
               timeout=120, show=lambda: exported_records(s3, bucket))


def parse_sources(line: str) -> dict[str, int]:
    """``spool 3, store 5, s3 vm-x 12`` -> {"spool": 3, "store": 5, "s3:vm-x": 12}."""
    out = {}
    for item in line.split(", "):
        name, _, n = item.rpartition(" ")
        out[name.replace(" ", ":", 1)] = int(n)
    return out


def run_appliance(node: Node, *args: str) -> tuple[int, str, str]:
    """`appliance ARGS --data-dir <the node's>` with its settings; (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update(node.env)
    proc = subprocess.run([sys.executable, "-m", "appliance", *args,
                           "--data-dir", str(node.server.data_dir)],
                          capture_output=True, text=True, env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def run_cli(node: Node, *args: str) -> tuple[int, str, str]:
    """`appliance job run ARGS` on the node's data dir; (exit code, stdout, stderr)."""
    return run_appliance(node, "job", "run", *args)


def run_status(node: Node) -> tuple[int, str, str]:
    """`appliance status` of the node."""
    return run_appliance(node, "status")


def run_local(node: Node, tmp_path: Path, *flags: str) -> tuple[list[str], dict[str, int]]:
    """The docId job with the local runner (`job run`): (docIds, records per source)."""
    script = tmp_path / "docids.py"
    script.write_text(DOC_IDS)
    out = tmp_path / f"docids-{node.server.data_dir.name}.tsv"
    code, stdout, stderr = run_cli(node, str(script), "--output", str(out),
                                   "--filter", str(EXAMPLES / "filters" / "all.json"), *flags)
    assert code == 0, stderr
    sources = re.search(r"^sources: (.*)$", stdout, re.M)
    assert sources, stdout
    return [line.split("\t")[0] for line in out.read_text().splitlines()], \
        parse_sources(sources[1])


def pool_job(server: ServerProcess, **options) -> tuple[dict, str]:
    """Run the docId job in a server's job pool (submitted with `options`, e.g. a runner);
    (its finished record, its output)."""
    job = server.admin().submit_job({"script": DOC_IDS, "name": "docids.py", **options})
    server.wait_for_log(rf"job {job['id']} (succeeded|failed)")
    done = server.admin().job(job["id"])
    assert done["state"] == "succeeded", done["error"]
    text, offset = "", 0
    while True:
        chunk = server.admin().job_output(job["id"], offset)
        text += chunk["text"]
        if chunk["eof"]:
            break
        offset = chunk["next_offset"]
    return done, text


def run_pool(node: Node, **options) -> tuple[list[str], dict[str, int]]:
    """The docId job in the node's job pool: (docIds, records per source)."""
    done, text = pool_job(node.server, **options)
    return [line.split("\t")[0] for line in text.splitlines()], done["summary"]["sources"]
