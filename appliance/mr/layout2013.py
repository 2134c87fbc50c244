"""Jobs over data published by the 2013 server: a tree of ``.lzma``/``.xz`` files.

The 2013 server wrote each telemetry partition to a log file named after the
schema's dimensions, every one but the last two as a directory and the last
two (appBuildID and submission_date) as the first two dot-separated fields of
the file name; its exporter compressed a full log with ``lzma`` and added a
unique suffix before uploading it::

    <reason>/<appName>/<appUpdateChannel>/<appVersion>/<appBuildID>.<submission_date>.v2.log.<uuid>.lzma

Each file holds one ``<docId>\\t<json>`` line per record (``.lzma`` is the
"alone" format; ``.xz`` files are read too). `select_2013_inputs` lists the
files of such a tree that a filter selects, pruning directories by their
values as `walk_partitions` does for the store; `records_2013` reads one. The
values are the path's, as 2013 jobs received them in ``dims``.
`select_dir_inputs` reads a directory given as a job's input either way.
"""

from __future__ import annotations

import lzma
import os
import re
from collections.abc import Iterator
from pathlib import Path

from appliance.mr.inputs import InputFile, select_inputs
from appliance.mr.sources import Record
from appliance.storage.filters import Filter
from appliance.storage.keys import TELEMETRY_TREE, SchemaSource, resolve_schemas
from appliance.storage.schema import Schema, is_safe_segment

SOURCE_2013 = "published-2013"  # the job summary's name for these records
# <value>.<value>.v<version>.log[.<suffix>].(lzma|xz); the suffix is the exporter's uuid.
_FILE = re.compile(r"(?P<a>[^.]+)\.(?P<b>[^.]+)\.v\d+\.log(\.[^.]+)*\.(lzma|xz)")
FILE_LEVELS = 2  # dimensions held by the file name


def file_dimensions(name: str) -> tuple[str, str] | None:
    """The two dimension values in a 2013 file name, or None if it is not one."""
    m = _FILE.fullmatch(name)
    if m is None or not (is_safe_segment(m["a"]) and is_safe_segment(m["b"])):
        return None
    return m["a"], m["b"]


def has_2013_files(root: Path) -> bool:
    """True if there is a 2013 data file anywhere under `root` (stops at the first)."""
    for _dir, _subdirs, names in os.walk(root):
        if any(file_dimensions(n) is not None for n in names):
            return True
    return False


def select_2013_inputs(root: Path, flt: Filter, schema: Schema,
                       left_out: list[str] | None = None) -> list[InputFile]:
    """The 2013 files under `root` that `flt` selects, as telemetry inputs.

    Directory levels are the schema's dimensions but its last two, which come
    from the file name. A directory is listed only if `flt.allows_prefix`
    accepts the values leading to it; hidden names and names that are not safe
    segments are skipped. Sorted by path. Other files where data files belong
    (an uncompressed ``.log`` still being written, a ``.compressme``) are not
    read: their paths go to `left_out`, for the caller to say so.
    """
    if len(schema) < FILE_LEVELS:
        raise ValueError(f"a 2013 tree needs a schema of at least {FILE_LEVELS} dimensions")
    dir_levels = len(schema) - FILE_LEVELS
    found: list[InputFile] = []

    def descend(path: Path, values: list[str]) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            if len(values) < dir_levels:
                if (e.is_dir(follow_symlinks=False) and is_safe_segment(e.name)
                        and flt.allows_prefix(TELEMETRY_TREE, [*values, e.name], schema=schema)):
                    descend(Path(e.path), [*values, e.name])
                continue
            dims = file_dimensions(e.name) if e.is_file(follow_symlinks=False) else None
            if dims is None and left_out is not None and e.is_file(follow_symlinks=False):
                left_out.append(e.path)
            if dims is not None and flt.allows(TELEMETRY_TREE, [*values, *dims], schema=schema):
                found.append(InputFile(e.path, TELEMETRY_TREE, (*values, *dims),
                                       e.stat().st_size, SOURCE_2013))

    if flt.allows_prefix(TELEMETRY_TREE, [], schema=schema):
        descend(Path(root), [])
    return sorted(found)


class NothingToRead(ValueError):
    """A directory given as a job's input holds no file a job can read."""


def select_dir_inputs(directory: Path, flt: Filter,
                      schemas: SchemaSource) -> tuple[list[InputFile], list[str]]:
    """The inputs of a directory given as a job's input, and notes for the user: its store
    files, or, when it holds none, its 2013 files; `NothingToRead` if it holds neither
    (whatever the filter), so that a wrong directory is not a job over nothing. No
    filter (None) selects every valid partition (`Filter.all_records`)."""
    flt = flt if flt is not None else Filter.all_records(schemas)
    files = select_inputs(directory, flt, schemas)
    if files:
        return files, []
    if has_2013_files(directory):
        left_out: list[str] = []
        files = select_2013_inputs(directory, flt, resolve_schemas(schemas)(TELEMETRY_TREE),
                                   left_out)
        notes = [f"{directory}: files of the 2013 server (<dims>/<appBuildID>."
                 f"<submission_date>.v2.log.<uuid>.lzma); the filter selects {len(files)}"]
        if left_out:
            notes.append(f"{directory}: {len(left_out)} other file(s) where 2013 data files "
                         f"belong NOT read (only .lzma and .xz are), e.g. {left_out[0]}")
        return files, notes
    if select_inputs(directory, Filter.all(), schemas):
        return [], []
    raise NothingToRead(f"{directory} holds neither store files (<tree>/<dims>/*.zst) nor "
                        f"files of the 2013 server (<dims>/<appBuildID>.<submission_date>."
                        f"v2.log.<uuid>.lzma or .xz): nothing to read")


def records_2013(f: InputFile) -> Iterator[Record]:
    """The lines of a 2013 file, as `appliance.mr.sources` records (no receive times)."""
    with lzma.open(f.path, "rb") as lines:
        for n, line in enumerate(lines, 1):
            text = line.decode("utf-8", "surrogateescape")
            doc, _, value = text.partition("\t")
            yield n, f.dims, doc, value.removesuffix("\n"), len(line), 0
