"""The 2013 server's published layout: file names, and a filter pruning the tree by path."""

from __future__ import annotations

import os

import pytest

from appliance.mr import layout2013
from appliance.mr.layout2013 import file_dimensions, select_2013_inputs
from appliance.storage.filters import Filter
from appliance.storage.schema import Schema


@pytest.mark.parametrize("name,dims", [
    ("20130910160258.20131001.v2.log.0b6c5e4ad0a04b1f9e2c0c1d3f4a5b6c.lzma",
     ("20130910160258", "20131001")),
    ("20130910160258.20131001.v2.log.3e7d.xz", ("20130910160258", "20131001")),
    ("OTHER.20131001.v1.log.lzma", ("OTHER", "20131001")),
    ("20130910160258.20131001.v2.log", None),            # not compressed: still being written
    ("20130910160258.20131001.v2.log.1.1380.5.compressme", None),
    ("node1.0001.0000.12.zst", None),
    ("x.v2.log.lzma", None),
])
def test_file_names(name, dims):
    assert file_dimensions(name) == dims


def test_pruned_directories_are_never_listed(tmp_path, monkeypatch):
    for reason, app in (("saved_session", "Firefox"), ("idle_daily", "Firefox"),
                        ("saved_session", "Fennec")):
        d = tmp_path / reason / app / "release" / "24.0"
        d.mkdir(parents=True)
        (d / "20130910160258.20131001.v2.log.u1.lzma").write_bytes(b"x")
        (d / "20130910160258.20131002.v2.log.u2.lzma").write_bytes(b"x")
    listed = []
    real = os.scandir
    monkeypatch.setattr(layout2013.os, "scandir",
                        lambda p: (listed.append(os.path.relpath(p, tmp_path)), real(p))[1])
    flt = Filter.from_dict({"dimensions": [
        {"field_name": "reason", "allowed_values": ["saved-session"]},
        {"field_name": "appName", "allowed_values": ["Firefox"]},
        {"field_name": "submission_date", "allowed_values": ["20131002"]}]})
    [f] = select_2013_inputs(tmp_path, flt, Schema.telemetry_default())
    assert f.dims == ("saved_session", "Firefox", "release", "24.0", "20130910160258",
                      "20131002")
    assert (f.tree, f.source) == ("telemetry", "published-2013")
    assert sorted(listed) == [".", "saved_session", "saved_session/Firefox",
                              "saved_session/Firefox/release",
                              "saved_session/Firefox/release/24.0"]


def test_files_left_out_of_a_2013_tree_are_named(tmp_path):
    d = tmp_path / "saved_session" / "Firefox" / "release" / "24.0"
    d.mkdir(parents=True)
    (d / "20130910160258.20131001.v2.log.u1.lzma").write_bytes(b"x")
    (d / "20130910160258.20131002.v2.log").write_bytes(b"still being written")
    files, notes = layout2013.select_dir_inputs(tmp_path, None, None)
    assert [f.dims[-1] for f in files] == ["20131001"]
    assert "1 other file(s)" in notes[-1] and "NOT read" in notes[-1]
    assert notes[-1].endswith(str(d / "20130910160258.20131002.v2.log"))
