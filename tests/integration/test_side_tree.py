"""Jobs and the side tree of unknown histograms: read only by a filter that names it."""

from __future__ import annotations

import json

from appliance.convert.factory import converter_loop
from tests import pings
from tests.integration.test_mr_runner import cli
from tests.stores import config_for, spool_pings

KEYS_JOB = """\
import json

def map(key, dims, value, context):
    context.write(key, ",".join(sorted(json.loads(value))))
"""


def run(tmp_path, config, filter_doc) -> dict[str, str]:
    script = tmp_path / "keys.py"
    script.write_text(KEYS_JOB)
    out = tmp_path / "out.tsv"
    argv = ["job", "run", str(script), "--output", str(out), "--local-only"]
    if filter_doc is not None:
        (tmp_path / "f.json").write_text(json.dumps(filter_doc))
        argv += ["--filter", str(tmp_path / "f.json")]
    code, _, err = cli(argv, config)
    assert code == 0, err
    return dict(line.split("\t") for line in out.read_text().splitlines())


def test_jobs_see_the_2013_record_and_the_side_tree_only_when_named(tmp_path):
    docs = {f"d{i}": pings.ping(i) for i in range(6)}
    for i in (0, 3):
        docs[f"d{i}"]["histograms"]["MYSTERY"] = {"values": {"1": i}}
    spool_pings(tmp_path, docs)
    config, _ = config_for(tmp_path)
    converter_loop(config).drain()
    record_keys = ",".join(sorted(pings.ping(0)))
    for flt in (None, {"namespace": "*"}, {"version": 1, "dimensions": []}):
        assert run(tmp_path, config, flt) == {doc: record_keys for doc in docs}
    side = run(tmp_path, config, {"namespace": "telemetry-unknown-histograms"})
    assert side == {"d0": "revision,unknownHistograms", "d3": "revision,unknownHistograms"}
