"""Job inputs from S3: exported store files, cached locally (docs/mapreduce.md, "Inputs from S3").

Objects live at ``<prefix>/<store key>`` (docs/export.md). `select_remote_inputs`

1. lists the prefix one level at a time with ``Delimiter="/"``, descending
   into a partition level only if ``Filter.allows_prefix`` accepts it, so the
   objects of pruned partitions are never listed nor downloaded (each level's
   listings run on the thread pool; every listing is paginated);
2. keeps the objects `resolve` returns (it leaves out those whose records the
   job provably reads locally, and refuses ambiguous ones: `appliance.mr.resolve`);
3. reuses a cached copy ``cache_dir/<store key>`` when its sidecar
   ``<file>.etag`` (JSON: the object's size and ETag and the file's MD5) still
   names the listed size and ETag *and* the file's bytes still have that MD5;
   anything else is (re)downloaded in parallel (``GetObject`` streamed to a
   temp name in the same directory, verified, then renamed);
4. keeps the cache under `max_cache_bytes` by evicting least recently used
   files (mtime, set on every use) that the current job does not need.

Verification rule for a download (size always, then the ETag as the exporter
makes it, see `appliance.export.uploader.expected_etag`):

- ETag without ``-``: single-part upload, the ETag is the MD5 of the bytes.
- ETag ``<hex>-N``: multipart. It is recomputed with `part_size` (the
  exporter's configured ``[export] part_size``). If it matches: verified. If
  N is not the part count that `part_size` gives for this size, the object was
  uploaded with another part size: the download is accepted on its size alone
  and counted in ``stats["size_only"]`` (its MD5 is still recorded, so later
  reuse is checked against it). If N fits but the digest differs, the bytes
  are wrong.

A download that fails verification is tried once more, then `RemoteError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any  # clients are boto3 S3 clients, which have no types here

from appliance.mr.inputs import InputFile
from appliance.storage.filenames import is_data_file_name, split_file_name
from appliance.storage.filters import Filter
from appliance.storage.keys import (
    INVALID_TREE,
    BadKey,
    SchemaSource,
    is_file_name,
    is_valid_tree,
    parse_key,
    resolve_schemas,
)
from appliance.storage.schema import Schema, is_safe_segment

DEFAULT_PART_SIZE = 16 << 20
DEFAULT_CACHE_BYTES = 10 << 30
SIDECAR = ".etag"
_CHUNK = 1 << 20


class RemoteError(Exception):
    """An object could not be fetched or did not match its listing."""


@dataclass(frozen=True)
class RemoteObject:
    """One listed object: its store key, size and ETag (without quotes)."""

    key: str
    size: int
    etag: str


# --- checksums ----------------------------------------------------------------------------------

def file_digests(path: Path, part_size: int) -> tuple[str, str]:
    """(MD5 of the whole file, multipart ETag ``md5(md5s)-N`` with `part_size` parts)."""
    whole = hashlib.md5()
    parts: list[bytes] = []
    with open(path, "rb") as f:
        while chunk := f.read(part_size):
            whole.update(chunk)
            parts.append(hashlib.md5(chunk).digest())
    parts = parts or [hashlib.md5(b"").digest()]
    return whole.hexdigest(), f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"


def verify_download(path: Path, obj: RemoteObject, part_size: int) -> tuple[str, str]:
    """Check `path` against the object; returns (md5, "etag" | "size"); RemoteError if wrong."""
    size = os.path.getsize(path)
    if size != obj.size:
        raise RemoteError(f"{obj.key}: downloaded {size} bytes, the object has {obj.size}")
    md5, multi = file_digests(path, part_size)
    if "-" not in obj.etag:
        if md5 != obj.etag:
            raise RemoteError(f"{obj.key}: MD5 {md5} does not match the ETag {obj.etag}")
        return md5, "etag"
    if multi == obj.etag:
        return md5, "etag"
    try:
        count = int(obj.etag.rsplit("-", 1)[1])
    except ValueError:
        return md5, "size"  # an ETag we cannot interpret (e.g. SSE-KMS): size only
    expected_parts = max(1, -(-size // part_size))
    if count != expected_parts:
        return md5, "size"  # uploaded with another part size: cannot recompute
    raise RemoteError(f"{obj.key}: multipart ETag {multi} does not match {obj.etag}")


# --- listing --------------------------------------------------------------------------------------

def _paginate(client: Any, bucket: str, prefix: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(sub-prefix names, objects) directly under `prefix` (which ends with "/" or is "")."""
    names, objects = [], []
    for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for cp in page.get("CommonPrefixes", []):
            names.append(cp["Prefix"][len(prefix):].rstrip("/"))
        objects.extend(page.get("Contents", []))
    return names, objects


def list_remote(client: Any, bucket: str, prefix: str, flt: Filter | None = None,
                schemas: SchemaSource = None, *,
                pool: ThreadPoolExecutor | None = None) -> list[RemoteObject]:
    """The ``*.zst`` objects under `prefix` in partitions `flt` allows, level by level."""

    flt = flt if flt is not None else Filter.all()
    schema_of = resolve_schemas(schemas)
    base = prefix.strip("/")
    base = f"{base}/" if base else ""
    own = pool is None
    pool = pool or ThreadPoolExecutor(4)
    try:
        roots, _ = _paginate(client, bucket, base)
        # frontier items: (tree, schema, values); a tree's schema is found once.
        frontier: list[tuple[str, Schema, tuple[str, ...]]] = []
        trees = []
        for name in sorted(roots):
            if name == INVALID_TREE:
                if flt.may_select_invalid:
                    inner, _ = _paginate(client, bucket, f"{base}{INVALID_TREE}/")
                    trees += [f"{INVALID_TREE}/{n}" for n in sorted(inner)]
            else:
                trees.append(name)
        for tree in trees:
            if not is_valid_tree(tree) or not flt.allows_tree(tree):
                continue
            try:
                schema = schema_of(tree)
            except (BadKey, KeyError):
                continue
            if flt.allows_prefix(tree, [], schema=schema):
                frontier.append((tree, schema, ()))
        found: list[RemoteObject] = []
        while frontier:
            listings = list(pool.map(
                lambda item: _paginate(client, bucket, "/".join([base + item[0], *item[2]]) + "/"),
                frontier))
            nxt = []
            for (tree, schema, values), (names, objects) in zip(frontier, listings, strict=True):
                if len(values) == len(schema):  # a leaf partition: its files
                    leaf = "/".join([base + tree, *values]) + "/"
                    for o in objects:
                        name = o["Key"][len(leaf):]
                        if is_data_file_name(name) and is_file_name(name):
                            found.append(RemoteObject(o["Key"][len(base):], int(o["Size"]),
                                                      o.get("ETag", "").strip('"')))
                    continue
                for name in sorted(names):
                    cand = (*values, name)
                    if is_safe_segment(name) and flt.allows_prefix(tree, list(cand),
                                                                   schema=schema):
                        nxt.append((tree, schema, cand))
            frontier = nxt
        return sorted(found, key=lambda o: o.key)
    finally:
        if own:
            pool.shutdown()


def object_source(key: str) -> str:
    """The job summary's source name for an exported store key: ``s3:<node>`` (the node
    part of its file name, label and id)."""
    name = split_file_name(key.rsplit("/", 1)[-1])
    return f"s3:{name.node}" if name is not None else "s3:other"


# --- the cache -----------------------------------------------------------------------------------

def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR)


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(_sidecar(path).read_text())
        return found if isinstance(found, dict) else None
    except (OSError, ValueError):
        return None


def _touch(path: Path) -> None:
    now = time.time()
    with contextlib.suppress(OSError):
        os.utime(path, (now, now))


def cached_files(cache_dir: Path) -> list[tuple[Path, int, float]]:
    """(path, size, mtime) of every cached data file."""
    out = []
    stale = time.time() - 86400
    for dirpath, _, names in os.walk(cache_dir):
        for name in names:
            if name.startswith(".") and name.endswith(".part"):  # left by a killed run
                p = Path(dirpath) / name
                with contextlib.suppress(OSError):
                    if p.stat().st_mtime < stale:
                        p.unlink()
            elif is_data_file_name(name):
                p = Path(dirpath) / name
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                out.append((p, st.st_size, st.st_mtime))
    return out


def evict(cache_dir: Path, max_bytes: int, keep: set[Path], room: int = 0) -> list[Path]:
    """Delete least recently used files not in `keep` until the cache + `room` fits `max_bytes`."""
    files = cached_files(cache_dir)
    total = sum(size for _, size, _ in files) + room
    removed = []
    for path, size, _ in sorted(files, key=lambda f: (f[2], str(f[0]))):
        if total <= max_bytes:
            break
        if path in keep:
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            _sidecar(path).unlink()
        total -= size
        removed.append(path)
    return removed


def download(client: Any, bucket: str, object_key: str, obj: RemoteObject, target: Path,
              part_size: int) -> tuple[str, str]:
    """GET into a temp file next to `target`, verify, rename; returns (md5, how verified)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        body = client.get_object(Bucket=bucket, Key=object_key)["Body"]
        with open(tmp, "wb") as f:
            for chunk in body.iter_chunks(_CHUNK):
                f.write(chunk)
        md5, how = verify_download(tmp, obj, part_size)
        side = _sidecar(target)
        side_tmp = side.with_name(f".{side.name}.{uuid.uuid4().hex}.part")
        side_tmp.write_text(json.dumps({"size": obj.size, "etag": obj.etag, "md5": md5,
                                        "verified": how}))
        with contextlib.suppress(FileNotFoundError):
            side.unlink()  # no window where an old sidecar names the new file
        os.replace(tmp, target)
        os.replace(side_tmp, side)
        return md5, how
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _reusable(path: Path, obj: RemoteObject, part_size: int) -> bool:
    side = _read_sidecar(path)
    if not side or side.get("etag") != obj.etag or side.get("size") != obj.size:
        return False
    try:
        if os.path.getsize(path) != obj.size:
            return False
        md5, _ = file_digests(path, part_size)
    except OSError:
        return False
    return md5 == side.get("md5")


def select_remote_inputs(client: Any, bucket: str, prefix: str, flt: Filter | None,
                         schemas: SchemaSource, cache_dir: str | Path,
                         *, resolve: Callable[[list[RemoteObject]], list[RemoteObject]]
                         = list,
                         max_cache_bytes: int = DEFAULT_CACHE_BYTES, workers: int = 4,
                         part_size: int = DEFAULT_PART_SIZE, stats: dict[str, int] | None = None,
                         progress: Callable[[str], None] | None = None) -> list[InputFile]:
    """The exported files of the partitions `flt` selects, as cached local `InputFile`s.

    Only the listed objects that `resolve` returns are inputs and downloaded
    (it may raise, before anything is downloaded). `stats` (if given) is
    filled with ``listed``, ``excluded``, ``reused``, ``downloaded``,
    ``downloaded_bytes``, ``size_only``, ``evicted``. Files the job needs are
    never evicted, so a job needing more than `max_cache_bytes` leaves the
    cache that much over the limit until the next run. Sorted by path.
    """
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    st = {"listed": 0, "excluded": 0, "reused": 0, "downloaded": 0, "downloaded_bytes": 0,
          "size_only": 0, "evicted": 0}
    base = prefix.strip("/")
    base = f"{base}/" if base else ""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        listed = list_remote(client, bucket, prefix, flt, schemas, pool=pool)
        st["listed"] = len(listed)
        wanted = resolve(listed)
        st["excluded"] = len(listed) - len(wanted)
        paths = {o.key: cache.joinpath(*o.key.split("/")) for o in wanted}
        keep = set(paths.values())

        reuse = list(pool.map(lambda o: _reusable(paths[o.key], o, part_size), wanted))
        fetch = [o for o, ok in zip(wanted, reuse, strict=True) if not ok]
        st["reused"] = len(wanted) - len(fetch)
        for o, ok in zip(wanted, reuse, strict=True):
            if ok:
                _touch(paths[o.key])
        # Make room first (the files to fetch may replace stale copies already counted).
        st["evicted"] += len(evict(cache, max_cache_bytes, keep,
                                   room=sum(o.size for o in fetch)))
        lock = threading.Lock()

        def fetch_one(o: RemoteObject) -> None:
            last = None
            for _ in range(2):
                try:
                    _, how = download(client, bucket, base + o.key, o, paths[o.key], part_size)
                except RemoteError as e:
                    last = e
                    continue
                _touch(paths[o.key])
                with lock:
                    st["downloaded"] += 1
                    st["downloaded_bytes"] += o.size
                    st["size_only"] += how == "size"
                if progress is not None:
                    progress(f"s3: fetched {o.key} ({o.size} bytes)")
                return
            raise RemoteError(f"s3://{bucket}/{base}{o.key}: {last} (after 2 tries)")

        for fut in [pool.submit(fetch_one, o) for o in fetch]:
            fut.result()
        st["evicted"] += len(evict(cache, max_cache_bytes, keep))
    if stats is not None:
        stats.update(st)
    out = []
    for o in wanted:
        key = parse_key(o.key, schemas)
        out.append(InputFile(str(paths[o.key]), key.tree, key.values, o.size,
                             object_source(o.key)))
    return sorted(out)
