"""Is a job's failure Python 2? One clear message instead of a bare SyntaxError.

A failure is Python 2 when the line it happened on is one `port_source`
rewrites: `print x` (SyntaxError), `import cStringIO` (ImportError),
`from string import maketrans` (ImportError), `d.iteritems()` in map
(AttributeError), `unicode(...)` (NameError), ... in the job's script or a
module of its folder. Anything else is the job's own mistake and keeps its
message.
"""

from __future__ import annotations

import functools
import re
import traceback
from pathlib import Path

from appliance.mr.modnames import JOB_MODULE_PREFIX
from appliance.mr.py2.port import PortError, port_source

_KINDS = (SyntaxError, ImportError, NameError, AttributeError, TypeError)


def failing_place(exc: BaseException) -> tuple[Path, int] | None:
    """The file and line where `exc` happened: a SyntaxError's own, else the innermost
    frame of its traceback."""
    if isinstance(exc, SyntaxError):
        return (Path(exc.filename), exc.lineno) if exc.filename and exc.lineno else None
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames or frames[-1].lineno is None:
        return None
    return Path(frames[-1].filename), frames[-1].lineno


@functools.lru_cache(maxsize=16)
def _ported_lines(path: str, mtime_ns: int) -> frozenset[int]:
    """The lines the port of file `path` rewrites (cached: a job may fail on many records)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        return frozenset(port_source(text, Path(path).name).changed_lines())
    except (OSError, UnicodeDecodeError, PortError):
        return frozenset()


def _is_python2_line(path: Path, line: int) -> bool:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return False
    return line in _ported_lines(str(path), mtime)


def python2_error(script: Path, exc: BaseException) -> str | None:
    """The message for a job `script` that failed with `exc` because it (or a module of
    its folder) is Python 2, else None."""
    if not isinstance(exc, _KINDS):
        return None
    place = failing_place(exc)
    if place is None:
        return None
    path, line = place[0].resolve(), place[1]
    if not path.is_relative_to(script.parent) or not _is_python2_line(path, line):
        return None
    where = "" if path == script else f"{path.relative_to(script.parent)} "
    source = path.read_text(encoding="utf-8")
    return (f"job script {script} is Python 2: {where}{_where(source, line, exc)}. Port it "
            f"with `appliance job port {script if not where else script.parent}` (writes a "
            f"Python 3 copy and shows the diff) or run it with --py2")


# Python 2 syntax on a line that does not compile: print and exec statements, `except E, e`,
# `raise E, msg`, long literals, `<>` and backquotes. A regular expression rather than a
# port, because submissions are checked on the server's event loop.
_PY2_SYNTAX = re.compile(r"^\s*(print|exec)\b(?!\s*\()|except\s+[^:]*,\s*\w+\s*:"
                         r"|^\s*raise\s+[\w.]+\s*,|\b\d+[lL]\b|<>|`")


def python2_source_error(source: str, name: str, exc: SyntaxError) -> str | None:
    """The message for a submitted script that does not compile because of Python 2
    syntax (recognised on the failing line, quickly: no port)."""
    lines = source.splitlines()
    line = exc.lineno or 0
    if not 0 < line <= len(lines) or not _PY2_SYNTAX.search(lines[line - 1]):
        return None
    return (f"script {name} is Python 2: {_where(source, line, exc)}. Submit it with "
            f"--py2 (the server ports it) or port it first with `appliance job port`")


def _where(source: str, line: int, exc: BaseException) -> str:
    lines = source.splitlines()
    code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    what = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return f"line {line}: {code!r:.80} ({type(exc).__name__}: {what})"


def python2_note(exc: BaseException) -> str:
    """For an error a job raised while running (map, reduce, ...): a line saying it is
    Python 2 and how to port it, or "". The job's script is the file of the traceback's
    frames that run in a job module (named by `appliance.mr.job.module_name`)."""
    script = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if str(frame.f_globals.get("__name__", "")).startswith(JOB_MODULE_PREFIX):
            script = Path(frame.f_code.co_filename).resolve()
    message = python2_error(script, exc) if script is not None else None
    return f"\n{message}" if message else ""
