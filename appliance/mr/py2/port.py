"""Rewrite a Python 2 job script as Python 3 (`appliance job port`, `job run --py2`).

fissix's fixers for what 2013 jobs used (print statements, dict iteration
methods, renamed modules such as cStringIO, unicode/basestring/long, ...),
plus our own: `string.maketrans`, `s.translate(None, chars)`, and notes on
lines whose meaning changed silently (integer '/', `.encode()`). Fixers are
named, not discovered, so the frozen binary (no package directory to list)
runs the same set.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import fissix
from fissix.pgen2.parse import ParseError
from fissix.pgen2.tokenize import TokenError

if TYPE_CHECKING:  # only for the annotation: it is imported after _grammar_cache (_tool)
    from fissix.refactor import RefactoringTool

# fissix's own fixers, except those that only restyle code (idioms, ws_comma,
# set_literal), that need the files around the script (import: a job is not a
# package) or that change what a job means (input: jobs read no stdin).
_FISSIX = ("apply", "asserts", "basestring", "buffer", "dict", "except", "exec", "execfile",
           "exitfunc", "filter", "funcattrs", "getcwdu", "has_key", "imports", "imports2",
           "intern", "isinstance", "itertools", "itertools_imports", "long", "map",
           "metaclass", "methodattrs", "ne", "next", "nonzero", "numliterals", "operator",
           "paren", "print", "raise", "raw_input", "reduce", "reload", "renames", "repr",
           "standarderror", "sys_exc", "throw", "tuple_params", "types", "unicode", "urllib",
           "xrange", "xreadlines", "zip")
_OURS = ("maketrans", "translate_delete", "division", "py3_notes")
FIXERS = tuple(f"fissix.fixes.fix_{n}" for n in _FISSIX) + tuple(
    f"appliance.mr.py2.fixers.fix_{n}" for n in _OURS)

def _grammar_cache() -> None:
    """Give fissix a writable cache for its grammar tables: it writes them under the user's
    cache dir and fails when there is none (a service user without a home)."""
    try:
        fissix.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    except OSError:
        fissix.CACHE_DIR = Path(tempfile.gettempdir()) / f"appliance-fissix-{os.getuid()}"


_LINE = re.compile(r"Line (\d+): (.*)")


class PortError(Exception):
    """The script is neither Python 2 nor Python 3 that the porter can parse."""


@dataclass(frozen=True)
class Ported:
    """A ported script: its new text and what the analyst should look at."""

    name: str
    original: str
    text: str
    notes: list[str] = field(default_factory=list)  # "line N: what to check"

    @property
    def changed(self) -> bool:
        return self.text != self.original

    def diff(self, new_name: str | None = None) -> str:
        """The unified diff from the original to the port (empty when nothing changed)."""
        return "".join(difflib.unified_diff(
            self.original.splitlines(keepends=True), self.text.splitlines(keepends=True),
            fromfile=self.name, tofile=new_name or self.name))

    def changed_lines(self) -> set[int]:
        """Line numbers (1-based) of the original that the port rewrote."""
        lines: set[int] = set()
        matcher = difflib.SequenceMatcher(None, self.original.splitlines(),
                                          self.text.splitlines(), autojunk=False)
        for tag, i1, i2, _, _ in matcher.get_opcodes():
            if tag != "equal":
                lines.update(range(i1 + 1, max(i2, i1 + 1) + 1))
        return lines


def _tool() -> RefactoringTool:
    _grammar_cache()
    # After _grammar_cache: importing fissix.refactor loads (and caches) the grammar tables.
    from fissix.refactor import RefactoringTool

    return RefactoringTool(list(FIXERS), options={"print_function": False})


def port_source(text: str, name: str = "job.py") -> Ported:
    """Port one script's source; `PortError` (with the line) when it cannot be parsed."""
    tool = _tool()
    source = text if text.endswith("\n") else text + "\n"  # fissix needs the last newline
    try:
        tree = tool.refactor_string(source, name)
    except ParseError as e:
        line = e.context[1][0] if e.context and len(e.context) > 1 else "?"
        raise PortError(f"{name}: line {line}: cannot parse as Python 2 or 3 "
                        f"(near {e.value!r})") from None
    except (TokenError, IndentationError) as e:
        raise PortError(f"{name}: cannot parse as Python 2 or 3: {e}") from None
    out = str(tree)
    if not text.endswith("\n"):
        out = out[:-1]
    return Ported(name, text, out, _notes(tool.fixer_log))


def _notes(log: list[str]) -> list[str]:
    """fissix's messages as sorted, distinct "line N: ..." notes."""
    notes: dict[tuple[int, str], None] = {}
    line = 0
    for message in log:
        m = _LINE.match(message)
        if m:
            line = int(m.group(1))
            text = m.group(2)
        elif message.startswith("###"):
            continue
        else:  # the reason under a "could not convert" line
            text = message
        notes[(line, text)] = None
    return [f"line {n}: {t}" for n, t in sorted(notes)]


def ported_name(path: Path) -> Path:
    """Where `appliance job port` writes a script's port by default: `<stem>_py3.py`."""
    return path.with_name(f"{path.stem}_py3{path.suffix or '.py'}")


def port_tree(folder: Path) -> list[Ported]:
    """Port every .py file under `folder` in place; the ports that changed or noted something."""
    done = []
    for path in sorted(folder.rglob("*.py")):
        ported = port_source(path.read_text(encoding="utf-8"),
                             path.relative_to(folder).as_posix())
        if ported.changed:
            path.write_text(ported.text, encoding="utf-8")
        if ported.changed or ported.notes:
            done.append(ported)
    return done


def port_job(script: Path, folder: Path | None, dest: Path) -> tuple[Path, list[Ported]]:
    """Port a job into the new directory `dest`: the whole of `folder` (a job directory)
    when given, else the script alone. The ported script's path, and what changed."""
    if folder is not None:
        shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return dest / script.relative_to(folder), port_tree(dest)
    dest.mkdir(parents=True)
    ported = port_source(script.read_text(encoding="utf-8"), script.name)
    (dest / script.name).write_text(ported.text, encoding="utf-8")
    return dest / script.name, [ported] if ported.changed or ported.notes else []
