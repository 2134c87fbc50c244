"""Store file names and spool segment names: what is written is read back the same."""

import os
import time
from pathlib import Path

from appliance.spool.segments import SpoolDir, is_sealed_name, sealed_at, segment_stem
from appliance.storage.filenames import (
    file_records,
    generation_id,
    generation_position,
    is_data_file_name,
    split_file_name,
    store_file_name,
)


def test_a_store_file_name_reads_back_its_parts():
    name = store_file_name("host-ABCDEFGHIJKLMNOP", "00000000001700000000-12-ab12cd-1f", 7, 42)
    assert name == "host-ABCDEFGHIJKLMNOP.00000000001700000000-12-ab12cd-1f.0007.42.zst"
    assert split_file_name(name) == ("host-ABCDEFGHIJKLMNOP", "00000000001700000000-12-ab12cd-1f",
                                     "0007", "42")
    assert file_records(name) == 42
    assert is_data_file_name(name)


def test_names_that_are_not_store_files():
    assert split_file_name("imported.zst") is None
    assert file_records("imported.zst") == 0
    assert not is_data_file_name(".checkpoint.json")
    assert not is_data_file_name(".000001.zst")


def test_a_generation_id_names_its_spool_position_and_sorts_in_spool_order():
    first, later = generation_id("00000000001700000000-1-aa", 0x10), generation_id(
        "00000000001700000000-1-aa", 0x200)
    assert generation_position(first) == ("00000000001700000000-1-aa", 0x10)
    assert generation_position(first) < generation_position(later)
    assert generation_position("no-offset-xyz") is None


def test_a_sealed_segment_name_gives_its_stem_and_sealing_time(tmp_path: Path):
    spool = SpoolDir(tmp_path)
    spool.create()
    fd, _ = spool.open_current()
    os.close(fd)
    before = time.time()
    sealed = spool.seal_current()
    after = time.time()
    assert sealed is not None and is_sealed_name(sealed.name)
    assert not is_sealed_name(spool.current.name)
    assert sealed.name == f"sealed-{segment_stem(sealed)}.seg"
    assert before <= sealed_at(sealed) <= after
