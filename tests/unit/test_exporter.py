"""The exporter's retry backoff on a Clock, with its "threads" run at once and a fake S3."""

from __future__ import annotations

from botocore.exceptions import ClientError, EndpointConnectionError

from appliance.export.exporter import Exporter
from appliance.export.uploader import Uploaded
from appliance.stats import Stats
from tests.unit.thread_fakes import InlinePool, ThreadReactor

INTERVAL = 0.5
MAX_BACKOFF = 8.0


class FakeUploader:
    """Fails each export with the next of `errors`, then succeeds; notes when it was asked."""

    bucket = "telemetry"

    def __init__(self, clock, errors):
        self.clock = clock
        self.errors = list(errors)
        self.attempts: list[float] = []

    def probe(self):
        pass

    def export(self, path, key):
        self.attempts.append(self.clock.seconds())
        if self.errors:
            raise self.errors.pop(0)
        return Uploaded(key, path.stat().st_size, "etag", already_there=False)


def denied() -> ClientError:
    return ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")


def exporting(tmp_path, errors, rng=1.0):
    store = tmp_path / "store"
    (store / "telemetry").mkdir(parents=True)
    (store / "telemetry" / "part-0.zst").write_bytes(b"x" * 10)
    reactor = ThreadReactor()
    uploader = FakeUploader(reactor, errors)
    stats = Stats(reactor.seconds)
    exporter = Exporter(reactor, uploader, store, stats, concurrency=1, interval=INTERVAL,
                        max_backoff=MAX_BACKOFF, rng=lambda: rng, pool=InlinePool())
    exporter.start()
    return reactor, uploader, stats, store


def test_passing_failures_wait_twice_as_long_each_time_up_to_max_backoff(tmp_path):
    outage = [EndpointConnectionError(endpoint_url="http://s3")] * 6
    reactor, uploader, stats, store = exporting(tmp_path, outage)
    for _ in range(int(40 / INTERVAL)):
        reactor.advance(INTERVAL)
    assert uploader.attempts == [0.0, 1.0, 3.0, 7.0, 15.0, 23.0, 31.0]
    assert not (store / "telemetry" / "part-0.zst").exists()  # shipped at the 7th try
    assert stats.export["uploaded_files"] == 1
    assert stats.export["errors"] == {"EndpointConnectionError": 6}
    assert stats.export["problem"] is None


def test_the_jitter_shortens_a_wait_by_at_most_half(tmp_path):
    reactor, uploader, _, _ = exporting(tmp_path, [OSError("reset")] * 2, rng=0.0)
    for _ in range(int(5 / INTERVAL)):
        reactor.advance(INTERVAL)
    assert uploader.attempts == [0.0, 0.5, 1.5]  # half of 1 s, then half of 2 s


def test_a_setup_problem_waits_max_backoff_and_is_shown_until_an_upload_succeeds(tmp_path):
    reactor, uploader, stats, _ = exporting(tmp_path, [denied()])
    assert stats.export["problem"] == "s3://telemetry: AccessDenied: no"
    reactor.advance(MAX_BACKOFF - INTERVAL)
    assert uploader.attempts == [0.0]
    reactor.advance(INTERVAL)
    assert uploader.attempts == [0.0, MAX_BACKOFF]
    assert stats.export["problem"] is None
    assert stats.export["last_error"] == "telemetry/part-0.zst: AccessDenied: no"
