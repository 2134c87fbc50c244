"""A node's unique id, generated once per data dir and kept in ``<data_dir>/node.json``.

Host names collide (cloned VMs, containers), so keys never rely on them: a
store file is named ``<label>-<id>.<generation>.<part>.<records>.zst`` where
`label` is `[server] node_id` (or the host name), sanitised, for people to
read, and `id` is 16 lowercase base32 characters (80 random bits) that no
other data dir has. The id is created by whichever command first needs it
(normally the first `appliance serve`, also the first start after an upgrade)
and never changes; the label may change freely.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import Config
from appliance.datadir import DataDir
from appliance.durable import fsync_dir, makedirs_durable
from appliance.storage.schema import sanitise

_ID = re.compile(r"[a-z2-7]{16}")
_NAME = re.compile(r"(.+)-([a-z2-7]{16})")


class IdentityError(Exception):
    """The data dir's node.json is unreadable or damaged (names the file)."""


@dataclass(frozen=True)
class NodeIdentity:
    """This node: its unique `id` and readable `label`."""

    id: str
    label: str
    created: bool = field(default=False, compare=False)  # node.json was made just now

    @property
    def name(self) -> str:
        """The node part of this node's store file names: ``<label>-<id>``."""
        return f"{self.label}-{self.id}"


def new_id() -> str:
    """16 lowercase base32 characters of 80 random bits."""
    return base64.b32encode(os.urandom(10)).decode().lower()


def split_node(name: str) -> tuple[str, str | None]:
    """(label, id) of a file name's node part; id None for a name from before node ids
    (then the whole name is the label)."""
    m = _NAME.fullmatch(name)
    return (m.group(1), m.group(2)) if m else (name, None)


def same_node(a: str, b: str) -> bool:
    """True if two node parts of file names name one node: the same id when both carry
    one (the labels may differ), else the same text."""
    ida, idb = split_node(a)[1], split_node(b)[1]
    return ida == idb if ida and idb else a == b


def node_key(name: str) -> str:
    """What identifies the node of a file name's node part: its id, else the whole name."""
    return split_node(name)[1] or name


def load_identity(data_dir: Path, label: str) -> NodeIdentity:
    """The data dir's identity, creating ``node.json`` (fsynced) if it has none yet.

    Two processes creating it at once agree: the file is linked into place only
    if absent, and the loser reads the winner's id.
    """

    path = DataDir(data_dir).node_file
    created = False
    if not path.exists():
        makedirs_durable(data_dir)
        created = _create(path)
    try:
        node_id = json.loads(path.read_bytes())["node_id"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IdentityError(f"{path}: cannot read the node id ({e}); restore the file from a "
                            f"backup, or delete it to give this data dir a new identity "
                            f"(see docs/install.md)") from None
    if not isinstance(node_id, str) or not _ID.fullmatch(node_id):
        raise IdentityError(f"{path}: {node_id!r} is not a node id (16 base32 characters)")
    return NodeIdentity(node_id, sanitise(label), created)


def _create(path: Path) -> bool:
    """Create `path` with a new id unless it exists; True if this call created it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        try:
            os.write(fd, json.dumps({"node_id": new_id()}).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created it first
        except FileExistsError:
            return False
        fsync_dir(path.parent)
        return True
    finally:
        os.unlink(tmp)


def node_identity(config: Config) -> NodeIdentity:
    """The identity of the configured data dir, labelled `[server] node_id` or the host name."""
    return load_identity(config.data_dir, config.node_label)
