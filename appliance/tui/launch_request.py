"""Turning the launch form's fields into a job request, or into errors to show beside them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.jobs.request import JobRequest
from appliance.mr.plan import MODES as INPUTS

RUNNERS = ("server", "local", "dask")  # "server": the server's [jobs] runner


@dataclass(frozen=True)
class LaunchFields:
    """The form as typed: every value still a string."""

    script_path: str = ""
    script_text: str = ""
    filter: str = ""  # a path to a JSON filter, inline JSON, or empty for everything
    mappers: str = "2"
    reducers: str = "1"
    inputs: str = "all"
    dedupe: bool = False
    runner: str = "server"
    scheduler: str = ""  # empty: the server's [jobs] scheduler


def build_request(fields: LaunchFields, cwd: Path) -> tuple[JobRequest | None, dict[str, str]]:
    """A request for `submit_job` and no errors, or None and an error per field name.

    Files are read here, on the dashboard's side: the server gets script text and a
    filter object, so `appliance tui` on another machine's admin port works too.
    """
    errors: dict[str, str] = {}
    script, name = _script(fields, cwd, errors)
    filter_ = _filter(fields.filter.strip(), cwd, errors)
    mappers = _positive(fields.mappers, "mappers", errors)
    reducers = _positive(fields.reducers, "reducers", errors)
    if fields.inputs not in INPUTS:
        errors["inputs"] = f"inputs must be one of {', '.join(INPUTS)}"
    if fields.runner not in RUNNERS:
        errors["runner"] = f"runner must be one of {', '.join(RUNNERS)}"
    if errors:
        return None, errors
    runner = "" if fields.runner == "server" else fields.runner
    return JobRequest(script=script, name=name, filter=filter_, mappers=mappers,
                      reducers=reducers, inputs=fields.inputs, dedupe=fields.dedupe,
                      runner=runner, scheduler=fields.scheduler.strip()), {}


def _script(fields: LaunchFields, cwd: Path, errors: dict[str, str]) -> tuple[str, str]:
    path_text = fields.script_path.strip()
    if path_text and fields.script_text.strip():
        errors["script_path"] = "give a script path or paste a script, not both"
        return "", ""
    if not path_text:
        if not fields.script_text.strip():
            errors["script_path"] = "give a script path or paste a script"
        return fields.script_text, "pasted.py"
    text = _read(path_text, cwd, "script_path", errors)
    if text is not None and not text.strip():
        errors["script_path"] = f"{path_text} is empty"
    return text or "", Path(path_text).name


def _filter(value: str, cwd: Path, errors: dict[str, str]) -> dict[str, Any] | None:
    if not value:
        return None
    text: str | None
    source, text = "the filter", value  # inline JSON...
    if not value.startswith(("{", "[")):  # ...or a file name
        source, text = value, _read(value, cwd, "filter", errors)
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as e:
        errors["filter"] = f"bad JSON in {source}: {e.msg} (line {e.lineno}, column {e.colno})"
        return None
    if not isinstance(parsed, dict):
        errors["filter"] = f"{source} must be a JSON object"
        return None
    return parsed


def _read(path_text: str, cwd: Path, name: str, errors: dict[str, str]) -> str | None:
    path = (cwd / Path(path_text).expanduser())
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        errors[name] = f"no such file: {path_text}"
    except IsADirectoryError:
        errors[name] = f"{path_text} is a directory"
    except PermissionError:
        errors[name] = f"cannot read {path_text}: permission denied"
    except (OSError, UnicodeDecodeError) as e:
        errors[name] = f"cannot read {path_text}: {e}"
    return None


def _positive(value: str, name: str, errors: dict[str, str]) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        number = 0
    if number <= 0:
        errors[name] = f"{name} must be a positive whole number"
    return number
