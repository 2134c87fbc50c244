"""Many nodes, one bucket: each job reads every acknowledged record of the fleet exactly once,
by node identity (the nodes share a host name, so their labels are the same)."""

from __future__ import annotations

import shutil

import pytest

from tests.integration.fleet import (
    DOC_IDS,
    Load,
    Node,
    accepted,
    exported_records,
    exporting_nodes,
    fleet_env,
    post_some,
    run_appliance,
    run_cli,
    run_local,
    run_pool,
    run_status,
    start_fleet,
    stop_fleet,
    wait_exported,
)
from tests.integration.serverproc import ServerProcess, eventually
from tests.integration.test_mr_runner import EXAMPLES, write_store


def runners(cluster) -> dict:
    """How a node runs the docId job: name -> run(node, tmp_path) -> (docIds, sources)."""
    dask = ["--runner", "dask", "--scheduler", cluster.address]
    return {"local": lambda node, tmp_path: run_local(node, tmp_path),
            "pool": lambda node, tmp_path: run_pool(node),
            "dask": lambda node, tmp_path: run_local(node, tmp_path, *dask),
            "pool-dask": lambda node, tmp_path: run_pool(node, runner="dask",
                                                         scheduler=cluster.address)}


def check_once(docs: list[str], sources: dict[str, int], want: list[str]) -> None:
    assert len(docs) == len(set(docs)), "a record was read twice"
    assert sorted(docs) == sorted(want)
    assert sum(sources.values()) == len(docs)


@pytest.mark.parametrize("count", [2, 3])
def test_every_node_reads_the_whole_fleet_once(tmp_path, s3, bucket, count, dask_cluster):
    run_with = runners(dask_cluster)
    nodes = start_fleet(tmp_path, fleet_env(tmp_path, s3, bucket), count)
    try:
        names = [n.name for n in nodes]
        assert len({name.rsplit("-", 1)[0] for name in names}) == 1  # one label
        assert len(set(names)) == count                            # distinct ids
        for n in nodes:
            n.server.wait_for_log(r"node: id \w+ registered")
            stats = n.server.admin().stats()  # stats and the ledger name the node by its id
            assert f"{stats['node_label']}-{stats['node_id']}" == n.name
            assert n.server.admin().ledger()["node_id"] == stats["node_id"]
        with Load(nodes) as load:
            for n in nodes:
                n.server.wait_for_log(r"export: uploaded")
            during = {}
            for i, node in enumerate(nodes):  # while every node ingests and exports
                before = set(node.accepted)
                run = run_with[("dask", "local", "pool")[i % 3]]
                docs, sources = run(node, tmp_path)
                assert len(docs) == len(set(docs)), "a record was read twice"
                assert before <= set(docs) <= load.sent  # this node's records, all of them
                during[node.name] = sources
        # then, once all that is exported, only the last node ingests: its new files start
        # after the others' frontiers (node ids, not labels, tell they are not theirs)
        wait_exported(s3, bucket, nodes)
        post_some(nodes[-1], "late", 20)
        wait_exported(s3, bucket, nodes)
        assert exporting_nodes(s3, bucket) == set(names)  # every key carries its node's id
        everything = accepted(nodes)
        assert len(everything) > 10 * count
        for node in nodes:
            for runner, run in run_with.items():
                docs, sources = run(node, tmp_path)
                check_once(docs, sources, everything)
                others = [n for n in nodes if n is not node]
                for other in others:  # the other nodes' records come from their objects
                    assert sources.get(f"s3:{other.name}") == len(other.accepted), runner
                assert sources.get("spool", 0) + sources.get("store", 0) + \
                    sources.get(f"s3:{node.name}", 0) == len(node.accepted), runner
        # while the load ran, the jobs read the spool or the store besides S3
        assert any(s.get("spool") or s.get("store") for s in during.values()), during
    finally:
        codes = stop_fleet(nodes)
    assert codes == [0] * count
    assert exported_records(s3, bucket) == len(everything)


def test_a_cloned_data_dir_is_reported_on_both_nodes(tmp_path, s3, bucket):
    env = fleet_env(tmp_path, s3, bucket)
    [first] = start_fleet(tmp_path, env, 1)
    first.server.wait_for_log(r"node: id \w+ registered")
    assert first.server.stop() == 0
    shutil.copytree(first.server.data_dir, tmp_path / "copy")  # a cloned VM's disk
    nodes = [Node(ServerProcess(d, env=env).start(), env)
             for d in (first.server.data_dir, tmp_path / "copy")]
    (tmp_path / "docids.py").write_text(DOC_IDS)
    try:
        assert nodes[0].name == nodes[1].name
        for node in nodes:
            node.server.wait_for_log(r"node: node id \w+ is claimed by another live data dir")
            stats = node.server.admin().stats()
            health = stats["health"]
            assert not health["ok"] and "claims this node id" in stats["export"]["held"]
            assert any("cloned data dir" in p for p in health["problems"]), health
            code, out, _ = run_status(node)
            assert code == 1 and "cloned data dir" in out and "HELD" in out
        # neither node merges the other's objects into a job: S3 inputs are refused
        code, _, err = run_cli(nodes[1], str(tmp_path / "docids.py"), "--output",
                               str(tmp_path / "out.tsv"), "--filter",
                               str(EXAMPLES / "filters" / "all.json"))
        assert code != 0 and "cloned data dir" in err
    finally:
        codes = stop_fleet(nodes)
    assert codes == [0, 0]


def test_a_damaged_node_id_stops_the_server_and_jobs_with_a_clear_error(tmp_path, s3, bucket):
    env = fleet_env(tmp_path, s3, bucket)
    data = tmp_path / "data"
    data.mkdir()
    (data / "node.json").write_text("{")
    node = Node(ServerProcess(data, env=env), env)
    code, out, err = run_appliance(node, "serve", "--listen", "127.0.0.1:0")
    assert code == 2 and f"{data / 'node.json'}: cannot read the node id" in err
    (tmp_path / "docids.py").write_text(DOC_IDS)
    code, _, err = run_cli(node, str(tmp_path / "docids.py"), "--output",
                           str(tmp_path / "out.tsv"), "--filter",
                           str(EXAMPLES / "filters" / "all.json"))
    assert code == 2 and "node.json: cannot read the node id" in err


def test_a_data_dir_from_before_node_ids_gets_one_at_its_first_start(tmp_path, s3, bucket):
    """Store files named by label alone (as before node ids) are exported and read as they
    are; the server makes node.json at its first start and names new files with the id."""
    env = fleet_env(tmp_path, s3, bucket)
    data = tmp_path / "data"
    old = sorted(write_store(data / "store", 40))  # node1.0001.<part>.<n>.zst
    node = Node(ServerProcess(data, env=env).start(), env)
    try:
        node_id = node.server.wait_for_log(r"this data dir's node id is now (\w+)")[1]
        assert node.name.endswith(f"-{node_id}")
        post_some(node, "new", 5)
        eventually(lambda: exported_records(s3, bucket) == len(old) + len(node.accepted),
                   "every record in S3")
        assert exporting_nodes(s3, bucket) == {"node1", node.name}
        docs, sources = run_pool(node)
        check_once(docs, sources, old + node.accepted)
        assert sources[f"s3:{node.name}"] == len(node.accepted) and sources["s3:node1"] == 40
    finally:
        assert node.server.stop() == 0
