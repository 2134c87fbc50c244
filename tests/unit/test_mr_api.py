"""The job API pieces: loading scripts, contexts, canonical keys, balancing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from appliance.mr import JobError, load_job
from appliance.mr.context import MapContext, ReduceContext, setup_header
from appliance.mr.inputs import InputFile, balance
from appliance.mr.keys import canonical_key


def test_load_job_finds_the_functions(tmp_path):
    script = tmp_path / "j.py"
    script.write_text("def map(k, d, v, c): c.write(k, 1)\ndef reduce(k, vs, c): pass\n")
    job = load_job(script)
    assert job.map and job.reduce and job.combine is None and not job.map_only


@pytest.mark.parametrize("text, words", [
    ("x = 1\n", "has no map"),
    ("def map(:\n", "cannot be loaded: SyntaxError"),
    ("import no_such_module_xyz\n", "ModuleNotFoundError"),
    ("map = 3\n", "map is not a function"),
])
def test_a_bad_script_is_a_clear_job_error(tmp_path, text, words):
    script = tmp_path / "bad.py"
    script.write_text(text)
    with pytest.raises(JobError, match=words) as e:
        load_job(script)
    assert str(script) in str(e.value)


def test_a_missing_script_is_a_job_error(tmp_path):
    with pytest.raises(JobError, match="no such file"):
        load_job(tmp_path / "nope.py")


def test_reduce_context_formats_records_with_the_separators():
    out = []
    ctx = ReduceContext(out.append)
    ctx.write("k", 3)
    ctx.field_separator, ctx.record_separator = ",", "\r\n"
    ctx.write(("a", 1), [2])
    ctx.writeline("just this")
    assert out == ["k\t3\n", "('a', 1),[2]\r\n", "just this\r\n"]


def test_writecsv_is_the_csv_default_dialect_whatever_the_separators():
    # 2013 wrote csv.writer(file).writerow(fields): comma, minimal quoting, CRLF
    out = []
    ctx = ReduceContext(out.append)
    ctx.field_separator, ctx.record_separator = ";", "\n"
    ctx.writecsv(["x,y", 5, 'q"', None, 1.5, "a;b"])
    assert out == ['"x,y",5,"q""",,1.5,a;b\r\n']


def test_setup_header_is_what_setup_reduce_writes(tmp_path):
    script = tmp_path / "header.py"
    script.write_text("def map(k, d, v, c):\n    pass\n"
                      "def setup_reduce(c):\n    c.field_separator = ','\n"
                      "    c.writecsv(['channel', 'count'])\n    c.writeline('# by channel')\n")
    assert setup_header(load_job(script)) == "channel,count\r\n# by channel\n"


def test_setup_header_without_setup_reduce_is_empty(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text("def map(k, d, v, c):\n    pass\n")
    assert setup_header(load_job(script)) == ""


def test_an_exception_in_setup_reduce_names_it(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("def map(k, d, v, c):\n    pass\n"
                      "def setup_reduce(c):\n    raise KeyError('nope')\n")
    with pytest.raises(JobError, match="setup_reduce raised KeyError"):
        setup_header(load_job(script))


def test_map_context_write_is_the_sink():
    got = []
    MapContext(lambda k, v: got.append((k, v))).write("a", 1)
    assert got == [("a", 1)]


def test_canonical_keys_are_the_same_in_every_process():
    keys = "[('a', 1), frozenset({'x', 'y', 'z', 'w'}), 'é', 2.5, None, b'b', (1, ('n',))]"
    code = f"from appliance.mr import canonical_key; print([canonical_key(k) for k in {keys}])"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2", "3")}
    assert len(outs) == 1
    assert canonical_key(1) == canonical_key(1.0) == canonical_key(True) != canonical_key("1")
    assert canonical_key(("ab", "c")) != canonical_key(("a", "bc"))


def test_balance_spreads_bytes():
    files = [InputFile(f"f{i}", "t", (), size) for i, size in enumerate([90, 50, 40, 10, 10])]
    groups = balance(files, 2)
    assert sorted(sum(f.size for f in g) for g in groups) == [100, 100]
    assert len(balance(files[:1], 4)) == 1


@pytest.mark.parametrize("runner", ["local", "dask"])
def test_spool_and_s3_inputs_without_a_config_are_refused_at_once(tmp_path, runner):
    # Reading them needs the configuration; without it a mapper used to fail mid-run with
    # an AttributeError on None.
    from appliance.mr import LocalRunner
    from appliance.mr.inputs import RemoteInput, SpoolInput

    script = tmp_path / "j.py"
    script.write_text("def map(k, d, v, c): c.write(k, 1)\n")
    spool = SpoolInput(str(tmp_path / "spool"), (), 0)
    remote = RemoteInput("s3://b/k.zst", "telemetry", (), 1, "k.zst", "etag")
    if runner == "local":
        make = LocalRunner
    else:
        pytest.importorskip("distributed")
        from appliance.mr.dask_runner import DaskRunner

        def make(*args, **kwargs):
            return DaskRunner(*args, scheduler="tcp://127.0.0.1:1", **kwargs)
    for inputs in ([spool], [remote]):
        with pytest.raises(ValueError, match="need config="):
            make(script, inputs, tmp_path / "out.txt")
    store_file = InputFile(str(tmp_path / "a.zst"), "telemetry", (), 0)
    make(script, [store_file], tmp_path / "out.txt")  # store files need no config
