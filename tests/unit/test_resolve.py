"""Exported objects against local inputs: skipped only when provably the same records."""

import hashlib
import re

import pytest

from appliance.mr.inputs import InputFile
from appliance.mr.remote import RemoteObject, file_digests
from appliance.mr.resolve import InputConflict, LocalMatch
from appliance.mr.snapshot import LocalSnapshot

ME = "vm-aaaaaaaaaaaaaaaa"
OTHER = "vm-bbbbbbbbbbbbbbbb"  # the same label: another node all the same
EARLY, LATE = "00000000000000000001-s-0", "00000000000000000009-s-0"


def snapshot(tmp_path, files: dict[str, bytes]) -> LocalSnapshot:
    snap = LocalSnapshot(tmp_path, ME, ("00000000000000000005-s", 0))
    for key, data in files.items():
        path = snap.store_root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        snap.store_files.append(InputFile(str(path), "t", ("p",), len(data)))
    return snap


def obj(key: str, data: bytes, etag: str | None = None) -> RemoteObject:
    return RemoteObject(key, len(data), etag or hashlib.md5(data).hexdigest())


def test_only_the_same_bytes_of_the_same_key_are_read_locally(tmp_path):
    mine = f"t/p/{ME}.{EARLY}.0000.2.zst"
    snap = snapshot(tmp_path, {mine: b"local bytes"})
    theirs = obj(f"t/p/{OTHER}.{EARLY}.0000.2.zst", b"other node")
    theirs_late = obj(f"t/p/{OTHER}.{LATE}.0000.2.zst", b"other node, later")
    mine_late = obj(f"t/p/{ME}.{LATE}.0000.2.zst", b"in my spool still")
    match = LocalMatch(snap, 16 << 20)
    wanted = match([obj(mine, b"local bytes"), theirs, theirs_late, mine_late])
    assert wanted == [theirs, theirs_late]  # another node's files, whatever the label
    assert (match.same, match.spooled) == (1, 1)


def test_a_multipart_object_is_compared_by_its_parts(tmp_path):
    key = f"t/p/{ME}.{EARLY}.0000.2.zst"
    data = b"x" * 1000
    snap = snapshot(tmp_path, {key: data})
    _, multi = file_digests(snap.store_root / key, 300)
    match = LocalMatch(snap, 300)
    assert match([RemoteObject(key, 1000, multi)]) == [] and match.same == 1
    with pytest.raises(InputConflict, match="part_size 400"):
        LocalMatch(snap, 400)([RemoteObject(key, 1000, multi)])


@pytest.mark.parametrize("remote, why", [
    (b"local bytes, longer", "19 bytes in S3, 11 locally"),
    (b"LOCAL BYTES", "ETag .* in S3, MD5 .* locally"),
])
def test_the_same_key_with_other_bytes_is_an_error_naming_both(tmp_path, remote, why):
    key = f"t/p/{ME}.{EARLY}.0000.2.zst"
    snap = snapshot(tmp_path, {key: b"local bytes"})
    ok = obj(f"t/p/{OTHER}.{EARLY}.0000.2.zst", b"fine")
    with pytest.raises(InputConflict) as e:
        LocalMatch(snap, 16 << 20, "s3://b/pre/")([ok, obj(key, remote)])
    text = str(e.value)
    assert f"s3://b/pre/{key}" in text and str(snap.store_root / key) in text
    assert OTHER not in text
    assert re.search(why, text)


def test_without_a_snapshot_every_object_is_read(tmp_path):
    listed = [obj(f"t/p/{ME}.{LATE}.0000.2.zst", b"a")]
    assert LocalMatch(None, 16 << 20)(listed) == listed
