"""Export to a real S3 server (SeaweedFS): verified, idempotent, nothing lost."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from appliance.cli.main import main
from appliance.convert.factory import converter_loop
from appliance.export.backlog import finished_files, ship
from appliance.export.errors import VerifyError
from appliance.export.factory import build_uploader
from appliance.spool import SpoolDir
from tests import pings
from tests.faultproxy import FaultProxy
from tests.integration.serverproc import ServerProcess, post, request
from tests.stores import config_for, make_spool, read_zst


def export_env(s3, bucket: str, endpoint: str | None = None, **extra) -> dict[str, str]:
    env = {
        "APPLIANCE_EXPORT_ENABLED": "true",
        "APPLIANCE_EXPORT_BUCKET": bucket,
        "APPLIANCE_EXPORT_PREFIX": "node1",
        "APPLIANCE_EXPORT_ENDPOINT_URL": endpoint or s3.endpoint,
        "APPLIANCE_EXPORT_REGION": s3.region,
        "APPLIANCE_EXPORT_ACCESS_KEY_ID": s3.access_key,
        "APPLIANCE_EXPORT_SECRET_ACCESS_KEY": s3.secret_key,
        "APPLIANCE_EXPORT_MAX_BACKOFF": "0.5",
    }
    env.update(extra)
    return env


def filled_store(tmp_path, s3, bucket, n=200, **extra):
    """A data dir whose store holds converted files; returns (config, env, {key: bytes})."""
    make_spool(tmp_path, n, per_segment=50)
    config, env = config_for(tmp_path, **export_env(s3, bucket, **extra))
    converter_loop(config).drain()
    files = {f.key: f.path.read_bytes() for f in finished_files(tmp_path / "store")}
    assert files
    return config, env, files


def objects(s3, bucket, prefix="node1/") -> dict[str, bytes]:
    """The exported store files under `prefix` (not the nodes' registrations in .nodes/)."""
    client = s3.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in listed if not o["Key"][len(prefix):].startswith(".nodes/")}


def export_once(tmp_path, env: dict | None = None) -> tuple[int, str]:
    out = io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        code = main(["export", "--once", "--data-dir", str(tmp_path)], stdout=out,
                     stderr=out)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue()


def test_round_trip_objects_equal_the_deleted_local_files(tmp_path, s3, bucket):
    _, env, files = filled_store(tmp_path, s3, bucket)
    code, out = export_once(tmp_path, env)
    assert code == 0, out
    assert objects(s3, bucket) == files  # same keys, same bytes
    assert finished_files(tmp_path / "store") == []
    docs = [line.split(b"\t")[0] for data in files.values() for line in read_zst(data)]
    assert len(docs) == len(set(docs)) == 200


def test_every_upload_carries_a_checksum_that_s3_checks(tmp_path, s3, bucket):
    config, _, files = filled_store(tmp_path, s3, bucket, n=20)
    uploader = build_uploader(config)
    sent = []
    uploader.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(request.headers))
    for file in finished_files(tmp_path / "store"):
        ship(uploader, file, None)
    assert sent and all("Content-MD5" in headers for headers in sent)
    # A body that does not match its Content-MD5 is refused by the server.
    with pytest.raises(Exception, match="BadDigest|InvalidDigest|Content-MD5"):
        uploader.client.put_object(Bucket=bucket, Key="x", Body=b"abc",
                                   ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")


def test_multipart_upload_and_its_verification(tmp_path, s3, bucket):
    parts = {"APPLIANCE_EXPORT_MULTIPART_THRESHOLD": str(5 << 20),
             "APPLIANCE_EXPORT_PART_SIZE": str(5 << 20)}
    config, _ = config_for(tmp_path, **export_env(s3, bucket, **parts))
    store = tmp_path / "store" / "telemetry" / "a"
    store.mkdir(parents=True)
    big = store / "n.g.0000.1.zst"
    big.write_bytes(os.urandom(12 << 20))
    data = big.read_bytes()
    uploader = build_uploader(config)
    (file,) = finished_files(tmp_path / "store")
    result = ship(uploader, file, None)
    assert result.etag.endswith("-3")
    assert objects(s3, bucket) == {"telemetry/a/n.g.0000.1.zst": data}


def test_crash_between_upload_and_delete_is_found_verified_not_sent_again(tmp_path, s3, bucket):
    config, env, files = filled_store(tmp_path, s3, bucket)
    uploader = build_uploader(config)
    first = finished_files(tmp_path / "store")[0]
    uploader.export(first.path, first.key)  # uploaded; the crash came before the delete
    code, out = export_once(tmp_path, env)
    assert code == 0
    assert f"already in S3 s3://{bucket}/node1/{first.key}" in out
    assert objects(s3, bucket) == files


def test_crash_during_multipart_leaves_nothing_behind(tmp_path, s3, bucket):
    env = {"APPLIANCE_EXPORT_MULTIPART_THRESHOLD": str(5 << 20),
           "APPLIANCE_EXPORT_PART_SIZE": str(5 << 20)}
    config, env = config_for(tmp_path, **export_env(s3, bucket, **env))
    store = tmp_path / "store" / "telemetry" / "a"
    store.mkdir(parents=True)
    (store / "n.g.0000.1.zst").write_bytes(os.urandom(11 << 20))
    client = s3.client()
    key = "node1/telemetry/a/n.g.0000.1.zst"
    stale = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=stale, PartNumber=1,
                       Body=os.urandom(5 << 20))  # then the exporter died
    code, out = export_once(tmp_path, env)
    assert code == 0, out
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u for u in uploads if u["Key"] == key] == []
    assert len(objects(s3, bucket)) == 1


@pytest.mark.slow
def test_kill_9_mid_export_then_rerun_holds_each_file_exactly_once(tmp_path, s3, bucket):
    config, env = config_for(tmp_path, **export_env(s3, bucket, APPLIANCE_EXPORT_CONCURRENCY="2"))
    files = {}
    for i in range(300):  # many small files, so the kill lands mid-way
        key = f"telemetry/r/Firefox/release/{i % 7}/b{i}/20261118/n.g{i}.0000.1.zst"
        path = tmp_path / "store" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        files[key] = os.urandom(2000 + i)
        path.write_bytes(files[key])
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    child_env.update(env)
    argv = [sys.executable, "-m", "appliance", "export", "--once", "--data-dir", str(tmp_path)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, env=child_env, text=True)
    for _ in range(20):
        assert "uploaded" in child.stdout.readline()
    child.send_signal(signal.SIGKILL)  # uploads in flight, deletes pending
    child.wait()
    child.stdout.close()
    assert finished_files(tmp_path / "store"), "the export finished before the kill"
    code, out = export_once(tmp_path, env)
    assert code == 0, out
    assert objects(s3, bucket) == files
    assert finished_files(tmp_path / "store") == []


def test_throttling_and_5xx_are_retried_and_nothing_is_duplicated(tmp_path, s3, bucket):
    host, port = s3.endpoint.rsplit("//", 1)[1].split(":")
    proxy = FaultProxy(host, int(port))
    try:
        _, env, files = filled_store(tmp_path, s3, bucket, endpoint=proxy.endpoint,
                                     APPLIANCE_EXPORT_CONCURRENCY="1")
        proxy.inject(503, count=2, method="PUT", code="SlowDown")
        proxy.inject(500, count=1, method="PUT", code="InternalError")
        code, out = export_once(tmp_path, env)
        assert code == 0, out
        assert objects(s3, bucket) == files
        puts = [r for r in proxy.requests if r[0] == "PUT"]
        assert len(puts) == len(files) + 3  # each injected failure was retried once
    finally:
        proxy.stop()


def test_truncated_upload_fails_keeps_the_file_and_the_next_pass_ships_it(tmp_path, s3, bucket):
    host, port = s3.endpoint.rsplit("//", 1)[1].split(":")
    proxy = FaultProxy(host, int(port))
    try:
        _, env, files = filled_store(tmp_path, s3, bucket, n=30, endpoint=proxy.endpoint,
                                     APPLIANCE_EXPORT_CONCURRENCY="1")
        proxy.truncate_upload(count=10)  # more than botocore's retries
        code, out = export_once(tmp_path, env)
        assert code == 1 and "FAILED" in out
        assert finished_files(tmp_path / "store")  # kept
        code, out = export_once(tmp_path, env)
        assert code == 0, out
        assert objects(s3, bucket) == files
    finally:
        proxy.stop()


def test_wrong_credentials_are_a_clear_error_and_files_are_kept(tmp_path, s3, bucket):
    _, env, files = filled_store(tmp_path, s3, bucket, n=20,
                                 APPLIANCE_EXPORT_SECRET_ACCESS_KEY="wrong-secret")
    code, out = export_once(tmp_path, env)
    assert code == 1
    assert "AccessDenied" in out or "SignatureDoesNotMatch" in out
    assert {f.key for f in finished_files(tmp_path / "store")} == set(files)
    status = io.StringIO()
    os.environ.update(env)
    try:
        assert main(["export", "status", "--data-dir", str(tmp_path)], stdout=status) == 1
    finally:
        for k in env:
            os.environ.pop(k, None)
    assert "NOT reachable" in status.getvalue()


def test_bad_endpoint_is_reported_at_start_and_ingest_goes_on(tmp_path, s3, bucket):
    env = export_env(s3, bucket, endpoint="http://127.0.0.1:9")  # nothing listens there
    server = ServerProcess(tmp_path / "data", env=env).start()
    try:
        server.wait_for_log(r"export: cannot use s3://\S+: .*; files are kept")
        assert post(server, "/submit/telemetry/still-ok", b"{}").status == 200
        status = request(server, b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status.status == 200 and b"export failing: s3://" in status.body
    finally:
        assert server.stop() == 0


def test_s3_ls_lists_exported_partitions(tmp_path, s3, bucket):
    _, env, files = filled_store(tmp_path, s3, bucket)
    assert export_once(tmp_path, env)[0] == 0
    out = io.StringIO()
    os.environ.update(env)
    try:
        assert main(["s3", "ls", "--json", "--data-dir", str(tmp_path)], stdout=out) == 0
    finally:
        for k in env:
            os.environ.pop(k, None)
    listed = {json.loads(line)["partition"]: json.loads(line)["records"]
              for line in out.getvalue().splitlines()}
    assert sum(listed.values()) == 200
    assert {k.rsplit("/", 1)[0] for k in files} == set(listed)


def test_verification_failure_keeps_the_local_file(tmp_path, s3, bucket):
    config, _, _ = filled_store(tmp_path, s3, bucket, n=10)
    uploader = build_uploader(config)
    file = finished_files(tmp_path / "store")[0]
    uploader.client.put_object = lambda **kw: None  # a store that silently drops uploads
    with pytest.raises(VerifyError):
        ship(uploader, file, None)
    assert file.path.exists()


def test_server_exports_while_ingesting_and_survives_an_s3_outage(tmp_path, s3, bucket):
    data_dir = tmp_path / "data"
    env = export_env(s3, bucket, APPLIANCE_EXPORT_INTERVAL="0.1")
    env.update({"APPLIANCE_HISTOGRAMS_SPEC_DIR": str(pings.write_spec(tmp_path / "specs")),
                "APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "0.2", "APPLIANCE_STORE_MAX_FILE_AGE": "0.2",
                "APPLIANCE_CONVERTER_IDLE_WAIT": "0.05"})
    server = ServerProcess(data_dir, env=env).start()
    accepted = []
    try:
        server.wait_for_log(r"export: s3://\S+ reachable")

        def ingest(first: int, count: int, until: threading.Event | None = None) -> None:
            i = first
            while (until is not None and not until.is_set()) or i < first + count:
                path = f"/submit/telemetry/exp-{i}/{pings.DIMS}"
                if post(server, path, pings.body(i)).status == 200:
                    accepted.append(f"exp-{i}")
                i += 1

        stop_ingest = threading.Event()
        writer = threading.Thread(target=ingest, args=(0, 10, stop_ingest))
        writer.start()
        # Uploads, and conversion of newer files, happen while ingest goes on.
        server.wait_for_log(r"export: uploaded")
        server.wait_for_log(r"converter: \d+ converted, \d+ invalid, [2-9]\d* files")
        server.wait_for_log(r"export: uploaded")
        stop_ingest.set()
        writer.join()
        sent_before_outage = len(accepted)
        s3.kill()  # S3 down (crashed): the backlog grows, ingest goes on
        ingest(100_000, 20)
        server.wait_for_log(r"export: \S+ failed")
        s3.start()
        server.wait_for_log(r"export: uploads succeed again", timeout=120)
    finally:
        assert server.stop() == 0
    # What the server had not shipped yet (the active spool segment, the last
    # generation) goes out by hand; then S3 must hold every accepted docId once.
    SpoolDir(data_dir / "spool").seal_current()
    config, _ = config_for(data_dir, **env)
    converter_loop(config).drain()
    code, out = export_once(data_dir, env)
    assert code == 0, out
    docs = [line.split(b"\t")[0].decode() for data in objects(s3, bucket).values()
            for line in read_zst(data)]
    assert sorted(docs) == sorted(accepted)
    assert len(accepted) == sent_before_outage + 20
