"""Installing histogram specs into a spec directory (`appliance specs add`, docs/conversion.md).

A spec is a revision's Histograms.json (raw definitions, as in the client's
source tree at that revision: `toolkit/components/telemetry/Histograms.json`)
or a precomputed bucket file (`{"histograms": {NAME: {"buckets": [...]}}}`).
It is installed as `<spec_dir>/<rev>.Histograms.json` or `<rev>.buckets.json`,
where the converter's SpecStore looks first. Before anything is written the
file is loaded exactly as the converter would load it, so a spec that the
converter could not use is refused with the reason, and an installed one is
known to work.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from appliance.convert.specs import (
    BadRevision,
    SpecStore,
    UnknownRevision,
    revision_key,
)
from appliance.durable import write_atomic

RAW_SUFFIX = ".Histograms.json"
BUCKETS_SUFFIX = ".buckets.json"
_NAMED = re.compile(r"([0-9a-fA-F]{12,40})(\.Histograms\.json|\.buckets\.json)")
_HASH = re.compile(r"[0-9a-fA-F]{12,40}")


class SpecError(ValueError):
    """A spec that cannot be installed; the message names the file and the reason."""


@dataclass
class Installed:
    """What `install` did with one file."""

    source: Path
    revision: str
    target: Path
    histograms: int
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it cannot be used
    unchanged: bool = False  # the same bytes were installed already


@dataclass(frozen=True)
class Listed:
    """One installed spec file."""

    revision: str
    path: Path
    histograms: int | None  # None: the file cannot be loaded
    problem: str | None = None


def parse_revision(text: str) -> str:
    """A revision hash, from a hash or a ping's `info.revision` URL; SpecError if neither."""
    if _HASH.fullmatch(text):
        return text.lower()
    try:
        return revision_key(text)
    except BadRevision:
        raise SpecError(f"{text!r} is neither a revision hash (12-40 hex digits) nor a "
                        f"revision URL (.../rev/<hash>)") from None


def spec_files(paths: list[Path]) -> list[Path]:
    """The files named, with every `<rev>.Histograms.json`/`<rev>.buckets.json` of the
    directories named; SpecError for a path that does not exist or a directory with none."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _NAMED.fullmatch(p.name))
            if not found:
                raise SpecError(f"{path}: no <revision>.Histograms.json or "
                                f"<revision>.buckets.json files in this directory")
            out += found
        elif path.exists():
            out.append(path)
        else:
            raise SpecError(f"{path}: no such file or directory")
    return out


def install(source: Path, spec_dir: Path, revision: str | None = None, *,
            replace: bool = False) -> Installed:
    """Check `source` as the converter would load it and install it into `spec_dir`.

    The revision comes from `revision` (a hash or revision URL) or else from the file
    name (`<rev>.Histograms.json`); the kind (definitions or precomputed buckets) from
    the content. An installed file with other contents is only overwritten with
    `replace`.
    """
    named = _NAMED.fullmatch(source.name)
    if revision is not None:
        rev = parse_revision(revision)
    elif named:
        rev = named.group(1).lower()
    else:
        raise SpecError(f"{source}: which revision is this? Name it <revision>.Histograms.json "
                        f"or give --revision (the hash or the ping's info.revision URL)")
    try:
        data = source.read_bytes()
    except OSError as e:
        raise SpecError(f"{source}: cannot read: {e.strerror or e}") from None
    suffix = BUCKETS_SUFFIX if _is_precomputed(data) else RAW_SUFFIX
    target = spec_dir / f"{rev}{suffix}"
    histograms, skipped = _load_as_converter(source, data, rev, suffix)
    unchanged = target.exists() and target.read_bytes() == data
    if target.exists() and not unchanged and not replace:
        raise SpecError(f"{source}: {target} is installed already with other contents; "
                        f"--replace to overwrite it")
    if not unchanged:
        spec_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
    return Installed(source, rev, target, histograms, skipped, unchanged)


def installed(spec_dir: Path) -> list[Listed]:
    """Every spec file in `spec_dir` (and its `cache/`, fetched from a histogram server),
    by revision, each loaded as the converter would load it."""
    found: list[Listed] = []
    for directory in (spec_dir, spec_dir / "cache"):
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            named = _NAMED.fullmatch(path.name)
            if not named:
                continue
            rev = named.group(1).lower()
            try:
                histograms, _ = _load_as_converter(path, path.read_bytes(), rev, named.group(2))
                found.append(Listed(rev, path, histograms))
            except (SpecError, OSError) as e:
                found.append(Listed(rev, path, None, str(e)))
    return found


def _is_precomputed(data: bytes) -> bool:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False  # reported by the load, as the converter would
    hists = obj.get("histograms") if isinstance(obj, dict) else None
    return isinstance(hists, dict) and all(
        isinstance(h, dict) and "buckets" in h for h in hists.values())


def _load_as_converter(source: Path, data: bytes, rev: str,
                       suffix: str) -> tuple[int, dict[str, str]]:
    """(histograms usable, skipped definitions) of `data` loaded by a SpecStore."""
    scratch = Path(tempfile.mkdtemp(prefix="appliance-spec-"))
    try:
        (scratch / f"{rev}{suffix}").write_bytes(data)
        spec = SpecStore(scratch).get(rev)
    except UnknownRevision as e:  # its detail names the scratch copy: name the source
        detail = e.detail.replace(f"{scratch / (rev + suffix)} is ", "").replace(
            str(scratch / (rev + suffix)), "")
        raise SpecError(f"{source}: {detail.strip()}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not spec.layouts:
        why = "; ".join(f"{name}: {reason}" for name, reason in list(spec.skipped.items())[:3])
        raise SpecError(f"{source}: no usable histogram definition in it"
                        + (f" ({why})" if why else ""))
    return len(spec.layouts), dict(spec.skipped)
