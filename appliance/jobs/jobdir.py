"""One job's directory under `<data_dir>/jobs/<id>/`, shared by the pool and its worker.

    request.json   the submission without the script (JobRequest.options())
    script/NAME    the script, under the name it was submitted with (a job directory
                   submitted as a bundle: its files, NAME being job.py)
    state.json     the pool's record (JobRecord.to_json()): state, times, error; once
                   finished also the last progress, the summary and the output size
                   (atomically replaced)
    progress.json  the worker's latest progress (atomically replaced)
    result.json    the worker's outcome: {"state", "summary", "error"}
    output.txt     the job's output (renamed into place when complete)
    log.txt        the worker's stdout and stderr
    work/          spills and the input snapshot; removed when the worker ends
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

from appliance.durable import write_atomic
from appliance.jobs.request import JobRequest
from appliance.mr.bundle import unpack


class JobDir:
    """Paths and small atomic reads and writes of one job's directory."""

    def __init__(self, root: Path):
        self.root = root
        self.id = root.name

    request = property(lambda self: self.root / "request.json")
    state = property(lambda self: self.root / "state.json")
    progress = property(lambda self: self.root / "progress.json")
    result = property(lambda self: self.root / "result.json")
    output = property(lambda self: self.root / "output.txt")
    log = property(lambda self: self.root / "log.txt")
    work = property(lambda self: self.root / "work")

    @property
    def script(self) -> Path:
        return self.root / "script" / str(self._options()["name"])

    def read_request(self) -> JobRequest:
        """The job's request, as submitted (after the server's defaults were applied)."""
        return JobRequest.from_options(self._options(), self.script.read_text(encoding="utf-8"))

    def _options(self) -> dict[str, Any]:
        options = self.read(self.request)
        if options is None:
            raise FileNotFoundError(f"{self.request}: missing or not JSON")
        return options

    def create(self, request: JobRequest) -> None:
        """Write a new job's request and script (or its bundle's files)."""
        if request.bundle:
            unpack(base64.b64decode(request.bundle), self.root / "script")
        else:
            (self.root / "script").mkdir(parents=True)
            (self.root / "script" / request.name).write_text(request.script, encoding="utf-8")
        self.write(self.request, request.options())

    def write(self, path: Path, obj: dict[str, Any]) -> None:
        """Replace a JSON file atomically and durably (readers see the old or the new one)."""
        write_atomic(path, json.dumps(obj, sort_keys=True).encode())

    @staticmethod
    def read(path: Path) -> dict[str, Any] | None:
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            return obj if isinstance(obj, dict) else None
        except (FileNotFoundError, ValueError):
            return None

    def remove_work(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def read_chunk(path: Path, offset: int, limit: int) -> dict[str, Any]:
    """Bytes [offset, offset+limit) of a text file as a page: offset, next_offset, size, eof,
    text (a page never splits a UTF-8 character: it ends before a partial one)."""
    offset, limit = max(0, offset), max(1, min(limit, 1 << 22))
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(offset)
            data = f.read(limit)
    except FileNotFoundError:
        size, data = 0, b""
    end = len(data)
    if offset + end < size:  # cut at a character boundary unless this is the end
        while end > 0 and (data[end - 1] & 0xC0) == 0x80:
            end -= 1
        if end > 0 and data[end - 1] >= 0xC0:
            end -= 1
        end = end or len(data)
    text = data[:end].decode("utf-8", "replace")
    nxt = offset + end
    return {"offset": offset, "next_offset": nxt, "size": size, "eof": nxt >= size, "text": text}
