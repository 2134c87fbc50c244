"""Typed messages between the dashboard's worker threads and its screens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from appliance.tui.feed import Update


@dataclass
class Polled(Message, bubble=False):
    """A poll finished; a newer one still in the queue replaces it (updates coalesce)."""

    update: Update

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Polled)


@dataclass
class JobSubmitted(Message):
    """The server accepted a job from the launch form."""

    job: dict[str, Any]


@dataclass
class JobRejected(Message):
    """The server refused a job (its 400 message) or could not be reached."""

    error: str


@dataclass
class JobChanged(Message):
    """A job's state changed because of something the user did (cancel)."""

    job: dict[str, Any]


@dataclass
class ChunkRead(Message):
    """A page of a job's output or log (`kind` is "output" or "log")."""

    job_id: str
    kind: str
    chunk: dict[str, Any]


@dataclass
class ChunkFailed(Message):
    """A page could not be read: no output yet (409), unknown job, disconnected."""

    job_id: str
    kind: str
    error: str
