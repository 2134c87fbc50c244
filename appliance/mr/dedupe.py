"""`--dedupe`: keep only the submission of each docId that arrived last.

Clients resend a ping when they did not see the answer, and the 2013 client
submitted the same session as idle-daily and saved-session: the same docId
more than once, possibly on different nodes. With dedupe a job's `map` sees
only the record of each docId that is greatest in this order:

1. its receive time (ns since the epoch, by the clock of the node that
   received it): kept in the spool record, and in the receive-time frame at
   the end of every store file (`appliance.storage.arrivals`);
2. then the node id of the node that received it (a tie on two nodes);
3. then the input order below, then the record's number in its input.

Records whose receive time is unknown (store files written before receive
times were kept, or by other tools) count as received at time 0, so they
lose to every record with a time; among themselves the input order decides:
files whose names are not generations (imported) first, then store and S3
files by generation (the spool position they were converted from: segment
sealing time, then offset), node, part; the spool last.

It costs a first pass over the inputs (the WINNERS job below, run by the
same runner): map emits (docId, (time, node, input rank, record number)),
combine and reduce keep the maximum, and the output lists each docId's winner
as ``rank:number``. The real job's mappers then skip every record that is not
a winner of its docId (the winners of a mapper's files are held in memory:
about 100 bytes a docId).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance.mr.inputs import Input, SpoolInput
from appliance.node import node_key
from appliance.storage.filenames import generation_position, split_file_name

WINNERS_SCRIPT = Path(__file__).with_name("dedupe_winners.py")


def _order(f: Input) -> tuple[Any, ...]:
    if isinstance(f, SpoolInput):  # newest of all
        return (2, "", 0, "", "")
    name = split_file_name(os.path.basename(f.path))
    position = generation_position(name.generation) if name is not None else None
    if name is None or position is None:
        return (0, "", 0, "", f.path)
    return (1, position[0], position[1], name.node, name.part, f.path)


def rank_inputs(inputs: Sequence[Input]) -> dict[str, int]:
    """Each input's rank in the input order (higher is newer), by path."""
    return {f.path: rank for rank, f in enumerate(sorted(inputs, key=_order))}


def input_node(f: Input) -> str:
    """The id of the node whose records input `f` holds ("" when unknown)."""
    if isinstance(f, SpoolInput):
        return node_key(f.node) if f.node else ""
    name = split_file_name(os.path.basename(f.path))
    return node_key(name.node) if name is not None else ""


def arrival(received_ns: int, node: str, rank: int, n: int) -> tuple[int, str, int, int]:
    """A record's place in the dedupe order (the greatest wins)."""
    return (received_ns, node if received_ns else "", rank, n)


def load_winners(path: str, ranks: set[int]) -> set[tuple[int, int]]:
    """The winning (rank, record number) pairs of the inputs with these ranks."""
    keep = set()
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            rank, _, n = line.rstrip("\n").rpartition("\t")[2].partition(":")
            if int(rank) in ranks:
                keep.add((int(rank), int(n)))
    return keep
