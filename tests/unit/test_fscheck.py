"""Refusing network file systems for the spool."""

import pytest

from appliance.spool.fscheck import filesystem_type, refuse_unsafe_filesystem

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /mnt/nfs rw,relatime shared:2 - nfs4 server:/export rw
41 22 0:36 / /mnt/with\\040space rw - cifs //srv/share rw
42 40 8:2 / /mnt/nfs/local rw - xfs /dev/sdb1 rw
"""


@pytest.fixture
def mountinfo(tmp_path):
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO)
    return str(path)


def test_longest_mount_point_wins(mountinfo):
    assert filesystem_type("/srv/data", mountinfo) == "ext4"
    assert filesystem_type("/mnt/nfs/spool", mountinfo) == "nfs4"
    assert filesystem_type("/mnt/nfs/local/spool", mountinfo) == "xfs"
    assert filesystem_type("/mnt/with space/x", mountinfo) == "cifs"
    assert filesystem_type("/mnt/nfsx", mountinfo) == "ext4"


def test_this_machines_temp_dir_is_accepted(tmp_path):
    refuse_unsafe_filesystem(tmp_path)  # CI runs on a local file system


def test_nfs_is_refused(monkeypatch):
    monkeypatch.setattr("appliance.spool.fscheck.filesystem_type", lambda path: "nfs4")
    with pytest.raises(RuntimeError, match="not atomic"):
        refuse_unsafe_filesystem("/mnt/nfs/spool")
