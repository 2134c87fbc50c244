"""Store file names as the converter makes them: ``<node>.<generation>.<part>.<records>.zst``.

A generation id is ``<segment stem>-<offset in hex>``: the spool position
(segment stem, byte offset) where the generation started. Segment stems
start with the time the segment was sealed (20 digits of ns), so positions
sort in spool order (`appliance.storage.checkpoint`, "frontier").
"""

from __future__ import annotations

from typing import NamedTuple


class FileName(NamedTuple):
    """The parts of a store file name."""

    node: str
    generation: str
    part: str
    records: str


def split_file_name(name: str) -> FileName | None:
    """The parts of a converter-made store file name, or None for another name."""
    parts = name.split(".")
    if len(parts) < 5 or parts[-1] != "zst":
        return None
    return FileName(".".join(parts[:-4]), parts[-4], parts[-3], parts[-2])


def generation_position(generation: str) -> tuple[str, int] | None:
    """The spool position (segment stem, offset) a generation id names, or None."""
    stem, _, offset = generation.rpartition("-")
    try:
        return (stem, int(offset, 16)) if stem else None
    except ValueError:
        return None
