"""Refusing file systems on which appends are not atomic (NFS, SMB)."""

from __future__ import annotations

import os
from pathlib import Path

UNSAFE_TYPES = ("nfs", "nfs4", "cifs", "smb3", "smbfs")


def _unescape(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
    for octal, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(octal, char)
    return field


def filesystem_type(path: Path, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The type of the file system holding `path`, or None if it cannot be told."""
    target = os.path.realpath(path)
    best, best_type = "", None
    try:
        with open(mountinfo) as f:
            lines = f.readlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        mount_point = _unescape(fields[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, right.split()[0]
    return best_type


def refuse_unsafe_filesystem(path: Path) -> None:
    """Raise RuntimeError if `path` is on a network file system."""
    fstype = filesystem_type(path)
    if fstype and fstype.split(".")[0] in UNSAFE_TYPES:
        raise RuntimeError(
            f"{path} is on {fstype}: appends there are not atomic, so the spool refuses "
            "to run on it; put the data dir on a local file system")
