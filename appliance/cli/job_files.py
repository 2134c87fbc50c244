"""The files of a job given on the command line: a script, a directory or a zip
(`appliance.mr.bundle`), ported on the fly with --py2, its libraries on the python path."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any, TextIO

from appliance.cli.common import CommandError
from appliance.config import Config


def add_options(p: argparse.ArgumentParser, *, local: bool) -> None:
    """--py2 (and, for a job run here, --python-path) of `job run` and `job submit`."""
    p.add_argument("--py2", action="store_true",
                   help="the job is Python 2 (2013): port it to Python 3 first, into the "
                        "job's work dir (see `appliance job port`)")
    if local:
        p.add_argument("--python-path", action="append", default=[], metavar="DIR",
                       help="a site directory with the job's libraries (repeatable; after "
                            "[jobs] python_path)")


def local_job(args: argparse.Namespace, config: Config, scratch: Path,
              err: TextIO) -> tuple[Path, Path | None]:
    """(script to run, its filter file or None) for `job run`: a bundle is opened (a zip
    extracted under `scratch`), --py2 ports into `scratch` (notes to `err`), and the python
    path is added to this process (and so to its mapper and reducer processes)."""
    from appliance.mr.bundle import BundleError, is_bundle, open_job
    from appliance.mr.job import JobError
    from appliance.mr.pythonpath import add_site_dirs, python_path

    try:
        files = open_job(args.script, scratch)
        extra = list(args.python_path)
        script = files.script
        if args.py2:
            from appliance.mr.py2.port import PortError, port_job

            whole = is_bundle(args.script)
            try:
                script, ported = port_job(files.script, files.folder if whole else None,
                                          scratch / "py3")
            except PortError as e:
                raise CommandError(str(e)) from None
            for p in ported:
                for note in p.notes:
                    print(f"py2: {p.name}: {note}", file=err, flush=True)
            if not whole:  # helper modules next to a lone script stay importable
                extra.append(files.folder)
        add_site_dirs(python_path(config, extra))
    except (BundleError, JobError) as e:
        raise CommandError(str(e)) from None
    return script, args.filter or files.filter


def submitted_job(args: argparse.Namespace) -> dict[str, Any]:
    """The `JobRequest` fields naming a job's files for `job submit`: script, name, bundle
    (a directory or zip, base64), filter (from --filter, else the bundle's filter.json),
    py2."""
    import tempfile

    from appliance.mr.bundle import ENTRY, BundleError, is_bundle, open_job, pack

    fields: dict[str, Any] = {"py2": args.py2} if args.py2 else {}
    try:
        with tempfile.TemporaryDirectory(prefix="appliance-submit-") as tmp:
            files = open_job(args.script, Path(tmp))
            fields["script"] = _text(files.script)
            fields["name"] = files.script.name
            if is_bundle(args.script):
                fields["name"] = ENTRY
                fields["bundle"] = base64.b64encode(pack(files.folder)).decode("ascii")
            flt = args.filter or files.filter
            fields["filter"] = _json(flt) if flt is not None else None
    except BundleError as e:
        raise CommandError(str(e)) from None
    return fields


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise CommandError(f"job script {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise CommandError(f"job script {path}: not UTF-8 text") from None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CommandError(f"filter {path}: cannot read: {e.strerror or e}") from None
    except ValueError as e:
        raise CommandError(f"filter {path}: not valid JSON: {e}") from None
