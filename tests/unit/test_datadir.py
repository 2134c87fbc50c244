"""The data dir's layout is an on-disk format: these names must not change."""

from pathlib import Path

from appliance.datadir import DataDir


def test_every_path_has_its_fixed_name_under_the_root():
    data = DataDir("/d")
    assert {name: str(getattr(data, name)) for name in (
        "spool", "store", "ledger", "exported", "jobs", "cache", "s3_cache", "tmp", "histograms",
        "tls", "logs", "node_file", "admin_token", "admin_url", "server_lock")} == {
        "spool": "/d/spool", "store": "/d/store", "ledger": "/d/ledger",
        "exported": "/d/exported", "jobs": "/d/jobs", "cache": "/d/cache",
        "s3_cache": "/d/cache/s3", "tmp": "/d/tmp", "histograms": "/d/histograms",
        "tls": "/d/tls", "logs": "/d/logs", "node_file": "/d/node.json",
        "admin_token": "/d/admin.token", "admin_url": "/d/admin.url",
        "server_lock": "/d/appliance.lock"}
    assert DataDir(Path("/d")).root == Path("/d")
