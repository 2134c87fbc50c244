"""The S3 test fixture (a real SeaweedFS) and the fault proxy do what the export tests need.

These tests also pin down what SeaweedFS checks, which the exporter relies on:
- Content-MD5 is verified (BadDigest), and so are x-amz-checksum-crc32 / -sha256 (also
  BadDigest, with a message that talks of Content-Md5); the checksum is stored and
  returned by HEAD/GET with ChecksumMode=ENABLED.
- The SigV4 payload hash (x-amz-content-sha256) is NOT checked against the body: a body
  changed after signing is stored as is when no Content-MD5 / x-amz-checksum-* is sent.
- A multipart object's ETag is md5(md5(part 1) + ... + md5(part N)) + "-N", as on AWS.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import socket
import threading
import zlib

import botocore.config
import botocore.exceptions
import pytest

from tests.faultproxy import FaultProxy
from tests.s3server import CHECKSUM_WHEN_REQUIRED, free_ports

MiB = 1024 * 1024


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def md5_b64(data: bytes) -> str:
    return b64(hashlib.md5(data).digest())


def error_code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def absent(client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return True
        raise
    return False


@pytest.fixture
def proxy(s3):
    proxy = FaultProxy("127.0.0.1", s3.port)
    yield proxy
    proxy.stop()


# ---- the server ----------------------------------------------------------------------


def test_put_get_head_round_trip_with_content_md5(s3, bucket):
    client = s3.client()
    data = os.urandom(100_000)
    put = client.put_object(Bucket=bucket, Key="dir/a.bin", Body=data, ContentMD5=md5_b64(data))
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    head = client.head_object(Bucket=bucket, Key="dir/a.bin")
    assert head["ContentLength"] == len(data) and head["ETag"] == put["ETag"]
    got = client.get_object(Bucket=bucket, Key="dir/a.bin")
    assert got["Body"].read() == data and got["ETag"] == put["ETag"]
    listed = client.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("dir/a.bin", len(data))]


def test_a_wrong_content_md5_is_rejected(s3, bucket):
    client = s3.client(max_attempts=1)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.put_object(Bucket=bucket, Key="k", Body=b"payload", ContentMD5=md5_b64(b"other"))
    assert error_code(caught) == "BadDigest"
    assert absent(client, bucket, "k")


@pytest.mark.parametrize("algorithm, digest", [
    ("SHA256", lambda data: hashlib.sha256(data).digest()),
    ("CRC32", lambda data: zlib.crc32(data).to_bytes(4, "big")),
])
def test_flexible_checksums_are_verified_stored_and_returned(s3, bucket, algorithm, digest):
    client = s3.client(max_attempts=1)
    data = os.urandom(50_000)
    expected = b64(digest(data))
    put = client.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == expected
    head = client.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    got = client.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == data  # botocore validates the returned checksum too

    wrong = b64(digest(b"something else"))
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.put_object(Bucket=bucket, Key="bad", Body=data, **{f"Checksum{algorithm}": wrong})
    assert error_code(caught) == "BadDigest"
    assert absent(client, bucket, "bad")


@pytest.mark.parametrize("guard, rejected", [
    ("content-md5", True),
    ("crc32", True),             # botocore's default flexible checksum
    ("signature only", False),   # SeaweedFS does not check x-amz-content-sha256
])
def test_a_body_changed_after_signing(s3, bucket, guard, rejected):
    data = b"hello world " * 1000
    changed = b"HELLO" + data[5:]
    config = None if guard == "crc32" else CHECKSUM_WHEN_REQUIRED
    client = s3.client(max_attempts=1, config=config)
    client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: setattr(request, "body", changed))
    extra = {"ContentMD5": md5_b64(data)} if guard == "content-md5" else {}
    if rejected:
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.put_object(Bucket=bucket, Key="k", Body=data, **extra)
        assert error_code(caught) == "BadDigest"
        assert absent(client, bucket, "k")
    else:
        client.put_object(Bucket=bucket, Key="k", Body=data, **extra)
        stored = s3.client().get_object(Bucket=bucket, Key="k")["Body"].read()
        assert stored == changed, "SeaweedFS now checks the signed payload hash: update docs"


def test_default_client_sends_crc32_and_when_required_sends_none(s3, bucket, proxy):
    for config, expected in ((None, "x-amz-checksum-crc32"), (CHECKSUM_WHEN_REQUIRED, None)):
        proxy.clear()
        client = s3.client(endpoint_url=proxy.endpoint, config=config)
        client.put_object(Bucket=bucket, Key="k", Body=b"abc")
        (headers,) = proxy.request_headers
        sent = [name for name in headers if name.startswith("x-amz-checksum-")]
        assert sent == ([expected] if expected else [])
        assert "transfer-encoding" not in headers  # plain HTTP: a header, not a trailer


def test_multipart_upload_and_its_etag(s3, bucket):
    client = s3.client()
    parts = [os.urandom(5 * MiB + 17), os.urandom(5 * MiB + 1), os.urandom(1000)]
    upload = client.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    etags = []
    for number, part in enumerate(parts, start=1):
        put = client.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=number,
                                 Body=part, ContentMD5=md5_b64(part))
        assert put["ETag"] == f'"{hashlib.md5(part).hexdigest()}"'
        etags.append(put["ETag"])
    done = client.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                   for n, e in enumerate(etags, start=1)]})
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert done["ETag"] == f'"{expected}-{len(parts)}"'
    head = client.head_object(Bucket=bucket, Key="big")
    assert head["ETag"] == done["ETag"]
    assert head["ContentLength"] == sum(map(len, parts))
    assert client.get_object(Bucket=bucket, Key="big")["Body"].read() == b"".join(parts)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_multipart_rules_as_on_aws(s3, bucket):
    """Parts but the last must be >= 5 MiB (EntityTooSmall at completion); a wrong part
    ETag is InvalidPart; one part gives md5(md5(part)) + "-1"; no object checksum."""
    client = s3.client(max_attempts=1)

    def upload(parts, etag_of_first=None):
        upload = client.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
        etags = [client.upload_part(Bucket=bucket, Key="m", UploadId=upload, PartNumber=n,
                                    Body=part)["ETag"] for n, part in enumerate(parts, 1)]
        etags[0] = etag_of_first or etags[0]
        return client.complete_multipart_upload(
            Bucket=bucket, Key="m", UploadId=upload, MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})

    with pytest.raises(botocore.exceptions.ClientError) as caught:
        upload([b"a" * 1000, b"b" * 1000])
    assert error_code(caught) == "EntityTooSmall"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        upload([b"a" * 1000], etag_of_first=f'"{"0" * 32}"')
    assert error_code(caught) == "InvalidPart"
    assert absent(client, bucket, "m")
    done = upload([b"single"])
    assert done["ETag"] == f'"{hashlib.md5(hashlib.md5(b"single").digest()).hexdigest()}-1"'
    head = client.head_object(Bucket=bucket, Key="m", ChecksumMode="ENABLED")
    assert not [name for name in head if name.startswith("Checksum")]


def test_wrong_credentials_are_rejected(s3, bucket):
    s3.client().put_object(Bucket=bucket, Key="k", Body=b"x")
    cases = [
        ({"aws_secret_access_key": "not-the-secret"}, "SignatureDoesNotMatch"),
        ({"aws_access_key_id": "AKIDONOTEXIST0000000"}, "InvalidAccessKeyId"),
    ]
    for override, code in cases:
        client = s3.client(max_attempts=1, **override)
        for call in (lambda c=client: c.get_object(Bucket=bucket, Key="k"),
                     lambda c=client: c.put_object(Bucket=bucket, Key="k2", Body=b"y"),
                     lambda c=client: c.list_buckets()):
            with pytest.raises(botocore.exceptions.ClientError) as caught:
                call()
            assert error_code(caught) == code
    anonymous = s3.client(max_attempts=1, config=botocore.config.Config(
        signature_version=botocore.UNSIGNED))
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        anonymous.get_object(Bucket=bucket, Key="k")
    assert error_code(caught) == "AccessDenied"
    assert absent(s3.client(), bucket, "k2")


@pytest.mark.slow
def test_restart_keeps_objects_and_ports(s3, bucket):
    client = s3.client()
    objects = {f"k{i}": os.urandom(1000 + i) for i in range(5)}
    for key, data in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
    endpoint = s3.endpoint
    s3.stop()
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        s3.client(max_attempts=1, connect_timeout=1).list_buckets()
    s3.start()
    assert s3.endpoint == endpoint
    for key, data in objects.items():  # the old client works again: same endpoint
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    client.put_object(Bucket=bucket, Key="after", Body=b"new")  # new writes don't clobber
    assert {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]} == {
        *objects, "after"}
    for key, data in objects.items():
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data


def test_kill_9_keeps_acknowledged_objects(s3, bucket):
    client = s3.client()
    objects = {f"k{i}": os.urandom(2000 + i) for i in range(5)}
    for key, data in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
    s3.kill()
    s3.start()
    for key, data in objects.items():
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data


# ---- the fault proxy -----------------------------------------------------------------


def test_proxy_forwards_and_records_requests(s3, bucket, proxy):
    client = s3.client(endpoint_url=proxy.endpoint)
    data = os.urandom(300_000)
    client.put_object(Bucket=bucket, Key="a", Body=data)
    assert client.get_object(Bucket=bucket, Key="a")["Body"].read() == data
    assert client.head_object(Bucket=bucket, Key="a")["ContentLength"] == len(data)
    client.delete_object(Bucket=bucket, Key="a")
    assert absent(client, bucket, "a")
    assert proxy.requests == [("PUT", f"/{bucket}/a"), ("GET", f"/{bucket}/a"),
                              ("HEAD", f"/{bucket}/a"), ("DELETE", f"/{bucket}/a"),
                              ("HEAD", f"/{bucket}/a")]


def test_a_503_slowdown_is_retried_by_botocore(s3, bucket, proxy):
    client = s3.client(endpoint_url=proxy.endpoint, max_attempts=3)
    proxy.inject(503, method="PUT", code="SlowDown")
    put = client.put_object(Bucket=bucket, Key="k", Body=b"retried")
    assert put["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.requests == [("PUT", f"/{bucket}/k"), ("PUT", f"/{bucket}/k")]
    assert proxy.pending == 0
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"retried"


def test_a_500_without_retries_is_a_client_error(s3, bucket, proxy):
    client = s3.client(endpoint_url=proxy.endpoint, max_attempts=1)
    proxy.inject(500, code="InternalError")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.put_object(Bucket=bucket, Key="k", Body=b"x" * 10_000)
    assert error_code(caught) == "InternalError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert proxy.requests == [("PUT", f"/{bucket}/k")]
    # the keep-alive connection is still in step: the next request goes through
    assert absent(client, bucket, "k")
    client.put_object(Bucket=bucket, Key="k", Body=b"ok")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"ok"


def test_injected_errors_match_method_path_and_count(s3, bucket, proxy):
    client = s3.client(endpoint_url=proxy.endpoint, max_attempts=1)
    client.put_object(Bucket=bucket, Key="k", Body=b"v")
    proxy.inject(404, count=2, method="HEAD", code="NoSuchKey")
    proxy.inject(403, method="GET", path=f"/{bucket}/other", close=True)
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.head_object(Bucket=bucket, Key="k")  # HEAD: no body in the answer
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert client.head_object(Bucket=bucket, Key="k")["ContentLength"] == 1
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.get_object(Bucket=bucket, Key="other")
    assert error_code(caught) == "AccessDenied"
    assert proxy.pending == 0
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_truncated_upload_fails_and_leaves_the_object_absent_or_unchanged(s3, bucket, proxy):
    client = s3.client(endpoint_url=proxy.endpoint, max_attempts=1)
    client.put_object(Bucket=bucket, Key="old", Body=b"version 1")
    big = os.urandom(2 * MiB)
    for key in ("old", "new"):
        proxy.truncate_upload()
        with pytest.raises((botocore.exceptions.BotoCoreError,
                            botocore.exceptions.ClientError)):
            client.put_object(Bucket=bucket, Key=key, Body=big, ContentMD5=md5_b64(big))
    assert client.get_object(Bucket=bucket, Key="old")["Body"].read() == b"version 1"
    assert absent(client, bucket, "new")
    assert [r for r in proxy.requests if r[0] == "PUT"] == [
        ("PUT", f"/{bucket}/old"), ("PUT", f"/{bucket}/old"), ("PUT", f"/{bucket}/new")]


def test_truncated_upload_without_any_checksum_is_not_stored_either(s3, bucket, proxy):
    client = s3.client(endpoint_url=proxy.endpoint, max_attempts=1,
                       config=CHECKSUM_WHEN_REQUIRED)
    proxy.truncate_upload(after_bytes=1000)
    with pytest.raises(botocore.exceptions.BotoCoreError):
        client.put_object(Bucket=bucket, Key="k", Body=os.urandom(MiB))
    assert absent(client, bucket, "k")


def test_proxy_keeps_chunked_requests_in_step(s3, proxy):
    """A chunked request body (as `aws-chunked` would travel) is delimited correctly: the
    (unauthenticated, so refused) answer arrives and the connection stays usable."""
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)
    try:
        for _ in range(2):
            conn.request("PUT", "/nobucket/k", body=iter([b"abc", b"defgh"]),
                         encode_chunked=True)
            response = conn.getresponse()
            assert response.status == 403 and b"AccessDenied" in response.read()
            proxy.inject(503)
            conn.request("PUT", "/nobucket/k", body=iter([b"x" * 70_000]), encode_chunked=True)
            response = conn.getresponse()
            assert response.status == 503 and b"<Code>SlowDown</Code>" in response.read()
    finally:
        conn.close()
    assert proxy.requests == [("PUT", "/nobucket/k")] * 4


def test_proxy_reconnects_when_the_upstream_drops_an_idle_connection():
    """The upstream closes after each answer (as on a keep-alive timeout); the client's
    kept-alive connection to the proxy still works."""
    closed = threading.Semaphore(0)
    listener = socket.create_server(("127.0.0.1", 0))

    def upstream():
        for _ in range(2):
            conn, _ = listener.accept()
            with conn, conn.makefile("rb") as reader:
                while reader.readline() not in (b"\r\n", b""):
                    pass
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            closed.release()  # the upstream has closed its side

    thread = threading.Thread(target=upstream, daemon=True)
    thread.start()
    proxy = FaultProxy("127.0.0.1", listener.getsockname()[1])
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)
    try:
        for count in (1, 2):
            conn.request("GET", f"/{count}")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"ok")
            assert closed.acquire(timeout=10)
    finally:
        conn.close()
        proxy.stop()
        listener.close()
    assert proxy.requests == [("GET", "/1"), ("GET", "/2")]


def test_proxy_to_a_dead_upstream_closes_the_connection(s3):
    port = free_ports(1)[0]
    proxy = FaultProxy("127.0.0.1", port)
    try:
        client = s3.client(endpoint_url=proxy.endpoint, max_attempts=1)
        with pytest.raises(botocore.exceptions.ConnectionClosedError):
            client.list_buckets()
    finally:
        proxy.stop()
