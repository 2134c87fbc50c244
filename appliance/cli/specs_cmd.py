"""`appliance specs add|ls`: install and list the histogram specs the converter uses."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from appliance.cli.common import CommandError, Subparsers
from appliance.config import Config


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("specs", parents=[common], help="install and list histogram specs",
                       description="Histogram specs say which buckets each histogram of a "
                                   "revision has; the converter needs the spec of a ping's "
                                   "info.revision (docs/conversion.md).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", parents=[common], help="check and install Histograms.json or bucket files",
        description="Check each file as the converter would load it and install it in the "
                    "spec directory ([histograms] spec_dir, default <data_dir>/histograms) as "
                    "<revision>.Histograms.json or <revision>.buckets.json. A directory "
                    "installs every <revision>.Histograms.json / .buckets.json in it.")
    add.add_argument("paths", nargs="+", type=Path, metavar="FILE|DIR",
                     help="a Histograms.json (e.g. toolkit/components/telemetry/Histograms.json "
                          "of the client's source at that revision), a bucket file, or a "
                          "directory of <revision>.* files")
    add.add_argument("--revision", metavar="REV",
                     help="the revision of FILE: a hash, or a ping's info.revision URL (default: "
                          "from the file name <revision>.Histograms.json)")
    add.add_argument("--replace", action="store_true",
                     help="overwrite an installed spec of the same revision with other contents")
    add.set_defaults(run=run_add)
    ls = actions.add_parser("ls", parents=[common], help="list the installed specs",
                            description="Every spec in the spec directory and its cache/ "
                                        "(fetched from [histograms] server_url), with the "
                                        "number of histograms the converter can use.")
    ls.set_defaults(run=run_ls)


def run_add(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.convert.factory import spec_dir
    from appliance.convert.specinstall import SpecError, install, spec_files

    if args.revision is not None and len(args.paths) != 1:
        raise CommandError("--revision names the revision of one file: give one FILE")
    directory = spec_dir(config)
    try:
        sources = spec_files(args.paths)
        done = [install(path, directory, args.revision, replace=args.replace)
                for path in sources]
    except SpecError as e:
        raise CommandError(str(e)) from None
    for item in done:
        verb = "already installed" if item.unchanged else "installed"
        skipped = (f", {len(item.skipped)} definitions skipped "
                   f"({', '.join(sorted(item.skipped)[:5])}"
                   f"{', ...' if len(item.skipped) > 5 else ''})" if item.skipped else "")
        out.write(f"{verb} {item.revision}: {item.histograms} histograms{skipped} "
                  f"-> {item.target}\n")
    out.write("The converter uses a new spec for pings that arrive from now on (within "
              f"[histograms] retry_after, {config.histograms.retry_after:g} s, of a miss). "
              "Pings already in invalid/ as unknown_revision: stop the server and run "
              "`appliance reconvert`.\n")
    return 0


def run_ls(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.convert.factory import spec_dir
    from appliance.convert.specinstall import installed

    directory = spec_dir(config)
    rows = installed(directory)
    if not rows:
        out.write(f"no specs in {directory} (install one with `appliance specs add FILE`)\n")
        return 0
    out.write(f"{'REVISION':40}  {'HISTOGRAMS':>10}  FILE\n")
    for row in rows:
        count = str(row.histograms) if row.histograms is not None else "unusable"
        note = f"  ({row.problem})" if row.problem else ""
        out.write(f"{row.revision:40}  {count:>10}  {row.path}{note}\n")
    return 1 if any(row.problem for row in rows) else 0
