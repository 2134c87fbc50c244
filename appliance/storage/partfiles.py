"""The partition files of one converter generation.

Records are buffered per partition and compressed in chunks: each chunk is
one zstd frame appended to the partition's file (a file is a sequence of
frames, which every zstd reader decompresses as one stream). So memory is
bounded by `max_buffer_bytes` however many partitions a generation touches,
and no descriptor stays open between chunks. Each finished file ends with
the receive times of its lines (`appliance.storage.arrivals`). Files are written under
`<store>/.tmp/<generation>/` (names in filenames.py) and only become visible when the converter
commits the generation (see checkpoint.py).
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from appliance.storage.arrivals import arrivals_frame
from appliance.storage.filenames import store_file_name, tmp_dir, tmp_file_name


@dataclass
class PartFile:
    """One output file: where it is written, and the store key it will have."""

    partition: str
    part: int
    tmp_path: Path
    records: int = 0
    raw_bytes: int = 0
    compressed_bytes: int = 0
    buffer: list[bytes] = field(default_factory=list)
    buffered: int = 0
    arrivals: array[int] | None = field(default_factory=lambda: array("q"))  # None: a time unknown

    def key(self, node_id: str, generation: str) -> str:
        return f"{self.partition}/{store_file_name(node_id, generation, self.part, self.records)}"


class PartitionFiles:
    """Writes `<docId>\\t<json>\\n` lines into zstd files, one series per partition."""

    def __init__(self, store_root: Path, generation: str, node_id: str, *, level: int,
                 max_file_bytes: int, frame_bytes: int = 4 << 20,
                 max_buffer_bytes: int = 64 << 20, first_part: int = 0, part_step: int = 1):
        self.store_root = store_root
        self.generation = generation
        self.node_id = node_id
        self.tmp_dir = tmp_dir(store_root, generation)
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self._max_file_bytes = max_file_bytes
        self._frame_bytes = frame_bytes
        self._max_buffer_bytes = max_buffer_bytes
        self._current: dict[str, PartFile] = {}
        self._done: list[PartFile] = []
        self._buffered = 0
        # Part numbers first_part, first_part + part_step, ...: several writers of one
        # generation (converter worker processes) never pick the same one.
        self._parts = first_part
        self._part_step = part_step
        self.records = 0
        self.raw_bytes = 0  # uncompressed bytes written in this generation

    def write(self, partition: str, line: bytes, received_ns: int | None = None) -> None:
        """Add one line to a partition (e.g. `telemetry/saved-session/.../20261129`), with
        the time its submission was received (a file with a line without one carries none)."""
        f = self._current.get(partition)
        if f is None:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            f = PartFile(partition, self._parts, self.tmp_dir / tmp_file_name(self._parts))
            self._parts += self._part_step
            self._current[partition] = f
        f.buffer.append(line)
        if received_ns is None:
            f.arrivals = None
        elif f.arrivals is not None:
            f.arrivals.append(received_ns)
        f.buffered += len(line)
        f.records += 1
        f.raw_bytes += len(line)
        self._buffered += len(line)
        self.records += 1
        self.raw_bytes += len(line)
        if f.buffered >= self._frame_bytes:
            self._flush(f)
        if f.raw_bytes >= self._max_file_bytes:
            self._flush(f)
            self._finish(f)
        elif self._buffered > self._max_buffer_bytes:
            for biggest in sorted(self._current.values(), key=lambda p: -p.buffered):
                self._flush(biggest)
                if self._buffered <= self._max_buffer_bytes // 2:
                    break

    def _flush(self, f: PartFile) -> None:
        if not f.buffer:
            return
        # Streamed into the file line by line: the same frame as compress() of the joined
        # lines (content size in its header), without a multi-MB join and output buffer
        # per frame, which cost a worker ~10 us a record in page faults
        # (docs/performance.md, "Conversion processes").
        # (Not `with stream_writer`: after a failed write (ENOSPC) its close would raise a
        # ZstdError in place of the OSError that the converter handles.)
        with open(f.tmp_path, "ab") as out:
            start = out.tell()
            writer = self._compressor.stream_writer(out, size=f.buffered, closefd=False)
            for line in f.buffer:
                writer.write(line)
            writer.flush(zstandard.FLUSH_FRAME)
            f.compressed_bytes += out.tell() - start
        self._buffered -= f.buffered
        f.buffer.clear()
        f.buffered = 0

    def _finish(self, f: PartFile) -> None:
        """Flush and fsync a partition's file; the next line starts a new one."""
        self._flush(f)
        if f.arrivals:
            frame = arrivals_frame(f.arrivals)
            with open(f.tmp_path, "ab") as out:
                out.write(frame)
            f.compressed_bytes += len(frame)
            f.arrivals = None
        fd = os.open(f.tmp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        del self._current[f.partition]
        self._done.append(f)

    @property
    def buffered_bytes(self) -> int:
        return self._buffered

    def renames(self, files: list[PartFile]) -> list[tuple[str, str]]:
        """(temporary path, store key) pairs, relative to the store root, for a commit."""
        return [(str(f.tmp_path.relative_to(self.store_root)),
                 f.key(self.node_id, self.generation)) for f in files]

    def finish_all(self) -> list[PartFile]:
        """Finish every file (flushed, fsynced); return all of this generation's files."""
        for f in list(self._current.values()):
            self._finish(f)
        done, self._done = self._done, []
        return done
