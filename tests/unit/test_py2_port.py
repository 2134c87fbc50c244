"""`appliance.mr.py2`: what the port rewrites, what it only notes, and which load failures
are called Python 2."""

from __future__ import annotations

import pytest

from appliance.mr.job import JobError, Python2JobError, load_job
from appliance.mr.py2.detect import python2_error
from appliance.mr.py2.port import PortError, port_source


@pytest.mark.parametrize("py2, py3", [
    ("print 'x', k\n", "print('x', k)\n"),
    ("print >>sys.stderr, e\n", "print(e, file=sys.stderr)\n"),
    ("for a, b in d.iteritems(): pass\n", "for a, b in d.items(): pass\n"),
    ("if d.has_key('x'): pass\n", "if 'x' in d: pass\n"),
    ("import cStringIO\nf = cStringIO.StringIO()\n", "import io\nf = io.StringIO()\n"),
    ("from StringIO import StringIO\n", "from io import StringIO\n"),
    ("t = string.maketrans('ab', 'xy')\n", "t = str.maketrans('ab', 'xy')\n"),
    ("from string import maketrans\n", "maketrans = str.maketrans\n"),
    ("s.translate(None, ',')\n", "s.translate(str.maketrans('', '', ','))\n"),
    ("isinstance(s, basestring) and unicode(s)\n", "isinstance(s, str) and str(s)\n"),
    ("n = long(x) + 1L\n", "n = int(x) + 1\n"),
    ("try:\n    pass\nexcept ValueError, e:\n    pass\n",
     "try:\n    pass\nexcept ValueError as e:\n    pass\n"),
    ("if a <> b: pass\n", "if a != b: pass\n"),
    ("for i in xrange(3): pass\n", "for i in range(3): pass\n"),
    ("m = s[len(s) / 2] + s[(n - 1) / 2:][0]\n", "m = s[len(s) // 2] + s[(n - 1) // 2:][0]\n"),
    ("for i in xrange(1, n / 2): pass\n", "for i in range(1, n // 2): pass\n"),
])
def test_the_port_rewrites_what_2013_jobs_used(py2, py3):
    ported = port_source(py2)
    assert ported.text == py3 and ported.changed
    compile(ported.text, "job.py", "exec")


def test_lines_that_changed_meaning_are_noted_not_rewritten():
    src = ("a = n / 2\nb = s.encode('utf8')\nc = io.BytesIO()\nd = sorted(x, cmp=f)\n"
           "e = n // 2\nf = s[i] / 2\n")
    ported = port_source(src)
    assert ported.text == src and not ported.changed
    assert [n.split(":")[0] for n in ported.notes] == ["line 1", "line 2", "line 3", "line 4",
                                                        "line 6"]
    assert "'//'" in ported.notes[0]
    assert port_source("from __future__ import division\na = n / 2\n").notes == []


def test_a_python3_script_is_left_as_it_is_and_a_broken_one_is_an_error():
    src = "import json\n\ndef map(k, d, v, cx):\n    cx.write(k, sorted(json.loads(v)))\n"
    assert not port_source(src).changed
    with pytest.raises(PortError, match="line 1: cannot parse"):
        port_source("def (:\n")


def test_the_diff_and_the_changed_lines():
    ported = port_source("x = 1\nprint x\ny = 2\n", "job.py")
    assert ported.changed_lines() == {2}
    assert ported.diff("job_py3.py").splitlines()[:2] == ["--- job.py", "+++ job_py3.py"]
    assert "-print x" in ported.diff() and "+print(x)" in ported.diff()


@pytest.mark.parametrize("text, line, kind", [
    ("import json\nprint 'hi'\ndef map(k, d, v, c): pass\n", 2, "SyntaxError"),
    ("import cStringIO\ndef map(k, d, v, c): pass\n", 1, "ModuleNotFoundError"),
    ("from string import maketrans\ndef map(k, d, v, c): pass\n", 1, "ImportError"),
    ("T = unicode('x')\ndef map(k, d, v, c): pass\n", 1, "NameError"),
])
def test_a_python2_load_failure_names_the_line_and_the_way_out(tmp_path, text, line, kind):
    path = tmp_path / "old.py"
    path.write_text(text)
    with pytest.raises(Python2JobError) as e:
        load_job(path)
    message = str(e.value)
    assert f"{path} is Python 2: line {line}:" in message and f"({kind}:" in message
    assert f"appliance job port {path}" in message and "--py2" in message


@pytest.mark.parametrize("text", [
    "import no_such_module_here\ndef map(k, d, v, c): pass\n",
    "def map(k, d, v, c):\n    return (\n",
    "x = undefined_name\ndef map(k, d, v, c): pass\n",
])
def test_other_load_failures_keep_their_own_message(tmp_path, text):
    path = tmp_path / "new.py"
    path.write_text(text)
    with pytest.raises(JobError) as e:
        load_job(path)
    assert not isinstance(e.value, Python2JobError) and "cannot be loaded" in str(e.value)
    assert python2_error(path, e.value.__cause__) is None
