"""Clone detection through the bucket, on an in-memory S3."""

import io
import json

from botocore.exceptions import ClientError

from appliance.node.registry import Registration, read_registration, registry_key


class FakeS3:
    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def get_object(self, Bucket, Key):
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}

    def put_object(self, Bucket, Key, Body, ContentType):
        self.objects[Key] = Body


def reg(s3, label="vm"):
    return Registration(s3, "b", "pre", "aaaaaaaaaaaaaaaa", label)


def test_a_restarted_node_is_not_its_own_clone():
    s3 = FakeS3()
    before = reg(s3)
    before.check_in()
    before.check_in()  # then killed; the next run has a new token
    after = reg(s3)
    for _ in range(3):
        after.check_in()
    assert not after.clones
    assert json.loads(s3.objects["pre/.nodes/aaaaaaaaaaaaaaaa.json"])["token"] == \
        after.mine["token"]


def test_two_live_runs_of_one_id_both_see_the_clash():
    s3 = FakeS3()
    original, clone = reg(s3, "a"), reg(s3, "b")
    original.check_in()
    clone.check_in()     # its first read cannot tell a clone from its own last run
    assert not clone.clones
    original.check_in()  # someone wrote since its own write: a clone
    assert [c["label"] for c in original.clones.values()] == ["b"]
    clone.check_in()
    assert [c["label"] for c in clone.clones.values()] == ["a"]
    reported = dict(original.clones)
    for _ in range(3):
        original.check_in()
        clone.check_in()
    assert original.clones == reported  # the same report, not a new one at every check-in


def test_a_clone_that_only_ever_reads_its_own_write_learns_from_the_list():
    s3 = FakeS3()
    original, clone = reg(s3, "a"), reg(s3, "b")
    original.check_in()
    clone.check_in()
    original.check_in()  # sees the clone and lists its token
    clone.written = 0    # as if the clone's next read were its first
    clone.check_in()
    assert [c["label"] for c in clone.clones.values()] == ["a"]


def test_the_registration_is_outside_the_store_keys():
    assert registry_key("", "x") == ".nodes/x.json"
    assert registry_key("/a/b/", "x") == "a/b/.nodes/x.json"
    assert read_registration(FakeS3(), "b", "pre", "x") is None


def test_the_registration_carries_the_times_of_the_clock_it_is_given():
    s3, now = FakeS3(), [1000.0]
    registration = Registration(s3, "b", "pre", "aaaaaaaaaaaaaaaa", "vm", wall=lambda: now[0])
    now[0] = 1060.0
    registration.check_in()
    written = json.loads(s3.objects["pre/.nodes/aaaaaaaaaaaaaaaa.json"])
    assert (written["started"], written["seen"]) == (1000.0, 1060.0)
