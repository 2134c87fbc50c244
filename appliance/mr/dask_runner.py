"""The Dask runner: the same job scripts and output rules as `LocalRunner`, on a Dask cluster.

Flow (docs/mapreduce.md, "Running on a Dask cluster"):

1. The driver loads the script by path (`load_job`, a module name unique per
   path) and registers the module with ``cloudpickle.register_pickle_by_value``
   (and helper modules and packages imported from the script's folder), so its functions
   are shipped to the workers by value: workers never import the script.
   Without this Dask hangs on a ModuleNotFoundError seen only in worker logs.
2. One map task per input file (or per balanced group with ``mappers=N``).
   Local inputs (this node's store files and spool, from the job's snapshot)
   are shipped: the driver scatters the bytes of each store file (the task
   writes them to a temp dir and reads them there) and the spool's records,
   converted on this node as a local mapper converts them
   (`appliance.mr.shipping`). S3 objects
   (`RemoteInput`: listed by the driver) are fetched and verified by the
   worker itself. The task calls ``map`` with the mapper of the local runner
   (`worker.Mapper`, so the error messages, combine rules, --dedupe and
   --max-errors are the same), applies ``combine`` per task and returns, per
   reducer partition (``crc32(canonical_key(key)) % M``), a list of
   ``(canonical_key, key, values)`` sorted by the canonical key.
3. M reduce tasks merge their partition's lists, group by key, call
   ``setup_reduce``/``reduce`` with a `ReduceContext` and return their records
   (UTF-8 bytes) sorted.
4. The driver merges the sorted record lists into a temp file next to the
   output and renames it over the output: byte-identical to `LocalRunner`.

With --dedupe the first pass (`appliance.mr.dedupe`) runs on the cluster
too, and its winners are scattered to the second pass's map tasks.

Everything is held in worker memory (Dask spills task results to disk on its
own); a single key's value list must fit in one worker.

`distributed` and `cloudpickle` (the optional `dask` extra) are imported in
the functions that use them, so this module imports without them.
"""

from __future__ import annotations

import heapq
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from appliance.config import Config
from appliance.mr.context import setup_header
from appliance.mr.dedupe import WINNERS_SCRIPT, rank_inputs
from appliance.mr.inputs import Input, InputFile, SpoolInput, balance, check_config
from appliance.mr.job import Job, JobError, imported_from, load_job
from appliance.mr.messages import MapProgress
from appliance.mr.progress import Progress, ProgressCallback, relabelled
from appliance.mr.runner import DEFAULT_COMBINE_THRESHOLD, JobCancelled, JobSummary
from appliance.mr.runs import Group, group_key, write_output
from appliance.mr.shipping import ConvertedSpool, convert_spool, is_local, pack, unpack
from appliance.mr.sources import Record
from appliance.mr.worker import ErrorCounter, JobSpec, Mapper, reduce_groups
from appliance.storage.filters import Filter
from appliance.storage.keys import SchemaSource

_NO_SPILL = 1 << 62  # map output stays in the task's memory; Dask spills results
_CANCEL_POLL = 0.5  # seconds between checks for cancel while tasks run
_SHIP_BATCH = 64 << 20  # local input bytes scattered to the cluster in one call


# --- worker side -------------------------------------------------------------------------------

class _Progress:
    """Stands in for the local mapper's queue: adds up the progress messages."""

    def __init__(self) -> None:
        self.data_bytes = 0

    def put(self, msg: MapProgress) -> None:
        self.data_bytes += msg.data_bytes


class _LocalErrors:
    """The error counter of one task (enough when max_errors is 0: the first error stops)."""

    def __init__(self) -> None:
        self.value = 0

    def get_lock(self) -> AbstractContextManager[Any]:
        return nullcontext()


class _ClusterErrors:
    """An error counter shared by all map tasks of a run (a distributed Lock and Variable)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get_lock(self) -> AbstractContextManager[Any]:
        from distributed import Lock

        lock: AbstractContextManager[Any] = Lock(self.name)  # distributed is untyped here
        return lock

    @property
    def value(self) -> int:
        from distributed import Variable

        count: int = Variable(self.name).get(timeout=30)
        return count

    @value.setter
    def value(self, n: int) -> None:
        from distributed import Variable

        Variable(self.name).set(n)


class _MemorySorter:
    """The map-only record sink: records in memory, returned sorted."""

    spills = 0

    def __init__(self) -> None:
        self.items: list[bytes] = []

    def add_text(self, text: str) -> None:
        self.items.append(text.encode("utf-8", "surrogatepass"))

    def finish(self) -> list[bytes]:
        self.items.sort()
        return self.items


class _DaskMapper(Mapper):
    """The local mapper, with its spills kept in memory as per-partition group lists, and
    local inputs read from the copies their shipped bytes were written to."""

    def __init__(self, mid: int, spec: JobSpec, job: Job, errors: ErrorCounter,
                 copies: dict[str, InputFile | ConvertedSpool]) -> None:
        self.progress = _Progress()
        super().__init__(mid, spec, job, self.progress, errors)
        self.records = _MemorySorter()  # a map-only job's records
        self.emit = self.records.add_text
        self.groups: dict[int, list[list[Group]]] = {}  # per partition, a sorted list a spill
        self.copies = copies  # input path -> that input with its paths in this task's temp dir

    def spill(self) -> None:
        for r, groups in self.partitioned().items():
            self.groups.setdefault(r, []).append(groups)

    def finish_runs(self) -> tuple[dict[int, list[str]], int]:
        """No runs on disk: the task returns `records` or `groups` itself."""
        if self.job.map_only:
            return {}, self.records.spills
        self.spill()
        return {}, self.spills

    def _sources(self, f: Input) -> Iterator[Record]:
        copy = self.copies.get(f.path, f)
        if isinstance(copy, ConvertedSpool):  # converted by the driver
            self.counts.update(copy.counts)
            return iter(copy.records)
        return super()._sources(copy)


def _job_from(funcs: bytes, path: str) -> Job:
    """The job's functions, pickled by value on the driver (see `_register_by_value`)."""
    import cloudpickle

    fmap, fcomb, fred, fsetup = cloudpickle.loads(funcs)
    return Job(path=Path(path), module=None, map=fmap, combine=fcomb, reduce=fred,
               setup_reduce=fsetup)


def _map_task(mid: int, funcs: bytes, spec: JobSpec, files: list[Input],
              errors_name: str | None, shipped: list[Any],
              winners: bytes | None) -> dict[str, Any]:
    """Map `files`; `shipped[i]` holds the bytes of ``files[i]`` when it is a local input
    (`appliance.mr.shipping`), `winners` the first pass's output with --dedupe."""
    job = _job_from(funcs, spec.script)
    errors = _ClusterErrors(errors_name) if errors_name else _LocalErrors()
    with tempfile.TemporaryDirectory(prefix="appliance-task-") as tmp:
        copies: dict[str, InputFile | ConvertedSpool] = {}
        for i, (f, payload) in enumerate(zip(files, shipped, strict=True)):
            if isinstance(payload, ConvertedSpool):
                copies[f.path] = payload
            elif isinstance(f, InputFile):  # a local store file (the spool's come converted)
                copies[f.path] = unpack(f, payload, Path(tmp, str(i)))
        if winners is not None:
            path = Path(tmp, "winners.tsv")
            path.write_bytes(winners)
            spec = replace(spec, winners=str(path))
        mapper = _DaskMapper(mid, spec, job, errors, copies)
        res = mapper.run(files)
    if job.map_only:
        return {"parts": [mapper.records.finish()], "map": res,
                "data_bytes": mapper.progress.data_bytes}
    parts: list[list[Group]] = [[] for _ in range(spec.reducers)]
    for r, lists in mapper.groups.items():  # one list per spill (one: nothing spills early)
        parts[r] = lists[0] if len(lists) == 1 else list(heapq.merge(*lists, key=group_key))
    return {"parts": parts, "map": res, "data_bytes": mapper.progress.data_bytes}


def _part(result: dict[str, Any], r: int) -> list[Group]:
    part: list[Group] = result["parts"][r]
    return part


def _reduce_task(rid: int, funcs: bytes, script: str, combine_threshold: int,
                 *parts: list[Group]) -> dict[str, Any]:
    """Merge one partition's sorted group lists, call reduce per key; sorted record bytes."""
    job = _job_from(funcs, script)
    records: list[bytes] = []
    keys = reduce_groups(job, rid, heapq.merge(*parts, key=group_key),
                         lambda text: records.append(text.encode("utf-8", "surrogatepass")),
                         combine_threshold)
    records.sort()
    return {"records": records, "keys": keys}


def _names(files: list[Input], shown: int = 3) -> str:
    """The paths of a map task's inputs, for an error message."""
    names = ", ".join(f.path for f in files[:shown])
    return names + (f" and {len(files) - shown} more" if len(files) > shown else "")


# --- the driver --------------------------------------------------------------------------------

def _register_by_value(job: Job) -> list[ModuleType]:
    """Register the script module (and the helper modules and packages next to it: a job
    directory's) for pickling by value."""
    import cloudpickle

    folder = str(job.path.parent)
    mods = [job.module] if job.module is not None else []
    mods += [m for m in list(sys.modules.values())
             if m is not job.module and "." not in m.__name__ and imported_from(m, folder)]
    done = []
    for m in mods:
        try:
            cloudpickle.register_pickle_by_value(m)
        except ValueError:  # already registered, or not importable by name
            continue
        done.append(m)
    return done


class DaskRunner:
    """Run one job on a Dask cluster; `run()` returns a `JobSummary` like `LocalRunner`'s.

    `scheduler` is an address (``tcp://host:8786``) or a `distributed.Client`
    (not closed by the runner). `mappers` None: one map task per input file;
    N: files balanced by size over N tasks. `progress` gets the same `Progress` reports
    as with `LocalRunner`.

    `inputs` are those of `LocalRunner` (store files, at most one `SpoolInput`,
    which needs `config`, `schemas` and `spool_filter` to be converted with)
    and `RemoteInput`s, which the workers download. Local inputs are shipped
    to the workers by the driver (`appliance.mr.shipping`). `dedupe` runs the
    same first pass as `LocalRunner` (`appliance.mr.dedupe`), on the cluster.
    """

    def __init__(self, script: str | Path, inputs: Iterable[Input], output: str | Path, *,
                 scheduler: Any, mappers: int | None = None, reducers: int = 1,
                 max_errors: int = 0, combine_threshold: int = DEFAULT_COMBINE_THRESHOLD,
                 progress: ProgressCallback | None = None, config: Config | None = None,
                 schemas: SchemaSource = None, spool_filter: Filter | None = None,
                 dedupe: bool = False, _positions: dict[str, int] | None = None) -> None:
        if (mappers is not None and mappers < 1) or reducers < 1:
            raise ValueError("mappers and reducers must be at least 1")
        if max_errors < 0 or combine_threshold < 1:
            raise ValueError("max_errors must not be negative, combine_threshold positive")
        self.script = Path(script).resolve()
        self.inputs = list(inputs)
        check_config(self.inputs, config)
        self.output = Path(output)
        self.scheduler = scheduler
        self.mappers, self.reducers = mappers, reducers
        self.max_errors, self.combine_threshold = max_errors, combine_threshold
        self.progress = progress
        self.config = config  # converts the spool input; [export] settings for `RemoteInput`s
        self.schemas, self.spool_filter = schemas, spool_filter
        self.dedupe = dedupe
        self._positions = _positions  # ranks, when this is the first pass of a dedupe
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop the run: its tasks are cancelled and `run` raises `JobCancelled`."""
        self._cancel.set()

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled(f"job {self.script} cancelled")

    def _report(self, **info: Any) -> None:
        if self.progress is not None:
            self.progress(Progress(**info))

    def run(self) -> JobSummary:
        from distributed import Client

        start = time.monotonic()
        job = load_job(self.script)  # a bad script fails here, before any task is sent
        own = not isinstance(self.scheduler, Client)
        try:
            client = Client(self.scheduler, timeout=10) if own else self.scheduler
        except (OSError, TimeoutError) as e:
            raise JobError(f"job script {self.script}: cannot connect to the Dask scheduler "
                           f"{self.scheduler}: {e}") from None
        work = None
        try:
            ranks, winners = self._positions, None
            summary_extra: dict[str, Any] = {}
            if self.dedupe:
                self.output.parent.mkdir(parents=True, exist_ok=True)
                work = Path(tempfile.mkdtemp(prefix="appliance-job-", dir=self.output.parent))
                ranks, winners, summary_extra["dedupe_docs"] = self._winners(client, work)
            summary = self._run(client, job, ranks, winners)
            summary.extra.update(summary_extra)
            summary.elapsed = time.monotonic() - start
            self._report(phase="done", files_total=len(self.inputs), errors=summary.errors,
                         **self._state)
            return summary
        finally:
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
            if own:
                client.close()

    def _winners(self, client: Any, work: Path) -> tuple[dict[str, int], bytes, int]:
        """Run the first pass of --dedupe on the cluster; (ranks, winners, docIds)."""
        ranks = rank_inputs(self.inputs)
        path = work / "winners.tsv"
        first = DaskRunner(WINNERS_SCRIPT, self.inputs, path, scheduler=client,
                           mappers=self.mappers, reducers=self.reducers,
                           progress=relabelled(self.progress, "dedupe"),
                           config=self.config, schemas=self.schemas,
                           spool_filter=self.spool_filter, _positions=ranks)
        first._cancel = self._cancel
        docs = first.run().output_records
        return ranks, path.read_bytes(), docs

    def _run(self, client: Any, job: Job, ranks: dict[str, int] | None,
             winners: bytes | None) -> JobSummary:
        """One pass over the inputs on `client`: map, reduce, merge into the output."""
        groups = ([[f] for f in self.inputs] if self.mappers is None
                  else balance(self.inputs, self.mappers))
        summary = JobSummary(str(self.script), str(self.output), max(1, len(groups)),
                             1 if job.map_only else self.reducers,
                             input_files=len(self.inputs),
                             input_bytes=sum(f.size for f in self.inputs))
        summary.extra = {"runner": "dask", "scheduler": client.scheduler.address}
        registered = _register_by_value(job)
        futures: list[Any] = []  # distributed's futures (untyped here)
        sent: list[Any] = []  # futures of the shipped local inputs (None: an S3 object)
        errors_var = None
        try:
            # pickled here, explicitly by value: Dask's own choice between pickle and
            # cloudpickle would send the script's functions by reference (workers hang)
            import cloudpickle

            funcs = cloudpickle.dumps((job.map, job.combine, job.reduce, job.setup_reduce))
            [funcs_f] = client.scatter([funcs], broadcast=False)
            futures.append(funcs_f)
            spec = JobSpec(str(self.script), "", summary.reducers, _NO_SPILL,
                           self.combine_threshold, self.max_errors, self.config, self.schemas,
                           self.spool_filter, ranks=ranks,
                           positions=self._positions is not None)
            winners_f = None
            if winners is not None:
                [winners_f] = client.scatter([winners], hash=False)
                futures.append(winners_f)
            token = f"appliance-job-{os.getpid()}-{time.time_ns()}"
            errors_name = None
            if self.max_errors:
                from distributed import Variable

                errors_name = token + "-errors"
                errors_var = Variable(errors_name, client=client)
                errors_var.set(0)
            self._state = state = {"files_done": 0, "records": 0, "bytes": 0, "data_bytes": 0}
            self._report(phase="map", files_total=len(self.inputs), errors=0, **state)
            maps = []
            for i, shipped in self._ship(client, groups):
                sent.extend(shipped)
                maps.append(client.submit(_map_task, i, funcs_f, spec, groups[i], errors_name,
                                          shipped, winners_f, key=f"{token}-map-{i}",
                                          pure=False))
            futures.extend(maps)
            self._map_errors = 0
            results = self._gather(client, maps,
                                   lambda i, res: self._on_map(state, groups[i], res), groups)
            sent.clear()  # mapped: the workers drop the shipped inputs once nothing refers to them
            summary.data_bytes = state["data_bytes"]
            for i in range(len(groups)):
                summary.add_map_result(results[i]["map"])

            if job.map_only:
                record_lists = [results[i]["parts"][0] for i in range(len(groups))]
            else:
                done = [0]

                def on_reduce(i: int, res: dict[str, Any]) -> None:
                    done[0] += 1
                    self._report(phase="reduce", reducers_done=done[0],
                                 reducers_total=summary.reducers,
                                 files_total=len(self.inputs), errors=summary.errors, **state)

                self._report(phase="reduce", reducers_done=0, reducers_total=summary.reducers,
                             files_total=len(self.inputs), errors=summary.errors, **state)
                reds = []
                for r in range(summary.reducers):
                    parts = [client.submit(_part, m, r, key=f"{token}-part-{i}-{r}")
                             for i, m in enumerate(maps)]
                    futures.extend(parts)
                    reds.append(client.submit(_reduce_task, r, funcs_f, str(self.script),
                                              self.combine_threshold, *parts,
                                              key=f"{token}-reduce-{r}", pure=False))
                futures.extend(reds)
                del maps, results
                results = self._gather(client, reds, on_reduce)
                record_lists = [results[r]["records"] for r in range(len(reds))]
                summary.keys = sum(results[r]["keys"] for r in range(len(reds)))
            self._check_cancel()
            self._report(phase="merge", files_total=len(self.inputs), errors=summary.errors,
                         **state)
            write_output(self.output, record_lists, summary, self._check_cancel,
                         setup_header(job))
            return summary
        finally:
            if futures or sent:
                try:
                    client.cancel(futures + [f for f in sent if f is not None])
                except Exception:
                    pass
            if errors_var is not None:
                try:
                    errors_var.delete()
                except Exception:
                    pass
            import cloudpickle

            for m in registered:
                try:
                    cloudpickle.unregister_pickle_by_value(m)
                except ValueError:
                    pass

    def _ship(self, client: Any,
              groups: list[list[Input]]) -> Iterator[tuple[int, list[Any]]]:
        """(task index, per input of the task: a future of its shipped payload if it is
        local, else None), scattered in batches of about `_SHIP_BATCH` input bytes (one
        round trip each, without holding every local input in the driver's memory)."""
        batch: list[tuple[int, list[Any]]] = []
        size = 0
        for i, files in enumerate(groups):
            self._check_cancel()
            batch.append((i, [self._payload(f) if is_local(f) else None for f in files]))
            size += sum(f.size for f in files if is_local(f))
            if size >= _SHIP_BATCH or i == len(groups) - 1:
                flat = [p for _, payloads in batch for p in payloads if p is not None]
                futs = iter(client.scatter(flat, hash=False)) if flat else iter(())
                for j, payloads in batch:
                    yield j, [None if p is None else next(futs) for p in payloads]
                batch, size = [], 0

    def _payload(self, f: InputFile | SpoolInput) -> ConvertedSpool | tuple[str, bytes]:
        """What is shipped for local input `f` (`appliance.mr.shipping`)."""
        try:
            if isinstance(f, InputFile):
                return pack(f)
            # a spool input: the constructor refused one without a config (check_config)
            return convert_spool(f, cast(Config, self.config), self.schemas, self.spool_filter)
        except OSError as e:
            raise JobError(f"job script {self.script}: cannot read the input {f.path} "
                           f"to send it to the cluster: {e}") from None

    def _on_map(self, state: dict[str, int], files: list[Input], res: dict[str, Any]) -> None:
        state["files_done"] += len(files)
        state["bytes"] += sum(f.size for f in files)
        state["records"] += res["map"].records
        state["data_bytes"] += res["data_bytes"]
        self._map_errors += res["map"].skipped
        self._report(phase="map", files_total=len(self.inputs), errors=self._map_errors,
                     **state)

    def _gather(self, client: Any, futures: list[Any],
                on_done: Callable[[int, dict[str, Any]], None],
                inputs: list[list[Input]] | None = None) -> dict[int, Any]:
        """Wait for `futures` (as they finish); raise JobError on the first failure (naming
        the task's `inputs[i]`, if given) and JobCancelled within a second of `cancel()`."""
        from distributed import wait

        index = {f.key: i for i, f in enumerate(futures)}
        results: dict[int, Any] = {}
        pending = set(futures)
        while pending:
            self._check_cancel()
            try:
                done, pending = wait(pending, timeout=_CANCEL_POLL, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            for f in sorted(done, key=lambda f: index[f.key]):
                i = index[f.key]
                try:
                    res = f.result()
                except JobError:
                    raise
                except Exception as e:
                    where = f" (inputs: {_names(inputs[i])})" if inputs else ""
                    raise JobError(f"job script {self.script}: task {f.key}{where} failed: "
                                   f"{type(e).__name__}: {e}") from None
                results[i] = res
                on_done(i, res)
        return results
