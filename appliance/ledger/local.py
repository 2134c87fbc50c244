"""What the local store holds, per partition: files, records (from file names) and bytes."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.storage.filenames import file_records, is_data_file_name
from appliance.storage.keys import SchemaSource, is_side_tree, parse_key
from appliance.storage.schema import Schema
from appliance.storage.walk import walk_partitions

UNKNOWN_DATE = "unknown"


def date_of_key(key: str, schemas: SchemaSource) -> str:
    """The submission_date dimension of a store key, or "unknown"."""
    try:
        return parse_key(key, schemas).dimensions.get("submission_date", UNKNOWN_DATE)
    except (KeyError, ValueError):
        return UNKNOWN_DATE


@dataclass(frozen=True)
class LocalFile:
    key: str
    partition: str
    date: str
    records: int
    bytes: int


def scan_store(store_root: Path, schemas: Callable[[str], Schema]) -> list[LocalFile]:
    """Every finished data file of records in the store (blocking: walks the tree); the
    side trees' files hold parts of records counted elsewhere and are left out."""
    found = []
    for part in walk_partitions(store_root, None, schemas):
        if is_side_tree(part.tree):
            continue
        names = part.tree.split("/") + list(part.values)
        partition = "/".join(names)
        fields = schemas(part.tree).field_names
        dims = dict(zip(fields, part.values, strict=False))
        date = dims.get("submission_date", UNKNOWN_DATE)
        try:
            entries = list(os.scandir(part.path))
        except FileNotFoundError:
            continue  # exported and emptied meanwhile
        for entry in entries:
            if not is_data_file_name(entry.name):
                continue
            try:
                size = entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
            found.append(LocalFile(f"{partition}/{entry.name}", partition, date,
                                   file_records(entry.name), size))
    return found
