"""A job's states, shared by the pool, the CLI and the dashboard (no Twisted needed)."""

STATES = ("queued", "running", "succeeded", "failed", "cancelled", "timed_out")
ACTIVE = frozenset(STATES[:2])
FINISHED = frozenset(STATES[2:])
