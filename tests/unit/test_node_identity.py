"""Node identity: one random id per data dir, kept; labels are only labels."""

import json
import threading

import pytest

from appliance.node.identity import (
    IdentityError,
    load_identity,
    node_key,
    same_node,
    split_node,
)


def test_the_id_is_made_once_and_kept_whatever_the_label(tmp_path):
    first = load_identity(tmp_path / "data", "host a")
    assert first.created and len(first.id) == 16 and first.label == "host_a"
    again = load_identity(tmp_path / "data", "renamed")
    assert (again.id, again.created) == (first.id, False)
    assert again.name == f"renamed-{first.id}"
    assert json.loads((tmp_path / "data" / "node.json").read_text()) == {"node_id": first.id}


def test_two_data_dirs_with_one_label_get_different_ids(tmp_path):
    a, b = (load_identity(tmp_path / d, "vm") for d in ("a", "b"))
    assert a.label == b.label and a.id != b.id and a.name != b.name


def test_processes_creating_the_id_at_once_agree(tmp_path):
    ids, barrier = [], threading.Barrier(8)

    def create():
        barrier.wait()
        ids.append(load_identity(tmp_path, "n"))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({i.id for i in ids}) == 1
    assert sum(i.created for i in ids) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["node.json"]  # no temporary file left


@pytest.mark.parametrize("text", ["", "{", '{"node_id": "short"}', '{"other": 1}', "[1]"])
def test_a_damaged_id_file_is_an_error_naming_it(tmp_path, text):
    (tmp_path / "node.json").write_text(text)
    with pytest.raises(IdentityError, match="node.json"):
        load_identity(tmp_path, "n")


def test_file_name_node_parts_split_into_label_and_id():
    assert split_node("vm-abcdefghijklmnop") == ("vm", "abcdefghijklmnop")
    assert split_node("my-host-abcdefghijklmnop") == ("my-host", "abcdefghijklmnop")
    assert split_node("node1") == ("node1", None)              # before node ids
    assert split_node("web-server") == ("web-server", None)
    assert same_node("a-abcdefghijklmnop", "b-abcdefghijklmnop")  # a relabelled node
    assert not same_node("vm-abcdefghijklmnop", "vm-bbcdefghijklmnop")  # same label
    assert not same_node("vm", "vm-abcdefghijklmnop")
    assert same_node("node1", "node1")
    assert node_key("vm-abcdefghijklmnop") == "abcdefghijklmnop" and node_key("vm") == "vm"
