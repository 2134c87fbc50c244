"""Uploading one store file to S3 and proving S3 holds exactly its bytes.

Every request carries Content-MD5, which S3 (and S3-compatible stores)
verify on receipt; afterwards a HEAD must show the file's size and the ETag
its bytes imply (the MD5, or for a multipart upload the MD5 of the parts'
MD5s with "-N"). Keys are fixed by the store key, so an upload repeated after
a crash overwrites the same object; a file whose object is already there and
verified is not sent again.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any  # boto3 clients and answers have no types here

from botocore.exceptions import ClientError

from appliance.export.errors import VerifyError, error_kind


@dataclass(frozen=True)
class Uploaded:
    """What happened to one file."""

    key: str
    size: int
    etag: str
    already_there: bool


def object_key(prefix: str, store_key: str) -> str:
    """`<prefix>/<store key>` (no prefix: the store key itself)."""
    prefix = prefix.strip("/")
    return f"{prefix}/{store_key}" if prefix else store_key


def _part_digests(path: Path, part_size: int) -> list[bytes]:
    digests = []
    with open(path, "rb") as f:
        while chunk := f.read(part_size):
            digests.append(hashlib.md5(chunk).digest())
    return digests or [hashlib.md5(b"").digest()]


def expected_etag(path: Path, multipart_threshold: int, part_size: int) -> str:
    """The ETag S3 gives this file's object when uploaded by `Uploader`."""
    size = os.path.getsize(path)
    if size < multipart_threshold:
        return _part_digests(path, max(size, 1))[0].hex()
    digests = _part_digests(path, part_size)
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


class Uploader:
    """Blocking S3 calls for one bucket; run it on the export thread pool."""

    def __init__(self, client: Any, bucket: str, prefix: str, *, multipart_threshold: int,
                 part_size: int):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size

    def probe(self) -> None:
        """Raise if the bucket cannot be reached with these credentials."""
        self.client.head_bucket(Bucket=self.bucket)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
            return head
        except ClientError as e:
            if error_kind(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def export(self, path: Path, store_key: str) -> Uploaded:
        """Upload `path` unless S3 already holds it; verify; return what S3 holds."""
        key = object_key(self.prefix, store_key)
        size = os.path.getsize(path)
        single = size < self.multipart_threshold
        if single:  # one read and one MD5: the ETag and the Content-MD5 are the same digest
            body = path.read_bytes()
            digest = hashlib.md5(body).digest()
            etag = digest.hex()
        else:
            etag = expected_etag(path, self.multipart_threshold, self.part_size)
        if self._matches(self._head(key), size, etag):
            return Uploaded(key, size, etag, already_there=True)
        if single:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body,
                                   ContentMD5=base64.b64encode(digest).decode(),
                                   ContentType="application/zstd")
        else:
            self._multipart(path, key)
        head = self._head(key)
        if not self._matches(head, size, etag):
            got = None if head is None else (head.get("ContentLength"), head.get("ETag"))
            raise VerifyError(f"s3://{self.bucket}/{key} does not match {path.name}: "
                              f"expected ({size}, {etag}), found {got}")
        return Uploaded(key, size, etag, already_there=False)

    @staticmethod
    def _matches(head: dict[str, Any] | None, size: int, etag: str) -> bool:
        return (head is not None and head.get("ContentLength") == size
                and head.get("ETag", "").strip('"') == etag)

    def _multipart(self, path: Path, key: str) -> None:
        self._abort_stale(key)
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType="application/zstd")["UploadId"]
        try:
            parts = []
            with open(path, "rb") as f:
                number = 1
                while chunk := f.read(self.part_size):
                    answer = self.client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                        Body=chunk, ContentMD5=_md5_b64(chunk))
                    parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                    number += 1
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": parts})
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                   UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
            raise

    def _abort_stale(self, key: str) -> None:
        """Abort multipart uploads of this key left by a crash (they hold storage)."""
        answer = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        for upload in answer.get("Uploads", []):
            if upload.get("Key") == key:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                   UploadId=upload["UploadId"])


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()
