"""`--dedupe`: keep only the last submission of each docId.

Clients resend a ping when they did not see the answer, and the 2013 client
submitted the same session as idle-daily and saved-session: the same docId
more than once. With dedupe a job's `map` sees only the *last* record of each
docId, in this order:

1. records still in the spool (newest), in spool order;
2. store and S3 files by their generation, which names the spool position the
   records were converted from (`<node>.<stem>-<offset>.<part>.<n>.zst`, the
   stem starting with the segment's sealing time in ns), then node, part and
   line. Files whose names are not generations (imported) count as oldest.

So "last" is the last received, at the resolution of a generation: records
of one generation that ended in different partitions are ordered by part
number, which is arbitrary but the same in every run.

It costs a first pass over the inputs (the WINNERS job below, run by the
same runner): map emits (docId, (file rank, record number)), combine and
reduce keep the maximum, and the output lists each docId's winner. The real
job's mappers then skip every record that is not a winner of its docId (the
winners of a mapper's files are held in memory: about 100 bytes a docId).
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.storage.generations import generation_position, split_file_name

WINNERS_SCRIPT = Path(__file__).with_name("dedupe_winners.py")


def _order(f) -> tuple:
    if not hasattr(f, "dims"):  # the SpoolInput: newest of all
        return (2, "", 0, "", "")
    name = split_file_name(os.path.basename(f.path))
    position = generation_position(name.generation) if name is not None else None
    if position is None:
        return (0, "", 0, "", f.path)
    return (1, position[0], position[1], name.node, name.part, f.path)


def rank_inputs(inputs: list) -> dict[str, int]:
    """Each input's rank in the dedupe order (higher is newer), by path."""
    return {f.path: rank for rank, f in enumerate(sorted(inputs, key=_order))}


def load_winners(path: str, ranks: set[int]) -> set[tuple[int, int]]:
    """The winning (rank, record number) pairs of the inputs with these ranks."""
    keep = set()
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            rank, _, n = line.rstrip("\n").rpartition("\t")[2].partition(":")
            if int(rank) in ranks:
                keep.add((int(rank), int(n)))
    return keep
