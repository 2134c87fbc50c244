"""Store file names, made and read only here.

A finished store file is ``<node>.<generation>.<part>.<records>.zst`` in its
partition's directory: the node part (`appliance.node.identity`), the
generation that wrote it, its part number (4 digits at least) and how many
records it holds. While a generation is open its files are
``.tmp/<generation>/<part>.zst`` (6 digits) under the store root, and become
visible when the converter commits it (`appliance.storage.checkpoint`). Names
starting with ``.`` are never data (``.tmp/``, ``.checkpoint.json``, locks).

A generation id is ``<segment stem>-<offset in hex>``: the spool position
(segment stem, byte offset) where the generation started. Segment stems
start with the time the segment was sealed (20 digits of ns), so positions
sort in spool order (`appliance.storage.checkpoint`, "frontier").
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

SUFFIX = ".zst"
TMP_DIR = ".tmp"  # under the store root: the files of open generations
# Under the store root, held by the one converter (or `reconvert`) writing to the store.
CONVERTER_LOCK = ".converter.lock"


class FileName(NamedTuple):
    """The parts of a store file name."""

    node: str
    generation: str
    part: str
    records: str


def store_file_name(node_id: str, generation: str, part: int, records: int) -> str:
    """The name a committed store file gets."""
    return f"{node_id}.{generation}.{part:04d}.{records}{SUFFIX}"


def tmp_file_name(part: int) -> str:
    """The name of one of an open generation's files in its `tmp_dir`."""
    return f"{part:06d}{SUFFIX}"


def tmp_dir(store_root: Path, generation: str) -> Path:
    """The directory of an open generation's files."""
    return store_root / TMP_DIR / generation


def is_data_file_name(name: str) -> bool:
    """True for the name of a finished data file (not a temporary or hidden one)."""
    return name.endswith(SUFFIX) and not name.startswith(".")


def split_file_name(name: str) -> FileName | None:
    """The parts of a converter-made store file name, or None for another name."""
    parts = name.split(".")
    if len(parts) < 5 or parts[-1] != "zst":
        return None
    return FileName(".".join(parts[:-4]), parts[-4], parts[-3], parts[-2])


def file_records(name: str) -> int:
    """Records in a store file, from its name (0 for a name that does not say)."""
    try:
        return int(name.rsplit(".", 2)[-2])
    except (IndexError, ValueError):
        return 0


def generation_id(segment_stem: str, offset: int) -> str:
    """A name unique per node and fixed by where the generation starts."""
    return f"{segment_stem}-{offset:x}"


def generation_position(generation: str) -> tuple[str, int] | None:
    """The spool position (segment stem, offset) a generation id names, or None."""
    stem, _, offset = generation.rpartition("-")
    try:
        return (stem, int(offset, 16)) if stem else None
    except ValueError:
        return None
