"""Clone detection: each exporting node registers its id in the bucket, with a token.

A copied data dir (a cloned VM or volume, a restored backup started beside
the original) carries the original's node id. Two live nodes with one id
would write the same keys, so one node's objects could overwrite the
other's, and a job would take the other's objects for its own. Each node
therefore keeps ``<prefix>/.nodes/<node id>.json`` (a name that is never a
store key) holding a *run token*: random, new at every start.

Every `interval` the node reads the object, then writes it with its own
token. After its first write, reading another token proves that another
live process wrote it since: a clone. (The first read cannot tell: the token
there may be this data dir's own previous run.) The object also lists the
tokens its writer found clashing, so the other node learns of the clash at
its next read even if its own read happened to miss the other's write. The
clash is sticky until restart: it is logged as an error, makes health
not-ok, shows in /v1/stats and `appliance status`, holds the exporter (no
uploads that could overwrite the other node's objects) and makes jobs with
S3 inputs on either node fail (`appliance.mr.plan`). Exports also wait for the
node's second check-in after a start (no other token seen in between).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from appliance.export.errors import describe, error_kind
from appliance.export.uploader import object_key
from appliance.reactortype import IServiceReactor

log = Logger()
REGISTRY_DIR = ".nodes"
MAX_CLONES = 8  # clashing runs listed in the object (a bound on its size)


def registry_key(prefix: str, node_id: str) -> str:
    """The object key of a node id's registration."""
    return object_key(prefix, f"{REGISTRY_DIR}/{node_id}.json")


def read_registration(client: Any, bucket: str, prefix: str,
                      node_id: str) -> dict[str, Any] | None:
    """A node id's registration in the bucket, or None if it has none (blocking)."""
    try:
        body = client.get_object(Bucket=bucket, Key=registry_key(prefix, node_id))["Body"]
    except ClientError as e:
        if error_kind(e) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    try:
        data = json.loads(body.read())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def clone_problem(node_id: str, clones: list[dict[str, Any]]) -> str:
    """The message that names a clash (health, status, logs, jobs)."""
    others = "; ".join(f"{c.get('label', '?')} on host {c.get('host', '?')}, seen "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(c.get('seen', 0)))} "
                       f"UTC" for c in clones)
    return (f"node id {node_id} is claimed by another live data dir ({others}): a cloned "
            f"data dir; exports are held and jobs refuse S3 inputs until one of them gets a "
            f"new identity (docs/install.md, \"Several nodes, one bucket\")")


class Registration:
    """This run's registration under one node id (blocking S3 calls)."""

    def __init__(self, client: Any, bucket: str, prefix: str, node_id: str, label: str, *,
                 wall: Callable[[], float] = time.time):
        """`client` is a boto3 S3 client (untyped); `wall()` is the time written into the
        registration (the reactor's clock)."""
        self._wall = wall
        self.client, self.bucket, self.key = client, bucket, registry_key(prefix, node_id)
        self.prefix = prefix
        self.node_id = node_id
        self.mine: dict[str, Any] = {
            "node_id": node_id, "label": label, "host": socket.gethostname(),
            "pid": os.getpid(), "token": os.urandom(16).hex(), "started": wall()}
        self.written = 0  # check-ins done
        self.clones: dict[str, dict[str, Any]] = {}  # token -> what the clashing run wrote

    def check_in(self) -> None:
        """Read the registration, note a clash, write this run's."""
        current = read_registration(self.client, self.bucket, self.prefix, self.node_id)
        token = self.mine["token"]
        if current is not None and current.get("token") != token:
            known = {c.get("token") for c in current.get("clones", [])}
            if self.written or token in known:  # first sighting kept: the report stays put
                self.clones.setdefault(str(current.get("token")), {
                    k: current.get(k) for k in ("label", "host", "pid", "token", "seen")})
        body = dict(self.mine, seen=self._wall(),
                    clones=list(self.clones.values())[-MAX_CLONES:])
        self.client.put_object(Bucket=self.bucket, Key=self.key,
                               Body=json.dumps(body).encode(), ContentType="application/json")
        self.written += 1


class CloneWatch:
    """Checks in every `interval` on its own thread; `problem` names a clash, `confirmed`
    becomes true at the first clean second check-in. `on_change()` is called (reactor
    thread) when either changes."""

    def __init__(self, reactor: IServiceReactor, registration: Registration, interval: float,
                 on_change: Callable[[], None] = lambda: None):
        self.reactor = reactor
        self.registration = registration
        self.on_change = on_change
        self.problem: str | None = None
        self.confirmed = False
        self.last_error: str | None = None
        self._pool = ThreadPool(minthreads=0, maxthreads=1, name="node-registry")
        self._loop = LoopingCall(self.tick)
        self._loop.clock = reactor
        self._interval = interval
        self._in_flight: Deferred[None] | None = None

    def start(self) -> None:
        self._pool.start()
        self._loop.start(self._interval, now=True)

    async def stop(self) -> None:
        """Stop checking in; wait for a check-in in flight, then stop the thread."""
        if self._loop.running:
            self._loop.stop()
        if self._in_flight is not None:
            await self._in_flight
        self._pool.stop()

    def tick(self) -> Deferred[None] | None:
        if self._in_flight is not None:
            return None
        d = deferToThreadPool(self.reactor, self._pool, self.registration.check_in)
        d.addCallbacks(self._checked, self._failed)
        d.addBoth(self._done)
        self._in_flight = d
        return d

    def _done(self, _: object) -> None:
        self._in_flight = None

    def _checked(self, _: None) -> None:
        reg = self.registration
        self.last_error = None
        if reg.clones:
            problem = clone_problem(reg.node_id, list(reg.clones.values()))
            if problem != self.problem:
                self.problem = problem
                log.error("node: {problem}", problem=problem)
                self.on_change()
        elif not self.confirmed and reg.written >= 2:
            self.confirmed = True
            log.info("node: id {id} registered in s3://{bucket}/{key}", id=reg.node_id,
                     bucket=reg.bucket, key=reg.key)
            self.on_change()

    def _failed(self, failure: Failure) -> None:
        if not failure.check(BotoCoreError, ClientError, OSError):
            log.failure("node: registering the node id failed", failure)
        error = describe(failure.value)
        if error != self.last_error:
            log.warn("node: cannot register the node id: {error}", error=error)
        self.last_error = error

    def describe(self) -> dict[str, Any]:
        """For /v1/stats: the registration's state."""
        return {"registered": self.confirmed, "problem": self.problem,
                "last_error": self.last_error}
