"""Receive times at the end of store files: invisible to zstd readers, read back per line."""

import subprocess
from array import array

import pytest
import zstandard

from appliance.mr.inputs import InputFile
from appliance.mr.sources import store_records
from appliance.storage.arrivals import arrivals_frame, read_arrivals
from appliance.storage.partfiles import PartitionFiles


def write(tmp_path, times, max_file_bytes=1 << 20):
    files = PartitionFiles(tmp_path, "g", "n", level=1, max_file_bytes=max_file_bytes,
                           frame_bytes=64)
    lines = [b"doc%d\t{\"i\": %d}\n" % (i, i) for i in range(len(times))]
    for line, t in zip(lines, times, strict=True):
        files.write("p", line, t)
    return files.finish_all(), lines


def test_every_part_carries_the_receive_times_of_its_own_lines(tmp_path):
    times = [1_700_000_000_000_000_000 + 7 * i for i in range(40)]
    done, lines = write(tmp_path, times, max_file_bytes=300)
    assert len(done) > 1
    got = [t for f in done for t in read_arrivals(f.tmp_path)]
    assert got == times
    # a 2013 reader sees exactly the lines: the frame is skipped by every zstd decoder
    read = []
    for f in done:
        with open(f.tmp_path, "rb") as raw:
            data = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True).read()
        assert data.count(b"\n") == f.records
        read += data.splitlines(keepends=True)
    assert read == lines


def test_zstdcat_reads_the_lines_unchanged(tmp_path):
    zstdcat = subprocess.run(["which", "zstdcat"], capture_output=True, text=True).stdout.strip()
    if not zstdcat:
        pytest.skip("zstdcat is not installed")
    done, lines = write(tmp_path, [5, 6, 7])
    out = subprocess.run([zstdcat, str(done[0].tmp_path)], capture_output=True, check=True)
    assert out.stdout == b"".join(lines)


def test_the_job_reader_yields_each_line_with_its_receive_time(tmp_path):
    done, _ = write(tmp_path, [30, 10, 20])
    f = done[0]
    records = list(store_records(InputFile(str(f.tmp_path), "t", (), f.compressed_bytes)))
    assert [(doc, received) for _, _, doc, _, _, received in records] == [
        ("doc0", 30), ("doc1", 10), ("doc2", 20)]


def test_a_file_without_times_reads_as_unknown(tmp_path):
    files = PartitionFiles(tmp_path, "g", "n", level=1, max_file_bytes=1 << 20)
    files.write("p", b"a\t{}\n", 5)
    files.write("p", b"b\t{}\n")  # one line without a time: the file carries none
    [f] = files.finish_all()
    assert read_arrivals(f.tmp_path) is None
    records = list(store_records(InputFile(str(f.tmp_path), "t", (), 1)))
    assert [r[5] for r in records] == [0, 0]


@pytest.mark.parametrize("damage", ["marker", "length", "truncated"])
def test_a_damaged_frame_reads_as_unknown(tmp_path, damage):
    path = tmp_path / "f.zst"
    frame = bytearray(arrivals_frame(array("q", [1, 2, 3])))
    if damage == "marker":
        frame[-1] ^= 1
    elif damage == "length":
        frame[-12] ^= 1
    else:
        frame = frame[:4] + frame[9:]
    path.write_bytes(zstandard.ZstdCompressor().compress(b"a\t{}\n") + bytes(frame))
    assert read_arrivals(path) is None
