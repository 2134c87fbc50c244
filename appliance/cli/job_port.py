"""`appliance job port SCRIPT`: a Python 3 copy of a 2013 (Python 2) job, and the diff
(`appliance.mr.py2.port`; `job run --py2` ports on the fly in `job_files`)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import TextIO

from appliance.cli.common import CommandError, Subparsers
from appliance.config import Config


def add_parser(actions: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `appliance job port` to `appliance job`."""
    p = actions.add_parser("port", parents=[common], help="port a Python 2 job to Python 3",
                           description="Rewrite a 2013 (Python 2) job as Python 3 with fissix "
                                       "and fixers for what 2013 jobs used; print the unified "
                                       "diff and notes on lines to check; write the port to a "
                                       "new file (a job directory: a new directory). The "
                                       "original is never changed.")
    p.add_argument("script", type=Path, metavar="SCRIPT",
                   help="the job script (.py) or job directory")
    p.add_argument("-o", "--output", type=Path, metavar="OUT",
                   help="where the port goes (default: NAME_py3.py next to the script; for a "
                        "directory DIR_py3)")
    p.set_defaults(run=port_command)


def port_command(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.mr.py2.port import PortError, port_job, ported_name

    src = args.script
    if not src.exists():
        raise CommandError(f"job {src}: no such file or directory")
    if src.suffix.lower() == ".zip":
        raise CommandError(f"job {src}: unzip it and port the directory")
    dest = args.output or (src.with_name(src.name + "_py3") if src.is_dir() else ported_name(src))
    if dest.resolve() == src.resolve():
        raise CommandError(f"job port never changes the original: choose another -o than {src}")
    if src.is_dir() and dest.exists():
        raise CommandError(f"{dest} exists: remove it or choose another -o")
    staging = dest.with_name(f".{dest.name}.porting")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        script, ported = port_job(src, src if src.is_dir() else None, staging)
    except PortError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise CommandError(str(e)) from None
    except UnicodeDecodeError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise CommandError(f"job {src}: a .py file that is not UTF-8 text: {e}") from None
    if src.is_dir():
        staging.rename(dest)
    else:
        script.replace(dest)
        staging.rmdir()
    for p in ported:
        out.write(p.diff(f"{dest.name}/{p.name}" if src.is_dir() else dest.name))
        for note in p.notes:
            out.write(f"note: {p.name}: {note}\n")
    if not any(p.changed for p in ported):
        out.write(f"{src}: nothing to port (already Python 3)\n")
    out.write(f"wrote {dest}\n")
    return 0
