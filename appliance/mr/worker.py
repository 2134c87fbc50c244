"""The mapper and reducer processes of the local runner."""

from __future__ import annotations

import heapq
import multiprocessing as mp
import os
import pickle
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from appliance.disk import is_no_space
from appliance.mr.context import MapContext, ReduceContext, call_setup, output_separators
from appliance.mr.dedupe import arrival, input_node, load_winners
from appliance.mr.inputs import Input, RemoteInput, SpoolInput
from appliance.mr.job import Job, JobError, describe_error, load_job
from appliance.mr.keys import canonical_key, partition_of
from appliance.mr.layout2013 import SOURCE_2013, records_2013
from appliance.mr.messages import (
    MapDone,
    MapProgress,
    MapResult,
    MapTask,
    ReduceDone,
    ReduceResult,
    TaskFailed,
)
from appliance.mr.runs import Group, RecordSorter, group_key, premerge, read_groups, write_groups
from appliance.mr.sources import Record, remote_records, spool_records, store_records

PROGRESS_RECORDS = 20_000   # a mapper reports progress at least this often
NOTED_BAD_LINES = 20        # bad lines a mapper describes (the rest are only counted)
_OVERHEAD = 64              # estimated bytes per buffered value besides its payload

if TYPE_CHECKING:  # only for the annotation: the converter loads for spool inputs (_sources)
    from appliance.convert.records import RecordConverter


class ErrorCounter(Protocol):
    """The records map raised on, counted across the mappers of a run: a shared
    `mp.Value("i")`, or the Dask runner's counters."""

    value: int

    def get_lock(self) -> AbstractContextManager[Any]: ...


class ProgressQueue(Protocol):
    """Where a mapper puts its `MapProgress`: the runner's queue, or the Dask task's tally."""

    def put(self, msg: MapProgress, /) -> None: ...


@dataclass(frozen=True)
class JobSpec:
    """What every worker needs (picklable; the job is reloaded from its path)."""

    script: str
    work: str
    reducers: int
    spill_bytes: int
    combine_threshold: int
    max_errors: int
    convert_config: Any = None   # the Config: converts spool inputs, reaches S3 for remote ones
    schemas: Any = None          # tree -> Schema, for spool inputs' partitions
    spool_filter: Any = None     # the job's Filter, applied to spool records
    ranks: Any = None            # --dedupe: input path -> rank (appliance.mr.dedupe)
    positions: bool = False      # --dedupe first pass: map gets (rank, record number) as value
    winners: str | None = None   # --dedupe second pass: the first pass's output
    profile: str | None = None   # a directory for each mapper's cProfile stats (--profile)


def _size(v: Any) -> int:
    t = type(v)
    if t is str or t is bytes:
        return len(v)
    if t is int or t is float or t is bool or v is None:
        return 8
    try:
        return len(pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        return 256


class Mapper:
    def __init__(self, mid: int, spec: JobSpec, job: Job, out: ProgressQueue,
                 errors: ErrorCounter) -> None:
        self.mid, self.spec, self.job, self.out, self.errors = mid, spec, job, out, errors
        self.work = Path(spec.work)
        self.data: dict[Any, list[Any]] = {}
        self.est = 0
        self.runs: dict[int, list[str]] = {}
        self.spills = 0
        self.nspill = 0
        self.at: tuple[Input | None, object] = (None, None)  # (input, where) being mapped
        self.converter: RecordConverter | None = None  # built on the first spool input
        self.counts: Counter[str] = Counter()
        # a map-only job's records (nothing is written until the first spill)
        self.sorter = RecordSorter(self.work, f"m{mid}", spec.spill_bytes)
        self.emit: Callable[[str], None] = self.sorter.add_text
        self.combine = job.combine if not job.map_only else None
        self.field_sep, self.record_sep = output_separators(job) if job.map_only else ("", "")

    # the map context's write
    def write(self, key: Any, value: Any) -> None:
        vals = self.data.get(key)
        if vals is None:
            self.data[key] = [value]
            self.est += _size(key) + _size(value) + 2 * _OVERHEAD
            return
        vals.append(value)
        self.est += _size(value) + _OVERHEAD
        if self.combine is not None and len(vals) > self.spec.combine_threshold:
            new = self._combine(self.combine, key, vals)
            self.est -= sum(_size(v) for v in vals) + _OVERHEAD * (len(vals) - 1)
            self.data[key] = [new]
            self.est += _size(new)

    def write_map_only(self, key: Any, value: Any) -> None:
        self.emit(f"{key}{self.field_sep}{value}{self.record_sep}")

    def _combine(self, combine: Callable[..., Any], key: Any, vals: list[Any]) -> Any:
        got = []

        def collect(k: Any, v: Any) -> None:
            if canonical_key(k) != canonical_key(key):
                raise JobError(f"combine wrote key {k!r} while combining key {key!r}")
            got.append(v)

        try:
            combine(key, vals, MapContext(collect))
        except Exception as e:
            raise JobError(f"job script {self.job.path}: combine raised {type(e).__name__}: "
                           f"{e} for key {key!r} at {self._describe()}\n"
                           f"{describe_error(e)}") from None
        if len(got) != 1:
            raise JobError(f"job script {self.job.path}: combine must write exactly one value "
                           f"per key; it wrote {len(got)} for key {key!r}")
        return got[0]

    def partitioned(self) -> dict[int, list[Group]]:
        """Take the buffered output as sorted (canonical, key, values) groups per reducer."""
        parts: dict[int, list[Group]] = {}
        r_count = self.spec.reducers
        for key, vals in self.data.items():
            c = canonical_key(key)
            if self.combine is not None and len(vals) > 1:
                vals = [self._combine(self.combine, key, vals)]
            parts.setdefault(partition_of(c, r_count), []).append((c, key, vals))
        for groups in parts.values():
            groups.sort(key=group_key)
        self.data, self.est = {}, 0
        return parts

    def spill(self) -> None:
        for r, groups in self.partitioned().items():
            path = str(self.work / f"m{self.mid}-s{self.nspill}-r{r}")
            write_groups(path, groups)
            self.runs.setdefault(r, []).append(path)
        self.nspill += 1

    def _describe(self) -> str:
        """Where the record being mapped is (``input FILE, line N``, ``spool SEG offset N``)."""
        f, where = self.at
        if f is None:
            return "the end of map"
        return where if isinstance(where, str) else f"input {f.path}, line {where}"

    def _sources(self, f: Input) -> Iterator[Record]:
        if isinstance(f, RemoteInput):
            return remote_records(f, self.spec.convert_config)
        if not isinstance(f, SpoolInput):
            return records_2013(f) if f.source == SOURCE_2013 else store_records(f)
        if self.converter is None:
            # The converter (specs, payload conversion) loads only for jobs that read the spool.
            from appliance.convert.factory import record_converter

            self.converter = record_converter(self.spec.convert_config)
        return spool_records(f, self.converter, self.spec.schemas, self.spec.spool_filter,
                             self.counts)

    def run(self, files: list[Input]) -> MapResult:
        job, limit = self.job, self.spec.spill_bytes
        ctx = MapContext(self.write_map_only if job.map_only else self.write)
        fmap = job.map
        records = skipped = bad_lines = 0
        bad_notes: list[str] = []
        pending_records = pending_bytes = 0
        first_error = None
        ranks: dict[str, int] = self.spec.ranks or {}  # set with --dedupe (positions, winners)
        keep = (load_winners(self.spec.winners, {ranks[f.path] for f in files})
                if self.spec.winners else None)
        sources: Counter[str] = Counter()
        for f in files:
            rank = ranks[f.path] if ranks else 0
            node = input_node(f) if self.spec.positions else ""
            before = records
            for n, (where, dims, doc, text, nbytes, received) in enumerate(self._sources(f)):
                if keep is not None and (rank, n) not in keep:
                    self.counts["dedupe_dropped"] += 1
                    continue
                value = arrival(received, node, rank, n) if self.spec.positions else text
                pending_bytes += nbytes
                self.at = (f, where)
                try:
                    fmap(doc, list(dims), value, ctx)
                except JobError:
                    raise
                except ValueError as e:  # a bad line: skipped and counted, as in 2013
                    bad_lines += 1
                    if len(bad_notes) < NOTED_BAD_LINES:
                        bad_notes.append(f"{self._describe()} (docId {doc!r}): "
                                         f"{type(e).__name__}: {e}")
                except Exception as e:
                    if is_no_space(e):
                        raise  # not the record's fault: the whole job fails (run_task)
                    msg = (f"job script {job.path}: map raised {type(e).__name__}: {e}\n"
                           f"  {self._describe()} (docId {doc!r})\n{describe_error(e)}")
                    with self.errors.get_lock():
                        self.errors.value += 1
                        total = self.errors.value
                    if total > self.spec.max_errors:
                        if self.spec.max_errors:
                            msg += (f"\n(more than max_errors={self.spec.max_errors} "
                                    f"bad records)")
                        raise JobError(msg) from None
                    skipped += 1
                    if first_error is None:
                        first_error = "\n".join(msg.split("\n")[:2])
                records += 1
                pending_records += 1
                if self.est > limit:
                    self.spill()
                    self.spills += 1
                if pending_records >= PROGRESS_RECORDS:
                    self.out.put(MapProgress(self.mid, pending_records, pending_bytes))
                    pending_records = pending_bytes = 0
            sources[f.source] += records - before
            self.out.put(MapProgress(self.mid, pending_records, pending_bytes, 1, f.size))
            pending_records = pending_bytes = 0
        self.at = (None, None)
        runs, spills = self.finish_runs()
        return MapResult(runs, records, skipped, spills, first_error, dict(self.counts),
                         dict(sources), bad_lines, bad_notes)

    def finish_runs(self) -> tuple[dict[int, list[str]], int]:
        """Spill what is buffered; the sorted runs' paths per reducer partition (partition 0
        for a map-only job's records) and the number of spills."""
        if self.job.map_only:
            return {0: self.sorter.finish()}, self.sorter.spills
        self.spill()
        return self.runs, self.spills


def worker_main(wid: int, spec: JobSpec, tasks: mp.Queue[Any], out: mp.Queue[Any],
                errors: ErrorCounter) -> None:
    """A runner process: run `MapTask`s and `ReduceTask`s from `tasks` until None, putting
    results, progress and failures on `out` (appliance.mr.messages; the same processes map
    and then reduce, so a job pays for starting them once)."""
    job = None
    while (task := tasks.get()) is not None:
        try:
            job = job or load_job(spec.script)
            if isinstance(task, MapTask):
                mapper = Mapper(task.tid, spec, job, out, errors)
                result = _profiled(spec.profile, task.tid, mapper.run, task.files)
                out.put(MapDone(task.tid, result))
            else:
                out.put(ReduceDone(task.tid, _reduce(task.tid, spec, task.runs, job)))
        except JobError as e:
            out.put(TaskFailed(task.tid, str(e)))
            return
        except BaseException as e:
            role = "mapper" if isinstance(task, MapTask) else "reducer"
            why = (f"the disk is full ({e}); free space and run the job again"
                   if is_no_space(e) else describe_error(e))
            out.put(TaskFailed(task.tid, f"{role} {task.tid} failed: {why}"))
            return


def _profiled(directory: str | None, mid: int, run: Callable[[list[Input]], MapResult],
              files: list[Input]) -> MapResult:
    """`run(files)`, under cProfile when profiling (`directory`/mapper-N.prof)."""
    if directory is None:
        return run(files)
    import cProfile  # only a profiled run (`job run -p`) needs it

    profile = cProfile.Profile()
    try:
        return profile.runcall(run, files)
    finally:
        profile.dump_stats(os.path.join(directory, f"mapper-{mid}.prof"))


def _drop(text: str) -> None:
    pass


def reduce_groups(job: Job, rid: int, groups: Iterable[Group], emit: Callable[[str], None],
                  combine_threshold: int) -> int:
    """Call setup_reduce (for its separators), then reduce once per key of `groups` (sorted
    (canonical, key, values) tuples, a key possibly spread over several); formatted records
    go to `emit`. Returns the number of keys. Shared by the local and the Dask runner."""
    ctx = ReduceContext(emit)
    if job.setup_reduce is not None:
        ctx._sink = _drop  # the header it writes is the driver's (`setup_header`)
        call_setup(job, ctx)
        ctx._sink = emit
    fred, fcomb = job.reduce, job.combine
    if fred is None:
        raise JobError(f"job script {job.path} has no reduce: it is map-only")

    def combine(fcomb: Callable[..., Any], key: Any, values: list[Any]) -> list[Any]:
        got: list[Any] = []
        try:
            fcomb(key, values, MapContext(lambda k, v: got.append(v)))
        except Exception as e:
            raise JobError(f"job script {job.path}: combine raised {type(e).__name__}: {e} "
                           f"for key {key!r} (reducer {rid})\n{describe_error(e)}") from None
        if len(got) != 1:
            raise JobError(f"job script {job.path}: combine must write exactly one value per "
                           f"key; it wrote {len(got)} for key {key!r}")
        return got

    def call(key: Any, values: list[Any]) -> None:
        try:
            fred(key, values, ctx)
        except JobError:
            raise
        except Exception as e:
            raise JobError(f"job script {job.path}: reduce raised {type(e).__name__}: {e} "
                           f"for key {key!r} (reducer {rid})\n{describe_error(e)}") from None

    keys = 0
    cur: bytes | None = None
    cur_key: Any = None
    values: list[Any] = []
    for c, key, vals in groups:
        if c != cur:
            if cur is not None:
                call(cur_key, values)
                keys += 1
            cur, cur_key, values = c, key, list(vals)
        else:
            values.extend(vals)
            if fcomb is not None and len(values) > combine_threshold:
                values = combine(fcomb, cur_key, values)
    if cur is not None:
        call(cur_key, values)
        keys += 1
    return keys


def _reduce(rid: int, spec: JobSpec, runs: list[str], job: Job) -> ReduceResult:
    work = Path(spec.work)
    sorter = RecordSorter(work, f"r{rid}", spec.spill_bytes)
    runs = premerge(runs, work, f"r{rid}", groups=True)
    keys = reduce_groups(job, rid, heapq.merge(*(read_groups(p) for p in runs), key=group_key),
                         sorter.add_text, spec.combine_threshold)
    for p in runs:
        os.unlink(p)
    return ReduceResult(sorter.finish(), keys, sorter.spills)
