"""--dedupe: a job maps only the last submission of each docId, wherever the copies are."""

from __future__ import annotations

import io

from appliance.cli.main import main
from appliance.convert.factory import converter_loop
from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
from tests import pings
from tests.stores import NS_2026, config_for

EXTRACT = ("import json\n\ndef map(k, d, v, c):\n"
           "    c.write(k, json.loads(v)['simpleMeasurements']['uptime'])\n")


def write_round(data_dir, ids, r: int, docs: int) -> None:
    """One sealed segment in which doc-0..doc-N are submitted again (uptime 100 r + d)."""
    spool = SpoolDir(data_dir / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9,
                               fsync=False)
    batch = [SpoolRecord(ids.next(), NS_2026 + 1000 * r + d,
                         f"/submit/telemetry/doc-{d}/{pings.DIMS}", pings.body(100 * r + d))
             for d in range(docs)]
    assert appender.append(batch).acked == docs
    appender.rotate()


def run(tmp_path, *flags) -> dict[str, int]:
    script = tmp_path / "extract.py"
    script.write_text(EXTRACT)
    out_file = tmp_path / "out.tsv"
    code = main(["job", "run", str(script), "--filter", str(tmp_path / "all.json"), "--output",
                 str(out_file), "--data-dir", str(tmp_path / "data"), "--mappers", "2", *flags],
                stdout=io.StringIO(), stderr=io.StringIO())
    assert code == 0
    lines = [line.split("\t") for line in out_file.read_text().splitlines()]
    return [(doc, int(v)) for doc, v in lines]


def test_dedupe_keeps_the_last_copy_across_store_and_spool(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (tmp_path / "all.json").write_text('{"version": 1, "dimensions": []}')
    ids = RecordIds()
    specs = str(pings.write_spec(tmp_path / "specs"))
    monkeypatch.setenv("APPLIANCE_HISTOGRAMS_SPEC_DIR", specs)  # for the job's spool records
    config, _ = config_for(data, APPLIANCE_HISTOGRAMS_SPEC_DIR=specs)
    write_round(data, ids, 0, 10)
    write_round(data, ids, 1, 6)
    converter_loop(config).drain()  # rounds 0 and 1: one generation, one file
    write_round(data, ids, 2, 3)
    converter_loop(config).drain()  # round 2: a later generation
    write_round(data, ids, 3, 2)    # round 3 stays in the spool
    every = run(tmp_path)
    assert len(every) == 10 + 6 + 3 + 2
    last = dict(run(tmp_path, "--dedupe"))
    assert len(run(tmp_path, "--dedupe")) == 10  # one record per docId
    assert last == {f"doc-{d}": (300 if d < 2 else 200 if d < 3 else 100 if d < 6 else 0) + d
                    for d in range(10)}
