"""A job's states, shared by the pool, the CLI and the dashboard (no Twisted needed)."""

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life; the value is what the API and state.json carry."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING})
FINISHED = frozenset(JobState) - ACTIVE
