"""Installing histogram specs: checked as the converter loads them, written under the revision."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from appliance.cli.main import main
from appliance.convert.specinstall import SpecError, install, installed, parse_revision
from appliance.convert.specs import SpecStore
from tests import pings

REV = "0123456789ab"


def write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def test_a_named_file_is_installed_under_its_revision_and_the_converter_finds_it(tmp_path):
    source = write(tmp_path / f"{REV}.Histograms.json", pings.SPEC)
    done = install(source, tmp_path / "specs")
    assert (done.revision, done.histograms, done.unchanged) == (REV, 3, False)
    assert done.target == tmp_path / "specs" / f"{REV}.Histograms.json"
    assert set(SpecStore(tmp_path / "specs").get(REV)) == set(pings.SPEC)


def test_a_revision_url_names_the_revision_of_any_file(tmp_path):
    source = write(tmp_path / "Histograms.json", pings.SPEC)
    done = install(source, tmp_path / "specs", pings.REVISION)
    assert done.target.name == f"{REV}.Histograms.json"


def test_a_bucket_file_is_recognised_by_its_content(tmp_path):
    buckets = {"histograms": {"A": {"kind": "1", "buckets": [0, 1, 2, 3]}}}
    done = install(write(tmp_path / "b.json", buckets), tmp_path / "specs", REV)
    assert done.target.name == f"{REV}.buckets.json" and done.histograms == 1


@pytest.mark.parametrize("content,message", [
    ("{", "not JSON"),
    ("[1, 2]", "not a JSON object of definitions"),
    ('{"A": {"kind": "weird"}}', "no usable histogram definition in it (A: "),
])
def test_a_spec_the_converter_could_not_use_is_refused_and_nothing_written(tmp_path, content,
                                                                           message):
    source = tmp_path / "H.json"
    source.write_text(content)
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        install(source, tmp_path / "specs", REV)
    assert not (tmp_path / "specs").exists()


def test_a_file_without_a_revision_is_refused():
    with pytest.raises(SpecError, match="which revision is this"):
        install(Path("Histograms.json"), Path("specs"))
    with pytest.raises(SpecError, match="neither a revision hash"):
        parse_revision("latest")


def test_other_contents_replace_an_installed_spec_only_when_asked(tmp_path):
    first = write(tmp_path / f"{REV}.Histograms.json", pings.SPEC)
    install(first, tmp_path / "specs")
    assert install(first, tmp_path / "specs").unchanged
    other = write(tmp_path / "other.json", {"B": {"kind": "flag"}})
    with pytest.raises(SpecError, match="installed already with other contents"):
        install(other, tmp_path / "specs", REV)
    assert install(other, tmp_path / "specs", REV, replace=True).histograms == 1


def test_installed_lists_usable_and_unusable_files(tmp_path):
    specs = tmp_path / "specs"
    (specs / "cache").mkdir(parents=True)
    write(specs / f"{REV}.Histograms.json", pings.SPEC)
    (specs / "cache" / "abcdefabcdef.Histograms.json").write_text("{")
    rows = {row.revision: row for row in installed(specs)}
    assert rows[REV].histograms == 3 and rows[REV].problem is None
    assert rows["abcdefabcdef"].histograms is None and "not JSON" in rows["abcdefabcdef"].problem


def test_the_cli_adds_a_directory_and_lists_it(tmp_path):
    source = tmp_path / "from"
    source.mkdir()
    write(source / f"{REV}.Histograms.json", pings.SPEC)
    out, err = io.StringIO(), io.StringIO()
    data = str(tmp_path / "data")
    assert main(["specs", "add", "--data-dir", data, str(source)], out, err) == 0
    assert f"installed {REV}: 3 histograms" in out.getvalue()
    assert "appliance reconvert" in out.getvalue()
    out = io.StringIO()
    assert main(["specs", "ls", "--data-dir", data], out, err) == 0
    assert REV in out.getvalue() and "histograms" in out.getvalue()
    assert main(["specs", "add", "--data-dir", data, str(tmp_path / "none")], out, err) == 2
    assert "no such file or directory" in err.getvalue()
