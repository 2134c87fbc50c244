"""Is a job script's load failure Python 2? One clear message instead of a bare SyntaxError.

A failure is Python 2 when the line it happened on is one `port_source`
rewrites: `print x` (SyntaxError), `import cStringIO` (ImportError),
`from string import maketrans` (ImportError), `unicode(...)` at module level
(NameError), ... Anything else is the script's own mistake and keeps its
message.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from appliance.mr.py2.port import PortError, port_source

_KINDS = (SyntaxError, ImportError, NameError, AttributeError)


def failing_line(path: Path, exc: BaseException) -> int | None:
    """The line of the script `path` at which `exc` was raised (None: not in the script)."""
    if isinstance(exc, SyntaxError):
        return exc.lineno if exc.filename in (str(path), None) or \
            Path(exc.filename).resolve() == path else None
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path:
            line = frame.lineno
    return line


def python2_error(path: Path, exc: BaseException) -> str | None:
    """The message for a script that failed to load with `exc` because it is Python 2,
    else None."""
    if not isinstance(exc, _KINDS):
        return None
    line = failing_line(path, exc)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if line is None or not _is_python2(source, path.name, line):
        return None
    return (f"job script {path} is Python 2: {_where(source, line, exc)}. Port it with "
            f"`appliance job port {path}` (writes a Python 3 copy and shows the diff) or run "
            f"it with --py2")


def python2_source_error(source: str, name: str, exc: SyntaxError) -> str | None:
    """The message for a submitted script that does not compile because it is Python 2."""
    if exc.lineno is None or not _is_python2(source, name, exc.lineno):
        return None
    return (f"script {name} is Python 2: {_where(source, exc.lineno, exc)}. Submit it with "
            f"--py2 (the server ports it) or port it first with `appliance job port`")


def _is_python2(source: str, name: str, line: int) -> bool:
    """Whether the port of `source` rewrites `line`."""
    try:
        return line in port_source(source, name).changed_lines()
    except PortError:
        return False


def _where(source: str, line: int, exc: BaseException) -> str:
    lines = source.splitlines()
    code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    what = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return f"line {line}: {code!r:.80} ({type(exc).__name__}: {what})"
