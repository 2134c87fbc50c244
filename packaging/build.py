"""Build the one-file binary dist/appliance with PyInstaller, reproducibly.

    python packaging/build.py             # always build (what `make binary` runs)
    python packaging/build.py --if-stale  # only if a source is newer than the binary

The build pins the hash seed (`PYTHONHASHSEED=1`) and the timestamps
(`SOURCE_DATE_EPOCH` = the last commit's time), and never uses UPX.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "appliance.spec"
BINARY = ROOT / "dist" / "appliance"
SOURCES = [ROOT / "appliance", ROOT / "packaging", ROOT / "pyproject.toml"]


def newest_source() -> float:
    """The latest modification time of anything the binary is built from."""
    newest = 0.0
    for source in SOURCES:
        paths = source.rglob("*") if source.is_dir() else [source]
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                newest = max(newest, path.stat().st_mtime)
    return newest


def is_stale() -> bool:
    """True when dist/appliance is missing or older than a source file."""
    return not BINARY.exists() or BINARY.stat().st_mtime < newest_source()


def source_date_epoch() -> str:
    """The last commit's time (falls back to now outside a git checkout)."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        out = ""
    return out or str(int(time.time()))


def build() -> float:
    """Run PyInstaller on the spec; returns the seconds it took."""
    env = dict(os.environ, PYTHONHASHSEED="1",
               SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH") or source_date_epoch())
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
                    "--log-level", "WARN", "--distpath", str(BINARY.parent),
                    "--workpath", str(ROOT / "build" / "pyinstaller"), str(SPEC)],
                   cwd=ROOT, env=env, check=True)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--if-stale", action="store_true",
                        help="keep dist/appliance if it is newer than every source file")
    args = parser.parse_args()
    if args.if_stale and not is_stale():
        print(f"{BINARY.relative_to(ROOT)} is up to date")
        return 0
    seconds = build()
    size = BINARY.stat().st_size
    print(f"{BINARY.relative_to(ROOT)}: {size / 2**20:.1f} MiB, built in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
