"""The converter loop: spool segments in, store and invalid/ out, exactly once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading

import pytest

from appliance.convert.factory import converter_loop
from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
from tests import pings
from tests.stores import (
    NS_2026,
    check_exactly_once,
    check_ledger,
    config_for,
    make_spool,
    store_contents,
)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_segments_become_partitioned_store_files_and_are_deleted(tmp_path, processes):
    expected = make_spool(tmp_path, 60, per_segment=20)
    config, _ = config_for(tmp_path, APPLIANCE_CONVERTER_PROCESSES=processes)
    loop = converter_loop(config)
    loop.drain()
    check_exactly_once(tmp_path, expected)
    assert SpoolDir(tmp_path / "spool").sealed_segments() == []
    partitions = {p.parent.relative_to(tmp_path / "store").as_posix()
                  for p in (tmp_path / "store").rglob("*.zst")}
    date = "20261118"
    assert partitions == {
        f"telemetry/saved_session/Firefox/release/23.0/20130814063812/{date}",
        f"invalid/telemetry/saved_session/Firefox/release/23.0/20130814063812/{date}",
        f"invalid/telemetry/OTHER/OTHER/OTHER/UNKNOWN/UNKNOWN/{date}",
    }
    assert loop.counts.converted + loop.counts.invalid == 60
    check_ledger(tmp_path, expected)


def test_stopping_mid_segment_commits_and_resumes_at_the_offset(tmp_path):
    expected = make_spool(tmp_path, 50, per_segment=50)
    config, _ = config_for(tmp_path)
    stop = threading.Event()
    loop = converter_loop(config)
    convert = loop.converter.convert

    def convert_then_stop(record):
        if loop.counts.records == 17:
            stop.set()
        return convert(record)

    loop.converter.convert = convert_then_stop
    loop.recover()
    loop.run_once(stop)
    loop.commit()
    (segment,) = SpoolDir(tmp_path / "spool").sealed_segments()  # not done: kept
    assert loop.log.load().offsets[segment.name] > 0
    converter_loop(config).drain()
    check_exactly_once(tmp_path, expected)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_record_written_twice_is_converted_once(tmp_path, processes):
    spool = SpoolDir(tmp_path / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9)
    record = SpoolRecord(RecordIds().next(), NS_2026, "/submit/telemetry/twice", pings.body(1))
    appender.append([record])
    appender.rotate()
    appender.append([record])  # as after an fdatasync error: same record id, next segment
    appender.rotate()
    config, _ = config_for(tmp_path, APPLIANCE_CONVERTER_PROCESSES=processes)
    loop = converter_loop(config)
    loop.drain()
    assert store_contents(tmp_path / "store")[0] == ["twice"]
    assert loop.counts.duplicates == 1


@pytest.mark.slow
@pytest.mark.parametrize("processes", ["1", "2"])
def test_kill_9_at_random_points_loses_and_duplicates_nothing(tmp_path, processes):
    expected = make_spool(tmp_path, 3000, per_segment=60)
    _, env = config_for(tmp_path, APPLIANCE_STORE_MAX_FILE_AGE="0.01",
                        APPLIANCE_CONVERTER_PROCESSES=processes)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    child_env.update(env)
    argv = [sys.executable, "-m", "appliance", "_convert-worker", "--data-dir", str(tmp_path)]
    rng = random.Random(7)
    kills = 0
    for _ in range(40):
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 env=child_env)
        for _ in range(rng.randint(1, 3)):  # let it commit a few generations, then kill
            line = child.stdout.readline()
            if not line or json.loads(line)["idle"]:
                break
        child.kill()
        child.wait()
        child.stdout.close()
        kills += 1
        if not SpoolDir(tmp_path / "spool").sealed_segments():
            break
    assert kills >= 5
    config, _ = config_for(tmp_path)
    loop = converter_loop(config)
    loop.drain()
    check_exactly_once(tmp_path, expected)
    check_ledger(tmp_path, expected)
    assert not [p for p in (tmp_path / "store").rglob("*") if ".tmp" in p.parts and p.is_file()]


def test_server_converts_what_it_receives(tmp_path):
    from tests.integration.serverproc import ServerProcess, post

    data_dir = tmp_path / "data"
    spec_dir = pings.write_spec(tmp_path / "specs")
    server = ServerProcess(data_dir, env={
        "APPLIANCE_HISTOGRAMS_SPEC_DIR": str(spec_dir),
        "APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "0.2",
        "APPLIANCE_STORE_MAX_FILE_AGE": "0.2",
        "APPLIANCE_CONVERTER_IDLE_WAIT": "0.05",
    }).start()
    try:
        for i in range(20):
            path = f"/submit/telemetry/srv-{i}/{pings.DIMS}"
            assert post(server, path, pings.body(i), {"Content-Encoding": "gzip"}).status == 200
        assert post(server, "/submit/telemetry/broken", b"{oops").status == 200
        while True:
            match = server.wait_for_log(r"converter: (\d+) converted, (\d+) invalid")
            if (int(match[1]), int(match[2])) == (20, 1):
                break
    finally:
        assert server.stop() == 0
    valid, invalid, sample = store_contents(data_dir / "store")
    assert sorted(valid) == sorted(f"srv-{i}" for i in range(20))
    assert invalid == ["broken"]
    assert sample["ver"] == 2


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_generation_is_committed_once_it_holds_max_file_bytes(tmp_path, processes):
    expected = make_spool(tmp_path, 60, per_segment=60)
    config, _ = config_for(tmp_path, APPLIANCE_STORE_MAX_FILE_BYTES="4096",
                           APPLIANCE_CONVERTER_PROCESSES=processes)
    loop = converter_loop(config)
    loop.drain()
    assert loop.counts.commits > 3  # by size, long before max_file_age
    check_exactly_once(tmp_path, expected)


@pytest.mark.parametrize("processes", ["1", "2"])
@pytest.mark.parametrize(("received_ago", "commits_when_idle"), [(4000, 1), (10, 0)])
def test_out_of_work_a_generation_of_records_older_than_max_file_age_is_committed(
        tmp_path, processes, received_ago, commits_when_idle):
    """The end of a backlog is committed as soon as it is converted (its records have
    waited long enough); fresh records wait for the generation's max_file_age (3600 s
    here)."""
    expected = make_spool(tmp_path, 30, per_segment=10)
    config, _ = config_for(tmp_path, APPLIANCE_CONVERTER_PROCESSES=processes)
    idle = threading.Event()
    loop = converter_loop(config, on_report=lambda counts: counts.idle and idle.set())
    loop.wall = lambda: NS_2026 + received_ago * 10**9
    stop = threading.Event()
    running = threading.Thread(target=loop.run, args=(stop, 0.01))
    running.start()
    try:
        assert idle.wait(60), "the converter never ran out of work"
        assert loop.counts.commits == commits_when_idle
    finally:
        stop.set()
        running.join(60)
    check_exactly_once(tmp_path, expected)  # committed at the stop, in either case
