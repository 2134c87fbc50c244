"""The local MapReduce runner: N mapper and M reducer processes on this node.

Flow (docs/mapreduce.md has the user's view):

1. `select_inputs` lists the store files of the partitions a `Filter` selects
   (`walk_partitions`, so pruned directories are never listed or opened).
2. Files are balanced by size over N mapper processes (largest first, to the
   least loaded). A mapper reads its files record by record and calls
   ``map(docId, dims, json_text, context)``. Its output is held in a dict
   key -> values; when a key's list grows past `combine_threshold` and the job
   has `combine`, the list is combined to one value. When the estimated size
   of the dict passes `spill_bytes` it is spilled: per reducer partition
   (``crc32(canonical_key(key)) % M``) a run sorted by the canonical key
   encoding, pickled to a file in the work dir. The rest is spilled at the end.
3. M reducer processes each merge their partition's runs (heapq.merge on the
   canonical encoding), group by key, call ``reduce(key, values, context)``
   and feed the formatted records to an external sorter (sorted runs on disk,
   also bounded by `spill_bytes`).
4. The driver merges all sorted record runs into a temp file next to the
   output and renames it over the output.

Output rule: the output is the job's records sorted by their UTF-8 bytes, so
it does not depend on N, M or the order of the input files (a reduce that
depends on the order of its values, or a float sum regrouped by combine, can
still differ). A map-only job (no `reduce`) has its map output formatted as
``str(key) + "\\t" + str(value) + "\\n"`` and sorted the same way.

Processes are started with the "spawn" method; workers load the job script by
path themselves, so nothing relies on fork. Temp files live in a private work
dir that is removed at the end, on error and on cancel.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any, TypeVar

from appliance.config import Config
from appliance.mr.context import setup_header
from appliance.mr.dedupe import WINNERS_SCRIPT, rank_inputs
from appliance.mr.inputs import Input, balance, check_config
from appliance.mr.job import JobError, load_job
from appliance.mr.messages import (
    MapDone,
    MapProgress,
    MapResult,
    MapTask,
    ReduceDone,
    ReduceTask,
    TaskFailed,
)
from appliance.mr.progress import Progress, ProgressCallback, relabelled
from appliance.mr.runs import premerge, read_records, write_output
from appliance.mr.worker import NOTED_BAD_LINES, JobSpec, worker_main
from appliance.storage.filters import Filter
from appliance.storage.keys import SchemaSource

_Done = TypeVar("_Done", MapDone, ReduceDone)

DEFAULT_SPILL_BYTES = 64 << 20
DEFAULT_COMBINE_THRESHOLD = 256
NO_INPUTS = 3  # exit status of `job run` (and `job submit --wait`) without input records

class JobCancelled(Exception):
    """The job was cancelled (`LocalRunner.cancel`); workers are gone and temp files removed."""


# --- the driver -------------------------------------------------------------------------------

@dataclass
class JobSummary:
    """What a run did. `errors` are map records skipped under `max_errors`."""

    script: str
    output: str
    mappers: int
    reducers: int
    input_files: int = 0
    input_bytes: int = 0
    records: int = 0
    data_bytes: int = 0
    errors: int = 0
    first_error: str | None = None
    bad_lines: int = 0       # records on which map raised ValueError: skipped, as in 2013
    bad_line_notes: list[str] = field(default_factory=list)  # where the first ones are
    keys: int = 0
    output_records: int = 0
    output_bytes: int = 0
    header_lines: int = 0    # lines at the top of the output written by setup_reduce
    spills: int = 0
    elapsed: float = 0.0
    # counters (spool, dedupe) and, from the Dask runner, its name and scheduler
    extra: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)  # records read: spool, store, s3:<node>

    def add_sources(self, counts: dict[str, int]) -> None:
        """Add one mapper's records per source."""
        for name, n in counts.items():
            self.sources[name] = self.sources.get(name, 0) + n

    def add_map_result(self, res: MapResult) -> None:
        """Add one map task's counts (records, skipped errors, bad lines, sources)."""
        self.records += res.records
        self.errors += res.skipped
        self.first_error = self.first_error or res.first_error
        self.bad_lines += res.bad_lines
        self.bad_line_notes.extend(res.bad_notes[:NOTED_BAD_LINES - len(self.bad_line_notes)])
        for name, n in res.counts.items():
            self.extra[name] = self.extra.get(name, 0) + n
        self.add_sources(res.sources)

    def warning(self) -> str | None:
        """What a job that ran may have got wrong: no input records at all (`job run` exits
        3). Its output is then empty, but for the header `setup_reduce` writes."""
        if self.records == 0:
            return ("the job read no input records: the filter selected no partition with "
                    "data (check its dimensions and dates, and the data dir or store)")
        return None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def report(self) -> str:
        """The summary as the lines `appliance job run` prints and job logs end with."""
        rate = self.data_bytes / self.elapsed / 1e6 if self.elapsed else 0.0
        text = (f"{self.output}: {self.output_records} records, {self.output_bytes} bytes\n"
                f"input: {self.input_files} files, {self.records} records, {self.input_bytes} "
                f"bytes ({self.data_bytes} uncompressed, {rate:.1f} MB/s)\n"
                f"time: {self.elapsed:.2f} s with {self.mappers} mappers, {self.reducers} "
                f"reducers; {self.spills} spills\n"
                f"errors: {self.errors} records skipped\n")
        if self.sources:
            text += f"sources: {describe_sources(self.sources)}\n"
        spool = self.extra.get("spool_records")
        if spool:
            text += (f"spool: {spool} records not converted yet, "
                     f"{self.extra.get('spool_invalid', 0)} invalid skipped, "
                     f"{self.extra.get('spool_duplicates', 0)} duplicates dropped\n")
        if self.first_error:
            text += f"first error: {self.first_error}\n"
        if self.bad_lines:
            text += f"bad lines: {self.bad_lines} records skipped (map raised ValueError)\n"
            text += "".join(f"Bad line: {note}\n" for note in self.bad_line_notes)
        return text


def describe_sources(sources: dict[str, int]) -> str:
    """``spool 10, store 35, s3 node-b-<id> 38``: records read per source, local ones first."""
    order = {"spool": 0, "store": 1}
    names = sorted(sources, key=lambda name: (order.get(name, 2), name))
    return ", ".join(f"{name.replace(':', ' ', 1)} {sources[name]}" for name in names)


class LocalRunner:
    """Run one job over `inputs` with N mappers and M reducers; `run()` returns a `JobSummary`.

    `progress` (if given) is called in the driver with a `Progress` at each phase
    and as mappers report. `cancel()` may be called from any thread: workers are
    terminated and `run` raises `JobCancelled`. With `profile_dir` each mapper's
    cProfile stats go there as ``mapper-N.prof``.

    `inputs` are store files (`InputFile`) and at most one `SpoolInput` (records
    not converted yet, see `appliance.mr.plan`); for the latter the runner needs
    the `config` to convert with, the `schemas` and the job's `spool_filter`.
    Counts of spool records read, invalid and duplicate end in `summary.extra`.
    """

    def __init__(self, script: str | Path, inputs: Iterable[Input], output: str | Path, *,
                 mappers: int = 2, reducers: int = 1, work_dir: str | Path | None = None,
                 spill_bytes: int = DEFAULT_SPILL_BYTES,
                 combine_threshold: int = DEFAULT_COMBINE_THRESHOLD, max_errors: int = 0,
                 progress: ProgressCallback | None = None,
                 config: Config | None = None, schemas: SchemaSource = None,
                 spool_filter: Filter | None = None, dedupe: bool = False,
                 profile_dir: str | Path | None = None,
                 _positions: dict[str, int] | None = None) -> None:
        if mappers < 1 or reducers < 1:
            raise ValueError("mappers and reducers must be at least 1")
        if combine_threshold < 1 or spill_bytes < 1 or max_errors < 0:
            raise ValueError("combine_threshold and spill_bytes must be positive, "
                             "max_errors not negative")
        self.script = Path(script).resolve()
        self.inputs = list(inputs)
        check_config(self.inputs, config)
        self.output = Path(output)
        self.mappers, self.reducers = mappers, reducers
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.spill_bytes, self.combine_threshold = spill_bytes, combine_threshold
        self.max_errors = max_errors
        self.progress = progress
        self.convert = (config, schemas, spool_filter)  # for a `SpoolInput` among the inputs
        self.dedupe = dedupe
        self.profile_dir = Path(profile_dir) if profile_dir is not None else None
        self._positions = _positions  # ranks, when this is the first pass of a dedupe
        self._cancel = threading.Event()
        self._procs: list[SpawnProcess] = []

    def cancel(self) -> None:
        """Stop the run: workers are terminated within seconds, temp files removed."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _report(self, **info: Any) -> None:
        if self.progress is not None:
            self.progress(Progress(**info))

    def run(self) -> JobSummary:
        start = time.monotonic()
        job = load_job(self.script)  # a bad script fails here, before any process starts
        header = setup_header(job)
        summary = JobSummary(str(self.script), str(self.output), self.mappers,
                             1 if job.map_only else self.reducers,
                             input_files=len(self.inputs),
                             input_bytes=sum(f.size for f in self.inputs))
        self.output.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="appliance-job-",
                                     dir=self.work_dir or self.output.parent))
        ctx = mp.get_context("spawn")
        q, tasks = ctx.Queue(), ctx.Queue()
        finished = False
        try:
            ranks, winners = self._positions, None
            if self.dedupe:
                ranks, winners = self._winners(work, summary)
            spec = JobSpec(str(self.script), str(work), summary.reducers, self.spill_bytes,
                           self.combine_threshold, self.max_errors, *self.convert, ranks=ranks,
                           positions=self._positions is not None, winners=winners,
                           profile=self._profile_dir())
            groups = balance(self.inputs, self.mappers)
            summary.mappers = max(1, len(groups))
            errors = ctx.Value("i", 0)
            state = {"files_done": 0, "records": 0, "bytes": 0, "data_bytes": 0}

            def on_progress(msg: MapProgress) -> None:
                state["records"] += msg.records
                state["data_bytes"] += msg.data_bytes
                state["files_done"] += msg.files_done
                state["bytes"] += msg.file_bytes
                self._report(phase="map", files_total=len(self.inputs), errors=errors.value,
                             **state)

            self._report(phase="map", files_total=len(self.inputs), errors=0, **state)
            nprocs = max(1, len(groups), 0 if job.map_only else summary.reducers)
            self._start(ctx, [(worker_main, (i, spec, tasks, q, errors))
                              for i in range(nprocs)])
            for i, g in enumerate(groups):
                tasks.put(MapTask(i, g))
            mapped = self._collect(q, MapDone, len(groups), "mapper", on_progress)
            runs_by_r: dict[int, list[str]] = {}
            for i in sorted(mapped):
                res = mapped[i].result
                summary.add_map_result(res)
                summary.spills += res.spills
                for r, paths in res.runs.items():
                    runs_by_r.setdefault(r, []).extend(paths)
            summary.data_bytes = state["data_bytes"]

            if job.map_only:
                final_runs = runs_by_r.get(0, [])
            else:
                todo = sorted(runs_by_r)
                done = [0]

                def on_reduce_done() -> None:
                    done[0] += 1
                    self._report(phase="reduce", reducers_done=done[0],
                                 reducers_total=len(todo), files_total=len(self.inputs),
                                 errors=summary.errors, **state)

                self._report(phase="reduce", reducers_done=0, reducers_total=len(todo),
                             files_total=len(self.inputs), errors=summary.errors, **state)
                for r in todo:
                    tasks.put(ReduceTask(r, runs_by_r[r]))
                reduced = self._collect(q, ReduceDone, len(todo), "reducer", None,
                                        on_reduce_done)
                final_runs = []
                for i in sorted(reduced):
                    done_r = reduced[i].result
                    final_runs.extend(done_r.runs)
                    summary.keys += done_r.keys
                    summary.spills += done_r.spills
            self._check_cancel()
            self._report(phase="merge", files_total=len(self.inputs), errors=summary.errors,
                         **state)
            final_runs = premerge(final_runs, work, "final", groups=False)
            write_output(self.output, [read_records(p) for p in final_runs], summary,
                         self._check_cancel, header)
            summary.elapsed = time.monotonic() - start
            self._report(phase="done", files_total=len(self.inputs), errors=summary.errors,
                         **state)
            finished = True
            return summary
        finally:
            for _ in self._procs:
                tasks.put(None)
            self._stop_all(grace=3.0 if finished else 0.0)
            for channel in (q, tasks):
                channel.close()
                channel.cancel_join_thread()
            shutil.rmtree(work, ignore_errors=True)

    def _profile_dir(self) -> str | None:
        """Where mappers write their cProfile stats (emptied first), if profiling."""
        if self.profile_dir is None:
            return None
        shutil.rmtree(self.profile_dir, ignore_errors=True)
        self.profile_dir.mkdir(parents=True)
        return str(self.profile_dir)

    def _winners(self, work: Path, summary: JobSummary) -> tuple[dict[str, int], str]:
        """Run the first pass of --dedupe (appliance.mr.dedupe); (ranks, winners file)."""
        ranks = rank_inputs(self.inputs)
        winners = work / "winners.tsv"
        first = LocalRunner(WINNERS_SCRIPT, self.inputs, winners, mappers=self.mappers,
                            reducers=self.reducers, work_dir=work, spill_bytes=self.spill_bytes,
                            progress=relabelled(self.progress, "dedupe"),
                            config=self.convert[0], schemas=self.convert[1],
                            spool_filter=self.convert[2], _positions=ranks)
        first._cancel = self._cancel
        summary.extra["dedupe_docs"] = first.run().output_records
        return ranks, str(winners)

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled(f"job {self.script} cancelled")

    def _start(self, ctx: SpawnContext,
               targets: list[tuple[Callable[..., None], tuple[Any, ...]]]) -> None:
        for i, (target, args) in enumerate(targets):
            p = ctx.Process(target=target, args=args, name=f"appliance-worker-{i}", daemon=True)
            p.start()
            self._procs.append(p)

    def _stop_all(self, grace: float = 3.0) -> None:
        """Let workers leave after their sentinel, terminate those that do not."""
        deadline = time.monotonic() + grace
        for p in self._procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in self._procs:
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + 3
        for p in self._procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(2)
        self._procs = []

    def _collect(self, q: mp.Queue[Any], done: type[_Done], count: int, role: str,
                 on_progress: Callable[[MapProgress], None] | None = None,
                 on_done: Callable[[], None] | None = None) -> dict[int, _Done]:
        """Collect `count` `done` messages by task id; raise on a failed task, a dead
        worker, or cancel."""
        results: dict[int, _Done] = {}
        dead_since: dict[int, float] = {}
        while len(results) < count:
            self._check_cancel()
            try:
                msg = q.get(timeout=0.1)
            except queue_mod.Empty:
                now = time.monotonic()
                for i, p in enumerate(self._procs):
                    if not p.is_alive():
                        since = dead_since.setdefault(i, now)
                        if now - since > 1.0:
                            raise JobError(f"job script {self.script}: {role} process {i} "
                                           f"exited with code {p.exitcode} without a result "
                                           f"(killed, out of memory, or os._exit in the "
                                           f"script?)") from None
                continue
            if isinstance(msg, MapProgress):
                if on_progress is not None:
                    on_progress(msg)
            elif isinstance(msg, TaskFailed):
                raise JobError(msg.message)
            elif isinstance(msg, done):
                results[msg.tid] = msg
                if on_done is not None:
                    on_done()
        return results
