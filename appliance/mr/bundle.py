"""Jobs that bring their own files: a directory or a zip holding the script, helper
modules and optionally a filter (docs/mapreduce.md, "Jobs with helper modules").

    myjob/                     myjob.zip (the same files, at its root or in
        job.py                 one top folder)
        filter.json            optional: the filter when none is given
        myhelper.py            helper modules and packages the job imports
        mylib/__init__.py

The job's folder is on `sys.path` when the script loads (`load_job`), so
`import myhelper` works in every mapper and reducer, in the server's pool
(which gets the files as one zip: `pack`/`unpack`) and on Dask workers.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ENTRY = "job.py"
FILTER = "filter.json"
MAX_PACKED_BYTES = 2 << 20  # base64 in a job request, it stays under the admin API's limit
MAX_BUNDLE_BYTES = 16 << 20  # unpacked, in all
MAX_BUNDLE_FILES = 1000


class BundleError(ValueError):
    """A job directory or zip that cannot be used; the message says why."""


@dataclass(frozen=True)
class JobFiles:
    """Where a job's script is, the folder of its helpers, and its filter (or None)."""

    script: Path
    filter: Path | None = None

    @property
    def folder(self) -> Path:
        return self.script.parent


def is_bundle(path: Path) -> bool:
    """Whether `path` names a job directory or zip rather than a script."""
    return path.is_dir() or path.suffix.lower() == ".zip"


def open_job(path: Path, scratch: Path) -> JobFiles:
    """The files of the job at `path` (a script, a directory or a zip, which is extracted
    under `scratch`); `BundleError` when it is not a job."""
    if not is_bundle(path):
        return JobFiles(path)
    if path.is_dir():
        return _in_folder(path, path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BundleError(f"job {path}: {e.strerror or e}") from None
    dest = scratch / path.stem
    unpack(data, dest, str(path))
    return _in_folder(dest, path)


def _in_folder(folder: Path, shown: Path) -> JobFiles:
    if not (folder / ENTRY).is_file():
        tops = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        if len(tops) == 1 and (tops[0] / ENTRY).is_file():  # a zip of the folder itself
            folder = tops[0]
        else:
            raise BundleError(f"job {shown}: no {ENTRY} in it (a job directory or zip holds "
                              f"{ENTRY}, its helper modules and optionally {FILTER})")
    flt = folder / FILTER
    return JobFiles(folder / ENTRY, flt if flt.is_file() else None)


def _wanted(rel: PurePosixPath) -> bool:
    return not any(p.startswith(".") or p == "__pycache__" for p in rel.parts) \
        and rel.suffix not in (".pyc", ".pyo")


def pack(folder: Path) -> bytes:
    """A job directory as zip bytes (hidden files and bytecode left out)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            rel = PurePosixPath(p.relative_to(folder).as_posix())
            if p.is_file() and _wanted(rel):
                z.write(p, str(rel))
    return buf.getvalue()


def check(data: bytes, shown: str = "job bundle",
          entry: str | None = None) -> list[zipfile.ZipInfo]:
    """The zip members of bundle `data` to extract; `BundleError` for a packed bundle over
    `MAX_PACKED_BYTES`, one beyond the unpacked limits, a member that could escape its folder
    (absolute path, '..', a link) or, with `entry`, one without that file at its root."""
    if len(data) > MAX_PACKED_BYTES:
        raise BundleError(f"{shown}: more than {MAX_PACKED_BYTES >> 20} MiB packed (put large "
                          f"libraries on the python path instead)")
    try:
        members = [m for m in zipfile.ZipFile(io.BytesIO(data)).infolist() if not m.is_dir()]
    except zipfile.BadZipFile as e:
        raise BundleError(f"{shown}: not a zip file: {e}") from None
    if len(members) > MAX_BUNDLE_FILES:
        raise BundleError(f"{shown}: more than {MAX_BUNDLE_FILES} files")
    if sum(m.file_size for m in members) > MAX_BUNDLE_BYTES:
        raise BundleError(f"{shown}: more than {MAX_BUNDLE_BYTES >> 20} MiB unpacked")
    for m in members:
        rel = PurePosixPath(m.filename)
        if rel.is_absolute() or ".." in rel.parts or "\\" in m.filename \
                or (m.external_attr >> 16) & 0o170000 == 0o120000:  # a symlink
            raise BundleError(f"{shown}: {m.filename!r} would land outside the job's folder")
    if entry is not None and entry not in {m.filename for m in members}:
        raise BundleError(f"{shown}: no {entry} at its root")
    return [m for m in members if _wanted(PurePosixPath(m.filename))]


def unpack(data: bytes, dest: Path, shown: str = "job bundle") -> None:
    """Extract zip `data` (checked with `check`) into the new directory `dest`."""
    members = check(data, shown)
    dest.mkdir(parents=True)
    z = zipfile.ZipFile(io.BytesIO(data))
    for m in members:
        target = dest.joinpath(*PurePosixPath(m.filename).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with z.open(m) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)
