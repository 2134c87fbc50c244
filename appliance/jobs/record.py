"""A job's record: what the pool keeps per job, writes to state.json and serves as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from appliance.jobs.states import JobState


@dataclass
class JobRecord:
    """One job as the API shows it. `options` is `JobRequest.options()`; `progress` the
    worker's latest progress.json; `summary` the run's summary once it succeeded;
    `warning` why a succeeded job's answer may be wrong (it read no records)."""

    id: str
    name: str
    state: JobState
    submitted_at: float
    started_at: float | None = None
    finished_at: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    progress: dict[str, Any] = field(default_factory=lambda: {"phase": "queued"})
    summary: dict[str, Any] | None = None
    output_bytes: int | None = None
    warning: str | None = None  # a succeeded job that read no records

    @property
    def timeout(self) -> float | None:
        """Seconds the job may run, or None for no limit."""
        timeout = self.options.get("timeout")
        return None if timeout is None else float(timeout)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (the API's and state.json's form)."""
        out = asdict(self)
        out["state"] = self.state.value
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> JobRecord:
        """A record from its JSON form; keys this version does not know are ignored, so a
        newer server's state.json or API answer still reads."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in obj.items() if k in known}
        return cls(**values | {"state": JobState(obj["state"])})
