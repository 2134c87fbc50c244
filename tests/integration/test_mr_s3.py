"""Job inputs from S3 (appliance/mr/remote.py) against a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from appliance.cli.common import CommandError
from appliance.export.factory import build_uploader
from appliance.mr.remote import RemoteObject, select_remote_inputs, verify_download
from appliance.storage.filters import Filter
from appliance.storage.schema import SchemaRegistry
from tests.integration.test_export import export_env
from tests.integration.test_mr_runner import EXAMPLES, cli, write_store
from tests.stores import config_for

COUNT = EXAMPLES / "count.py"
ALL = EXAMPLES / "filters" / "all.json"


def records_in(key: str) -> int:
    return int(key.rsplit(".", 2)[-2])


def split_store(tmp_path: Path, s3, bucket: str):
    """A store of 16 files: i % 3 == 0 only in S3, 1 in both, 2 only local.

    Returns (config, {"s3": keys, "both": keys, "local": keys})."""
    config, _ = config_for(tmp_path, **export_env(s3, bucket))
    store = tmp_path / "store"
    write_store(store, 800)
    keys = sorted(p.relative_to(store).as_posix() for p in store.rglob("*.zst"))
    groups = {"s3": keys[0::3], "both": keys[1::3], "local": keys[2::3]}
    uploader = build_uploader(config)
    for key in groups["s3"] + groups["both"]:
        uploader.export(store / key, key)
    for key in groups["s3"]:
        (store / key).unlink()  # exported, then deleted locally
    return config, groups


def count(argv: list[str], config, tmp_path: Path) -> tuple[int, str]:
    out = tmp_path / "count.out"
    code, _, err = cli(["job", "run", str(COUNT), "--filter", str(ALL), "--output", str(out),
                        "--mappers", "1", *argv], config)
    assert code == 0
    text = out.read_text()
    assert text.startswith("records\t")
    return int(text.split("\t")[1]), err


def total(keys) -> int:
    return sum(records_in(k) for k in keys)


class GetCounter:
    """Counts GetObject and ListObjectsV2 requests of a client (botocore event hooks); GETs of
    node registrations (a job's clone check) apart from those of data."""

    def __init__(self, client):
        self.gets: list[str] = []
        self.registry: list[str] = []
        self.lists: list[str] = []
        client.meta.events.register("before-call.s3.GetObject", self._get)
        client.meta.events.register(
            "provide-client-params.s3.ListObjectsV2",
            lambda params, **_: self.lists.append(params.get("Prefix", "")))

    def _get(self, params, **_) -> None:
        path = params["url_path"]
        (self.registry if "/.nodes/" in path else self.gets).append(path)


@pytest.fixture
def counted(monkeypatch):
    """Every S3 client made from now on gets a GetCounter; returns the list of counters (clear
    it to count only the clients made after that)."""
    import appliance.export.s3client as s3client

    counters: list[GetCounter] = []
    real = s3client.make_client

    def build(config):
        client = real(config)
        counters.append(GetCounter(client))
        return client

    monkeypatch.setattr(s3client, "make_client", build)
    return counters


def test_default_reads_both_and_local_copy_wins(tmp_path, s3, bucket, counted):
    config, g = split_store(tmp_path, s3, bucket)
    counted.clear()  # the uploader's client: count only what `job run` makes
    n, err = count([], config, tmp_path)
    assert n == total(g["s3"] + g["both"] + g["local"])  # each record once
    selected, local = len(g["s3"]) + len(g["both"]), len(g["both"])
    assert f"{selected} objects selected, {local} read locally instead" in err
    cache = tmp_path / "cache" / "s3"
    cached = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*.zst"))
    assert cached == sorted(g["s3"])  # keys held locally are never downloaded
    assert len(counted[0].gets) == len(g["s3"])
    assert len(counted[0].registry) == 1  # the clone check


def test_remote_only_and_local_only(tmp_path, s3, bucket):
    config, g = split_store(tmp_path, s3, bucket)
    assert count(["--remote-only"], config, tmp_path)[0] == total(g["s3"] + g["both"])
    assert count(["--local-only"], config, tmp_path)[0] == total(g["both"] + g["local"])


def test_without_a_bucket_local_only_and_remote_only_is_an_error(tmp_path):
    config, _ = config_for(tmp_path)
    write_store(tmp_path / "store", 100)
    n, err = count([], config, tmp_path)
    assert n == 100 and "s3:" not in err
    with pytest.raises(CommandError, match="--remote-only\\) need \\[export\\] bucket"):
        count(["--remote-only"], config, tmp_path)


def test_second_run_reuses_the_cache_without_any_get(tmp_path, s3, bucket, counted):
    config, g = split_store(tmp_path, s3, bucket)
    counted.clear()
    cache = tmp_path / "c"
    first, _ = count(["--cache-dir", str(cache)], config, tmp_path)
    inodes = {p: p.stat().st_ino for p in cache.rglob("*.zst")}
    second, err = count(["--cache-dir", str(cache)], config, tmp_path)
    assert first == second == total(g["s3"] + g["both"] + g["local"])
    assert len(counted[0].gets) == len(g["s3"]) and counted[1].gets == []
    assert f"{len(g['s3'])} from the cache, 0 downloaded" in err
    assert {p: p.stat().st_ino for p in cache.rglob("*.zst")} == inodes


def remote(config, cache, **kw):
    up = build_uploader(config)
    counter = GetCounter(up.client)
    stats: dict = {}
    kw.setdefault("max_cache_bytes", 1 << 30)
    flt = kw.pop("flt", None)
    files = select_remote_inputs(up.client, config.export.bucket, config.export.prefix, flt,
                                 SchemaRegistry(), cache, stats=stats, **kw)
    return files, stats, counter


def test_a_corrupted_cache_file_is_detected_and_downloaded_again(tmp_path, s3, bucket):
    config, g = split_store(tmp_path, s3, bucket)
    cache = tmp_path / "c"
    files, stats, _ = remote(config, cache)
    assert stats["downloaded"] == len(g["s3"]) + len(g["both"]) == len(files)
    victim = Path(files[0].path)
    good = victim.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    st = victim.stat()
    victim.write_bytes(bytes(bad))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime
    files2, stats2, counter = remote(config, cache)
    assert [f.path for f in files2] == [f.path for f in files]
    assert stats2["downloaded"] == 1 and stats2["reused"] == len(files) - 1
    assert len(counter.gets) == 1 and counter.gets[0].endswith(files[0].path.split("/")[-1])
    assert victim.read_bytes() == good
    side = json.loads(victim.with_name(victim.name + ".etag").read_text())
    assert side["md5"] == hashlib.md5(good).hexdigest() and side["verified"] == "etag"


def channel(name: str) -> Filter:
    return Filter.from_dict({"version": 1, "dimensions": [
        {"field_name": "appUpdateChannel", "allowed_values": [name]}]}, SchemaRegistry())


def test_a_filter_prunes_remote_partitions(tmp_path, s3, bucket):
    config, g = split_store(tmp_path, s3, bucket)
    files, stats, counter = remote(config, tmp_path / "c", flt=channel("beta"))
    beta = [k for k in g["s3"] + g["both"] if "/beta/" in k]
    assert beta and sorted(f.path.split("/c/", 1)[1] for f in files) == sorted(beta)
    assert all("/beta/" in f.path and f.dims[2] == "beta" for f in files)
    assert len(counter.gets) == len(beta) and all("/beta/" in u for u in counter.gets)
    # Partitions of other channels are not even listed below the channel level.
    assert any("/beta/" in p for p in counter.lists)
    for other in ("release", "aurora", "nightly"):
        assert not any(f"/{other}/" in p for p in counter.lists), counter.lists


def test_the_cache_limit_evicts_least_recently_used_files(tmp_path, s3, bucket):
    config, g = split_store(tmp_path, s3, bucket)
    cache = tmp_path / "c"
    beta, _, _ = remote(config, cache, flt=channel("beta"))
    old = {f.path for f in beta}
    assert all(Path(p).exists() for p in old)
    release, _, _ = remote(config, cache, flt=channel("release"))
    need = sum(f.size for f in release)
    # Room for the release files only: the beta ones (older, not needed) go.
    again, stats, counter = remote(config, cache, flt=channel("release"), max_cache_bytes=need)
    assert stats["evicted"] == len(old) and counter.gets == []
    assert not any(Path(p).exists() or Path(p + ".etag").exists() for p in old)
    assert all(Path(f.path).exists() for f in again)
    # Files the current job needs are kept even beyond the limit.
    _, stats, _ = remote(config, cache, flt=channel("release"), max_cache_bytes=1)
    assert stats["evicted"] == 0 and all(Path(f.path).exists() for f in again)
    # And an older file is the first to go when there is room for some.
    remote(config, cache, flt=channel("beta"))
    sizes = sorted((Path(f.path).stat().st_mtime, f.path) for f in beta)
    _, stats, _ = remote(config, cache, flt=channel("release"),
                         max_cache_bytes=need + sum(f.size for f in beta) - 1)
    assert stats["evicted"] == 1 and not Path(sizes[0][1]).exists()


def test_multipart_etag_rule(tmp_path):
    data = os.urandom(11 << 20)
    path = tmp_path / "f.zst"
    path.write_bytes(data)
    part = 5 << 20
    parts = [hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part)]
    etag = f"{hashlib.md5(b''.join(parts)).hexdigest()}-3"
    assert verify_download(path, RemoteObject("k", len(data), etag), part)[1] == "etag"
    # Another part size (2 parts): only the size can be checked.
    other = RemoteObject("k", len(data), "0" * 32 + "-2")
    assert verify_download(path, other, part)[1] == "size"
    # The same part count but other bytes: refused.
    from appliance.mr.remote import RemoteError
    with pytest.raises(RemoteError):
        verify_download(path, RemoteObject("k", len(data), "0" * 32 + "-3"), part)
    with pytest.raises(RemoteError):
        verify_download(path, RemoteObject("k", len(data) + 1, etag), part)
    md5 = hashlib.md5(data).hexdigest()
    assert verify_download(path, RemoteObject("k", len(data), md5), part)[1] == "etag"


def test_another_jobs_eviction_cannot_take_a_running_jobs_files(tmp_path, s3, bucket):
    """The cached files a job reads are hard-linked into its temp dir: a second job that
    evicts them from the cache (here: everything) leaves the first job's inputs intact."""
    from appliance.mr.plan import plan_inputs
    from appliance.mr.remote import evict

    config, g = split_store(tmp_path, s3, bucket)
    inputs = plan_inputs(config, None, SchemaRegistry(), local=False, remote=True)
    try:
        assert len(inputs.files) == len(g["s3"]) + len(g["both"]) and inputs.pinned.is_dir()
        evict(tmp_path / "cache" / "s3", 0, set())  # another job makes room for itself
        assert not list((tmp_path / "cache" / "s3").rglob("*.zst"))
        assert sum(records_in(f.path) for f in inputs.files) == total(g["s3"] + g["both"])
        assert all(Path(f.path).stat().st_size == f.size for f in inputs.files)
    finally:
        inputs.close()
    assert not inputs.pinned and not list((tmp_path / "tmp").iterdir())
