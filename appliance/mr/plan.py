"""Which inputs a job reads: the local store and spool (a snapshot), and S3.

`plan_inputs` is shared by `appliance job run` and the server's job workers:

- local: a `LocalSnapshot` of the data dir's store and, unless disabled, of
  the records still in the spool (converted on the fly by the mappers);
- remote: the objects under the export prefix that the filter selects (every
  node's exported files), minus those whose records this node provably reads
  locally (`appliance.mr.resolve`: by node id, key, size and checksum; an
  ambiguous object is an error), downloaded into the S3 cache.

The snapshot is taken before S3 is listed: a file the exporter uploads and
deletes in between is then in S3 when it is listed, so nothing is missed, and
nothing is read twice.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any  # S3 clients are boto3 clients, which have no types here

from appliance.config import Config, ConfigError
from appliance.datadir import DataDir
from appliance.mr.inputs import Input, InputFile, RemoteInput
from appliance.mr.layout2013 import NothingToRead, select_dir_inputs
from appliance.mr.remote import (
    DEFAULT_CACHE_BYTES,
    RemoteError,
    RemoteObject,
    list_remote,
    object_source,
    select_remote_inputs,
)
from appliance.mr.resolve import InputConflict, LocalMatch
from appliance.mr.snapshot import LocalSnapshot, SnapshotError, take_snapshot
from appliance.node import node_identity
from appliance.node.identity import IdentityError, NodeIdentity
from appliance.storage.filters import Filter
from appliance.storage.keys import SchemaSource, parse_key

MODES = ("all", "local", "remote")
PIN_ATTEMPTS = 3


class InputError(Exception):
    """The inputs cannot be gathered; the message names the problem."""


@dataclass
class JobInputs:
    """A job's inputs; `close()` removes the snapshot's and the pinned cache files' links."""

    files: list[Input] = field(default_factory=list)
    snapshot: LocalSnapshot | None = None
    pinned: Path | None = None
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        if self.snapshot is not None:
            self.snapshot.remove()
            self.snapshot = None
        if self.pinned is not None:
            shutil.rmtree(self.pinned, ignore_errors=True)
            self.pinned = None


def choose_sources(mode: str, config: Config,
                   explicit_store: bool = False) -> tuple[bool, bool]:
    """(local?, S3?) for an inputs mode: "local", "remote", or "all" (S3 too when a bucket is
    configured). An explicit store directory is read alone: its files are not the exported ones.
    """
    bucket = config.export.bucket
    if mode == "remote":
        if not bucket:
            raise InputError("remote inputs (--remote-only) need [export] bucket (and prefix, "
                             "endpoint_url if any) in the configuration; see docs/export.md")
        return False, True
    if mode not in MODES:
        raise InputError(f"inputs must be one of {', '.join(MODES)}, not {mode!r}")
    return True, bool(bucket) and mode == "all" and not explicit_store


def plan_inputs(config: Config, flt: Filter | None, schemas: SchemaSource, *, local: bool,
                remote: bool, spool: bool = True,
                store: Path | None = None, cache_dir: Path | None = None,
                cache_bytes: int | None = None, tmp_dir: Path | None = None,
                download: bool = True) -> JobInputs:
    """Gather a job's inputs (see the module docstring). `store` reads another store directory
    as it is, without snapshot, spool or S3. The snapshot goes under `tmp_dir` (default
    `<data_dir>/tmp`), which must be on the data dir's file system. With `download` false the
    S3 objects are only listed, as `RemoteInput`s that the workers fetch (the Dask runner)."""
    inputs = JobInputs()
    flt = flt if flt is not None else Filter.all_records(schemas)
    try:
        if store is not None:
            if not store.is_dir():
                raise InputError(f"no store at {store}")
            try:
                found, inputs.notes = select_dir_inputs(store, flt, schemas)
                inputs.files.extend(found)
            except NothingToRead as e:
                raise InputError(str(e)) from None
            return inputs
        tmp_dir = tmp_dir or DataDir(config.data_dir).tmp
        if local:
            inputs.snapshot = _snapshot(config, flt, schemas, spool, tmp_dir)
            inputs.files = list(inputs.snapshot.store_files)
            spooled = inputs.snapshot.spool_input
            if spooled is not None:
                inputs.files.append(spooled)
                inputs.notes.append(f"spool: {len(spooled.pieces)} segment(s), {spooled.size} "
                                    f"bytes not converted yet (converted on the fly)")
        if remote:
            inputs.files += _remote(config, flt, schemas, inputs, cache_dir, cache_bytes,
                                    download, tmp_dir)
    except BaseException:
        inputs.close()
        raise
    inputs.files.sort(key=lambda f: f.path)
    return inputs


def plan_dir_inputs(config: Config, flt: Filter | None, schemas: SchemaSource,
                    directory: Path, *, local: bool, remote: bool,
                    cache_dir: Path, cache_bytes: int | None = None,
                    download: bool = True) -> JobInputs:
    """The inputs of a 2013 command line whose `--data-dir` is a plain directory of input
    files: those files, and with `remote` the S3 objects of `[export]` bucket and prefix
    cached in `cache_dir`. As in 2013, an object whose key is a file of `directory` is
    read from there (a directory that holds downloaded objects is not read twice)."""
    # the local files are read exactly as `--store` reads a store tree
    inputs = (plan_inputs(config, flt, schemas, local=False, remote=False, store=directory)
              if local else JobInputs())
    if remote:
        inputs.files += _remote(config, flt, schemas, inputs, cache_dir, cache_bytes,
                                download, tmp_dir=None, match=SameName(directory))
    inputs.files.sort(key=lambda f: f.path)
    return inputs


class SameName:
    """2013's rule for S3 objects: one whose key is a file under `directory` is left out."""

    spooled = 0

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.same = 0

    def __call__(self, listed: list[RemoteObject]) -> list[RemoteObject]:
        wanted = [o for o in listed if not self.directory.joinpath(*o.key.split("/")).is_file()]
        self.same = len(listed) - len(wanted)
        return wanted


Match = LocalMatch | SameName  # which listed objects are read locally instead

def _node(config: Config) -> NodeIdentity:
    """This data dir's identity (`appliance.node`); InputError if node.json is damaged."""

    try:
        return node_identity(config)
    except IdentityError as e:
        raise InputError(str(e)) from None


def _snapshot(config: Config, flt: Filter, schemas: SchemaSource, spool: bool,
              tmp_dir: Path) -> LocalSnapshot:
    data = DataDir(config.data_dir)
    directory = tmp_dir / f"snapshot-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    spool_root = data.spool if spool and data.spool.is_dir() else None
    try:
        return take_snapshot(data.store, spool_root, directory, flt, schemas,
                             node_id=_node(config).name)
    except SnapshotError as e:
        raise InputError(str(e)) from None


def _remote(config: Config, flt: Filter | None, schemas: SchemaSource, inputs: JobInputs,
            cache_dir: Path | None, cache_bytes: int | None, download: bool,
            tmp_dir: Path | None, match: Match | None = None) -> Sequence[Input]:
    """The S3 inputs; `match` decides which listed objects are read locally instead (by
    default `LocalMatch`: this node's snapshot). Without `tmp_dir` cached files are not
    pinned (a 2013 command line has no data dir: its cache is its own)."""
    # botocore and boto3 (about 0.2 s to import) load only for jobs that read S3
    from botocore.exceptions import BotoCoreError, ClientError

    from appliance.export.s3client import make_client

    try:
        client = make_client(config)
    except ConfigError as e:
        raise InputError(str(e)) from None
    export = config.export
    if match is None:
        _refuse_clone(client, config)
        match = LocalMatch(inputs.snapshot, export.part_size, _where(config),
                           DataDir(config.data_dir).store)
    if not download:
        return _listed(client, config, flt, schemas, match, inputs)
    cache = cache_dir or DataDir(config.data_dir).s3_cache
    pinned = tmp_dir / f"s3-{os.getpid()}-{uuid.uuid4().hex[:8]}" if tmp_dir else None
    for _ in range(PIN_ATTEMPTS):
        stats: dict[str, int] = {}
        try:
            remote = select_remote_inputs(
                client, export.bucket, export.prefix, flt, schemas, cache, resolve=match,
                max_cache_bytes=DEFAULT_CACHE_BYTES if cache_bytes is None else cache_bytes,
                workers=max(4, export.concurrency), part_size=export.part_size, stats=stats)
        except InputConflict as e:
            raise InputError(str(e)) from None
        except (BotoCoreError, ClientError, RemoteError, OSError) as e:
            raise InputError(f"S3 inputs from s3://{export.bucket}/{export.prefix}: "
                             f"{type(e).__name__}: {e}") from None
        if pinned is None:
            break
        try:
            remote = _pin(remote, Path(cache), pinned)
            inputs.pinned = pinned
            break
        except FileNotFoundError:  # another job evicted a file meanwhile: select again
            shutil.rmtree(pinned, ignore_errors=True)
        except OSError as e:  # e.g. --cache-dir on another file system: not pinned
            shutil.rmtree(pinned, ignore_errors=True)
            inputs.notes.append(f"s3: cached files not pinned ({e.strerror}): another job "
                                f"sharing the cache may evict them while this one runs")
            break
    else:
        raise InputError(f"S3 inputs: other jobs evicted this job's files from the cache "
                         f"{PIN_ATTEMPTS} times; give the cache more room (--cache-bytes)")
    inputs.notes.append(
        f"s3: {stats['listed']} objects selected, {_local_note(match)}, "
        f"{stats['reused']} from the cache, {stats['downloaded']} downloaded "
        f"({stats['downloaded_bytes']} bytes), {stats['evicted']} evicted"
        + (f", {stats['size_only']} verified by size only" if stats["size_only"] else ""))
    return remote


def _refuse_clone(client: Any, config: Config) -> None:
    """InputError if this node's id is claimed by another live data dir (its registration
    lists a clash, `appliance.node.registry`): the job cannot tell its objects from ours."""
    # botocore (imported by the registry too) loads only for jobs that read S3
    from botocore.exceptions import BotoCoreError, ClientError

    from appliance.node.registry import clone_problem, read_registration

    node_id = _node(config).id
    try:
        registration = read_registration(client, config.export.bucket, config.export.prefix,
                                         node_id)
    except (BotoCoreError, ClientError, OSError) as e:
        raise InputError(f"S3 inputs from s3://{config.export.bucket}/{config.export.prefix}: "
                         f"{type(e).__name__}: {e}") from None
    if registration and registration.get("clones"):
        raise InputError(f"S3 inputs refused: {clone_problem(node_id, registration['clones'])}")


def _where(config: Config) -> str:
    base = config.export.prefix.strip("/")
    return f"s3://{config.export.bucket}/{base}/" if base else f"s3://{config.export.bucket}/"


def _local_note(match: Match) -> str:
    if isinstance(match, SameName):
        return f"{match.same} read locally instead (a file of that name in the data dir)"
    return (f"{match.same + match.spooled} read locally instead ({match.same} identical to "
            f"local files, {match.spooled} from this node's spool)")


def _listed(client: Any, config: Config, flt: Filter | None, schemas: SchemaSource,
            match: Match, inputs: JobInputs) -> list[RemoteInput]:
    """The selected S3 objects as `RemoteInput`s, without downloading them."""
    # botocore loads only for jobs that read S3
    from botocore.exceptions import BotoCoreError, ClientError


    export = config.export
    base = export.prefix.strip("/")
    base = f"{base}/" if base else ""
    try:
        listed = list_remote(client, export.bucket, export.prefix, flt, schemas)
    except (BotoCoreError, ClientError, OSError) as e:
        raise InputError(f"S3 inputs from s3://{export.bucket}/{export.prefix}: "
                         f"{type(e).__name__}: {e}") from None
    try:
        wanted = match(listed)
    except InputConflict as e:
        raise InputError(str(e)) from None
    inputs.notes.append(f"s3: {len(listed)} objects selected, {_local_note(match)}; "
                        f"the workers download the rest")
    out = []
    for o in wanted:
        key = parse_key(o.key, schemas)
        out.append(RemoteInput(f"s3://{export.bucket}/{base}{o.key}", key.tree, key.values,
                               o.size, o.key, o.etag, object_source(o.key)))
    return out


def _pin(files: list[InputFile], cache: Path, directory: Path) -> list[InputFile]:
    """Hard-link the cached files into `directory` (same key paths), so that another job's
    eviction cannot take them away while this job reads them."""
    out = []
    for f in files:
        link = directory / Path(f.path).relative_to(cache)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.link(f.path, link)
        out.append(f._replace(path=str(link)))
    return out
