"""Job scripts: plain Python modules with the 2013 Telemetry job functions.

A script defines, at module level::

    def map(key, dims, value, context): ...          # required
    def combine(key, values, context): ...           # optional, map-side, one value per key
    def reduce(key, values, context): ...            # optional; without it the job is map-only
    def setup_reduce(context): ...                   # optional, once per reducer process

`load_job` loads a script by path with importlib. The module name is derived
from the script's resolved path, so every worker process gives the same script
the same name (objects of classes defined in the script pickle between them)
and two scripts never share a name.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from appliance.mr.modnames import JOB_MODULE_PREFIX
from appliance.mr.py2.detect import python2_error, python2_note


class JobError(Exception):
    """A job that cannot run or that failed: the message names the script and what went wrong."""


class Python2JobError(JobError):
    """The script is Python 2 (the message says how to port it: `appliance.mr.py2`)."""


def describe_error(e: BaseException) -> str:
    """A job's error with its traceback (and, when the job is Python 2, how to port it)."""
    tb = traceback.format_exception(type(e), e, e.__traceback__)
    return "".join(tb).rstrip() + python2_note(e)


@dataclass(frozen=True)
class Job:
    """A loaded job script."""

    path: Path
    module: ModuleType | None  # None in a Dask task: its functions come pickled by value
    map: Callable[..., Any]  # the script's functions, called as the 2013 jobs were
    combine: Callable[..., Any] | None
    reduce: Callable[..., Any] | None
    setup_reduce: Callable[..., Any] | None

    @property
    def map_only(self) -> bool:
        return self.reduce is None


def module_name(path: Path) -> str:
    """The module name a script is loaded under: stable across processes, unique per path."""
    tag = f"{JOB_MODULE_PREFIX}{zlib.crc32(str(path).encode('utf-8', 'surrogatepass')):08x}"
    return f"{tag}_{path.stem}" if path.stem.isidentifier() else tag


_added: list[str] = []  # folders load_job put on sys.path in this process


def _use_folder(folder: str) -> None:
    """Put a job's folder on `sys.path`, in place of the folder of an earlier job of this
    process, whose modules are forgotten: two jobs' `helper` modules are never confused
    (a process running several jobs: the Python API, the Dask runner's driver, tests)."""
    for old in [f for f in _added if f != folder]:
        _added.remove(old)
        if old in sys.path:
            sys.path.remove(old)
        gone = [name for name, m in list(sys.modules.items())
                if "." not in name and not name.startswith(JOB_MODULE_PREFIX)
                and imported_from(m, old)]
        for name in list(sys.modules):
            if name.split(".")[0] in gone:
                del sys.modules[name]
    if folder not in sys.path:
        sys.path.append(folder)
        _added.append(folder)


def imported_from(module: ModuleType, folder: str) -> bool:
    """Whether top-level `module` was found in `folder` (a module or a package there)."""
    f = getattr(module, "__file__", None)
    if not f:
        return False
    f = Path(f)
    return str(f.parent) == folder or (f.name == "__init__.py" and str(f.parent.parent) == folder)


def load_job(path: str | Path) -> Job:
    """Load the job script at `path`; `JobError` if it cannot be loaded or has no `map`
    (`Python2JobError` when it failed because it is Python 2).

    The script's directory is put on `sys.path` (if it is not there yet) so it
    can import helper modules next to it (`_use_folder`).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise JobError(f"job script {path}: no such file")
    name = module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise JobError(f"job script {path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    _use_folder(str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # SyntaxError, ImportError, anything at import time
        sys.modules.pop(name, None)
        py2 = python2_error(path, e)
        if py2 is not None:
            raise Python2JobError(py2) from e
        raise JobError(f"job script {path} cannot be loaded: {type(e).__name__}: {e}") from e
    funcs: dict[str, Callable[..., Any] | None] = {}
    for fname in ("map", "combine", "reduce", "setup_reduce"):
        f = getattr(module, fname, None)
        if f is not None and not callable(f):
            raise JobError(f"job script {path}: {fname} is not a function")
        funcs[fname] = f
    map_func = funcs["map"]
    if map_func is None:
        raise JobError(f"job script {path} has no map(key, dims, value, context) function")
    return Job(path=path, module=module, map=map_func, combine=funcs["combine"],
               reduce=funcs["reduce"], setup_reduce=funcs["setup_reduce"])
