"""Inputs by identity against a real S3 server: an exported object that looks local but is not
is an error naming it, and --dedupe keeps the last arrival across nodes and within a batch."""

from __future__ import annotations

import pytest

from appliance.cli.common import CommandError
from appliance.convert.factory import converter_loop
from appliance.export.factory import build_uploader
from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
from tests import pings
from tests.integration.test_export import export_env, export_once
from tests.integration.test_mr_runner import EXAMPLES, cli, write_store
from tests.stores import NS_2026, config_for

MS = 1_000_000
UPTIME = ("import json\n\ndef map(k, d, v, c):\n"
          "    c.write(k, d[0] + ' ' + str(json.loads(v)['simpleMeasurements']['uptime']))\n")


def job(config, tmp_path, *flags) -> tuple[int, dict[str, str], str]:
    """The uptime job with default inputs: (exit code, docId -> "reason uptime", stderr)."""
    script = tmp_path / "uptime.py"
    script.write_text(UPTIME)
    out = tmp_path / "out.tsv"
    try:
        code, _, err = cli(["job", "run", str(script), "--filter",
                            str(EXAMPLES / "filters" / "all.json"), "--output", str(out),
                            "--mappers", "2", *flags], config)
    except CommandError as e:  # main() prints it and exits 1
        return 1, {}, str(e)
    rows = [line.split("\t") for line in out.read_text().splitlines()] if code == 0 else []
    return code, {doc: v for doc, v in rows}, err


@pytest.mark.parametrize("change", ["size", "checksum"])
def test_an_object_with_a_local_key_but_other_bytes_fails_the_job(tmp_path, s3, bucket,
                                                                 change):
    config, _ = config_for(tmp_path, **export_env(s3, bucket))
    store = tmp_path / "store"
    write_store(store, 100)
    keys = sorted(p.relative_to(store).as_posix() for p in store.rglob("*.zst"))
    uploader = build_uploader(config)
    for key in keys:
        uploader.export(store / key, key)
    bad = keys[3]
    data = bytearray((store / bad).read_bytes())
    if change == "size":
        data += b"\0"
    else:
        data[-1] ^= 0xFF
    uploader.client.put_object(Bucket=bucket, Key=f"node1/{bad}", Body=bytes(data))
    code, _, err = job(config, tmp_path)
    assert code != 0
    assert f"s3://{bucket}/node1/{bad}" in err and f"(local file {store / bad})" in err
    assert sum(key in err for key in keys) == 1  # only the ambiguous one is named


def spool_batch(data_dir, ids, records: list[tuple[str, str, int]]) -> None:
    """One sealed segment written as one batch: (docId, reason, received ns)."""
    spool = SpoolDir(data_dir / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9,
                               fsync=False)
    dims = pings.DIMS.split("/", 1)[1]
    batch = [SpoolRecord(ids.next(), ns, f"/submit/telemetry/{doc}/{reason}/{dims}",
                         pings.body(i)) for i, (doc, reason, ns) in enumerate(records)]
    assert appender.append(batch).acked == len(batch)
    appender.rotate()


def test_dedupe_within_a_batch_keeps_the_later_arrival(tmp_path, monkeypatch):
    """In one batch (one generation), an idle-daily then 10 ms later a saved-session of one
    docId: the saved-session wins, whether read from the spool or from the store, although
    its file was numbered first in the generation (another doc's saved-session came first)."""
    specs = str(pings.write_spec(tmp_path / "specs"))
    monkeypatch.setenv("APPLIANCE_HISTOGRAMS_SPEC_DIR", specs)
    config, _ = config_for(tmp_path, APPLIANCE_HISTOGRAMS_SPEC_DIR=specs)
    spool_batch(tmp_path, RecordIds(), [("other", "saved-session", NS_2026),
                                        ("doc", "idle-daily", NS_2026 + 1 * MS),
                                        ("doc", "saved-session", NS_2026 + 11 * MS)])
    code, spooled, err = job(config, tmp_path, "--dedupe")
    assert code == 0, err
    converter_loop(config).drain()
    code, stored, err = job(config, tmp_path, "--dedupe")
    assert code == 0, err
    assert spooled == stored == {"other": "saved_session 0", "doc": "saved_session 2"}
    code, every, _ = job(config, tmp_path)
    assert len(every) == 2  # the output has one line per docId; without dedupe map saw 3


@pytest.mark.parametrize("later", ["here", "there"])
def test_dedupe_across_nodes_keeps_the_later_arrival(tmp_path, s3, bucket, monkeypatch, later):
    """Node A holds an idle-daily of a docId (spool), node B a saved-session of it 10 ms
    earlier or later (exported): the job on A keeps the later one."""
    specs = str(pings.write_spec(tmp_path / "specs"))
    monkeypatch.setenv("APPLIANCE_HISTOGRAMS_SPEC_DIR", specs)
    env = export_env(s3, bucket, APPLIANCE_HISTOGRAMS_SPEC_DIR=specs)
    here, there = tmp_path / "a", tmp_path / "b"
    t_here, t_there = (NS_2026 + 10 * MS, NS_2026) if later == "here" else \
        (NS_2026, NS_2026 + 10 * MS)
    spool_batch(here, RecordIds(), [("doc", "idle-daily", t_here), ("a-only", "idle-daily", 5)])
    spool_batch(there, RecordIds(), [("doc", "saved-session", t_there)])
    config_there, _ = config_for(there, **env)
    converter_loop(config_there).drain()
    assert export_once(there, env)[0] == 0
    config_here, _ = config_for(here, **env)
    code, every, err = job(config_here, tmp_path)
    assert code == 0, err
    code, last, err = job(config_here, tmp_path, "--dedupe")
    assert code == 0, err
    assert last == {"doc": "idle_daily 0" if later == "here" else "saved_session 0",
                    "a-only": "idle_daily 1"}
