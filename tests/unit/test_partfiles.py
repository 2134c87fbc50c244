"""Partition files: zstd frames, bounded buffers, size-finished parts."""

import errno
import io
import os

import pytest
import zstandard

from appliance.storage import partfiles
from appliance.storage.partfiles import PartitionFiles


def read_lines(path):
    with open(path, "rb") as f:
        data = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
    return data.splitlines(keepends=True)


def test_lines_come_back_per_partition_in_order(tmp_path):
    files = PartitionFiles(tmp_path, "g1", "node", level=1, max_file_bytes=1 << 20,
                           frame_bytes=100)
    expected = {"a/x": [], "b/y": []}
    for i in range(300):
        partition = "a/x" if i % 3 else "b/y"
        line = b"doc%d\t{\"i\": %d}\n" % (i, i)
        files.write(partition, line)
        expected[partition].append(line)
    done = files.finish_all()
    assert sorted(f.partition for f in done) == ["a/x", "b/y"]
    for f in done:
        assert read_lines(f.tmp_path) == expected[f.partition]
        assert f.records == len(expected[f.partition])
        assert f.key("node", "g1") == f"{f.partition}/node.g1.{f.part:04d}.{f.records}.zst"
    assert files.records == 300


def test_a_full_file_is_finished_and_the_next_line_starts_another(tmp_path):
    files = PartitionFiles(tmp_path, "g", "n", level=1, max_file_bytes=1000)
    lines = [b"d%03d\t%s\n" % (i, b"x" * 90) for i in range(25)]
    for line in lines:
        files.write("p", line)
    done = files.finish_all()
    assert len(done) == 3
    assert all(f.raw_bytes <= 1000 + 100 for f in done)
    assert [line for f in done for line in read_lines(f.tmp_path)] == lines
    assert len({f.key("n", "g") for f in done}) == 3


def test_memory_stays_bounded_with_many_partitions(tmp_path):
    files = PartitionFiles(tmp_path, "g", "n", level=1, max_file_bytes=1 << 30,
                           max_buffer_bytes=50_000)
    peak = 0
    for i in range(5000):
        files.write(f"p{i % 1000}", b"%d\t%s\n" % (i, b"y" * 100))
        peak = max(peak, files.buffered_bytes)
    assert peak <= 50_000 + 200
    done = files.finish_all()
    assert len(done) == 1000
    assert sum(len(read_lines(f.tmp_path)) for f in done) == 5000


def test_writers_of_one_generation_with_part_steps_never_share_a_file_or_key(tmp_path):
    """Converter worker i of N numbers its parts i, i + N, ...: one .tmp/ dir, no collision."""
    writers = [PartitionFiles(tmp_path, "g1", "node", level=1, max_file_bytes=100,
                              first_part=i, part_step=3) for i in range(3)]
    for n in range(60):
        for w in writers:
            w.write(f"p{n % 4}", b"doc\t{\"n\": %d}\n" % n)
    done = [f for w in writers for f in w.finish_all()]
    assert len(done) > 12  # several files per partition and writer
    assert len({f.tmp_path for f in done}) == len(done)
    keys = [f.key("node", "g1") for f in done]
    assert len(set(keys)) == len(keys)
    assert sum(len(read_lines(f.tmp_path)) for f in done) == 180


def test_each_chunk_is_one_frame_as_compress_makes_it(tmp_path):
    lines = [b"doc%d\t{\"n\": \"%s\"}\n" % (i, b"%x" % (i * 7919) * (i % 50)) for i in range(400)]
    files = PartitionFiles(tmp_path, "g", "n", level=3, max_file_bytes=1 << 30,
                           frame_bytes=5000)
    frames, chunk = [], []
    for line in lines:
        files.write("p", line)
        chunk.append(line)
        if sum(map(len, chunk)) >= 5000:
            frames.append(b"".join(chunk))
            chunk = []
    frames.append(b"".join(chunk))
    (done,) = files.finish_all()
    compressor = zstandard.ZstdCompressor(level=3, write_checksum=True)
    written = done.tmp_path.read_bytes()
    expected = b"".join(compressor.compress(frame) for frame in frames)
    assert written.startswith(expected)  # the arrivals frame follows
    assert done.compressed_bytes == len(written)
    assert read_lines(done.tmp_path) == lines


class FullFile(io.BytesIO):
    """A file on a full disk: every write fails with ENOSPC."""

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_write_on_a_full_disk_raises_the_os_error(tmp_path, monkeypatch):
    files = PartitionFiles(tmp_path, "g", "n", level=1, max_file_bytes=1 << 30,
                           frame_bytes=1 << 20)
    for _ in range(300):  # enough that the writer writes before the frame's end
        files.write("p", b"doc\t%s\n" % os.urandom(1000).hex().encode())
    monkeypatch.setattr(partfiles, "open", lambda path, mode: FullFile(), raising=False)
    with pytest.raises(OSError) as raised:  # what the converter pauses on, not a zstd error
        files.finish_all()
    assert raised.value.errno == errno.ENOSPC
