"""A job submission: checked field by field, so a bad one is a clear 400 and nothing else."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from appliance.mr.bundle import BundleError, check
from appliance.mr.plan import MODES
from appliance.mr.py2.detect import python2_source_error
from appliance.storage.filters import Filter
from appliance.storage.schema import SchemaError

if TYPE_CHECKING:
    from appliance.storage.keys import SchemaSource

MAX_SCRIPT_BYTES = 1 << 20
MAX_NAME_BYTES = 200  # well below NAME_MAX (255 bytes) on every Linux file system
RUNNERS = ("", "local", "dask")  # "": the server's [jobs] runner


class JobRequestError(ValueError):
    """A bad submission; the message names the field and what is wrong."""


@dataclass(frozen=True)
class JobRequest:
    """What to run: the script's text and the options of `appliance job run`."""

    script: str
    name: str = "job.py"
    filter: dict[str, Any] | None = None
    mappers: int = 2
    reducers: int = 1
    inputs: str = "all"
    dedupe: bool = False
    max_errors: int = 0
    timeout: float | None = None
    runner: str = ""      # "local" or "dask"; "" is the server's [jobs] runner
    scheduler: str = ""   # the Dask scheduler address; "" is the server's [jobs] scheduler
    bundle: str = ""      # base64 zip of a job directory (appliance.mr.bundle); name is in it
    py2: bool = False     # a Python 2 script, ported by the worker before it runs

    def options(self) -> dict[str, Any]:
        """Everything but the script and its files, as shown in job listings and kept in
        request.json."""
        out = asdict(self)
        del out["script"], out["bundle"]
        return out

    def submission(self) -> dict[str, Any]:
        """The JSON object to submit: the script and every field not at its default, so the
        server's own defaults (its [jobs] timeout, runner and scheduler) apply to the rest."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name == "script" or getattr(self, f.name) != f.default}

    @classmethod
    def from_options(cls, options: dict[str, Any], script: str) -> JobRequest:
        """A stored request back from its `options()` and its script's text."""
        return cls(script=script, **options)


def _int(obj: dict[str, Any], name: str, default: int, minimum: int) -> int:
    value = obj.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise JobRequestError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def _file_name(name: Any) -> str:
    """The script's name, which becomes a file in the job's directory: one plain name."""
    if not isinstance(name, str) or not name:
        raise _bad_name("a non-empty string", name)
    problem = None
    if name in (".", "..") or "/" in name or "\\" in name:
        problem = "one file name, not a path"
    elif not name.isprintable():
        problem = "printable characters only (no NUL or control characters)"
    else:
        try:
            if len(name.encode("utf-8")) > MAX_NAME_BYTES:
                problem = f"at most {MAX_NAME_BYTES} bytes long"
        except UnicodeEncodeError:
            problem = "valid Unicode"
    if problem:
        raise _bad_name(problem, name)
    return name


def _bad_name(problem: str, name: Any) -> JobRequestError:
    return JobRequestError(f"name must be {problem}, e.g. count.py; got {name!r:.80}")


def parse_request(obj: Any, schemas: SchemaSource = None,
                  default_timeout: float | None = None) -> JobRequest:
    """Check a submitted JSON object; raises JobRequestError naming the first problem.

    The script must compile and the filter must parse (with `schemas`), so a
    job that cannot start is refused at the door rather than failing later.
    """

    if not isinstance(obj, dict):
        raise JobRequestError("a job request is a JSON object")
    known = set(JobRequest.__dataclass_fields__)
    unknown = sorted(set(obj) - known)
    if unknown:
        raise JobRequestError(f"unknown fields {unknown} (known: {sorted(known)})")
    script = obj.get("script")
    if not isinstance(script, str) or not script.strip():
        raise JobRequestError("script must be the job script's Python source text")
    if len(script.encode()) > MAX_SCRIPT_BYTES:
        raise JobRequestError(f"script is larger than {MAX_SCRIPT_BYTES} bytes")
    name = _file_name(obj.get("name", "job.py"))
    py2 = obj.get("py2", False)
    if not isinstance(py2, bool):
        raise JobRequestError(f"py2 must be true or false, not {py2!r}")
    if not py2:
        _compiles(script, name)
    bundle = _bundle(obj.get("bundle", ""), name)
    flt = obj.get("filter")
    if flt is not None:
        try:
            Filter.from_dict(flt, schemas).check_dimensions()
        except (SchemaError, ValueError, TypeError) as e:
            raise JobRequestError(f"filter: {e}") from None
    inputs = obj.get("inputs", "all")
    if inputs not in MODES:
        raise JobRequestError(f"inputs must be one of {list(MODES)}, not {inputs!r}")
    dedupe = obj.get("dedupe", False)
    if not isinstance(dedupe, bool):
        raise JobRequestError(f"dedupe must be true or false, not {dedupe!r}")
    runner = obj.get("runner", "")
    if runner not in RUNNERS:
        raise JobRequestError(f"runner must be one of {list(RUNNERS)}, not {runner!r}")
    scheduler = obj.get("scheduler", "")
    if not isinstance(scheduler, str) or not scheduler.isprintable():
        raise JobRequestError(f"scheduler must be an address like tcp://HOST:8786, "
                              f"not {scheduler!r:.80}")
    timeout = obj.get("timeout", default_timeout)
    if timeout is not None and (isinstance(timeout, bool)
                                or not isinstance(timeout, int | float) or timeout <= 0):
        raise JobRequestError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return JobRequest(script=script, name=name, filter=flt,
                      mappers=_int(obj, "mappers", 2, 1), reducers=_int(obj, "reducers", 1, 1),
                      inputs=inputs, dedupe=dedupe, max_errors=_int(obj, "max_errors", 0, 0),
                      timeout=None if timeout is None else float(timeout), runner=runner,
                      scheduler=scheduler, bundle=bundle, py2=py2)


def _compiles(script: str, name: str) -> None:
    try:
        compile(script, name, "exec")
    except SyntaxError as e:
        py2 = python2_source_error(script, name, e)
        raise JobRequestError(py2 or f"script {name} does not compile: {e.msg} "
                                     f"(line {e.lineno})") from None


def _bundle(value: Any, name: str) -> str:
    """A job directory's zip (base64), checked to hold `name` and nothing that could escape
    the job's folder."""
    if value == "":
        return ""
    if not isinstance(value, str):
        raise JobRequestError("bundle must be a zip of the job's directory, in base64")
    try:
        check(base64.b64decode(value, validate=True), "bundle", entry=name)
    except (binascii.Error, ValueError) as e:  # BundleError is a ValueError
        raise JobRequestError(str(e) if isinstance(e, BundleError) else
                              f"bundle is not base64: {e}") from None
    return value
