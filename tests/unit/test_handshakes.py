"""Failed TLS handshakes: counted, logged at most once per interval."""

from __future__ import annotations

from twisted.logger import globalLogPublisher

from appliance.receiver.handshakes import HandshakeFailures


def test_the_first_failure_is_logged_then_one_line_per_interval_with_the_rest_counted():
    now = [0.0]
    lines: list[str] = []

    def observe(event):
        if event.get("log_namespace") == "appliance.receiver.handshakes":
            lines.append(event["log_format"].format(**event))

    globalLogPublisher.addObserver(observe)
    try:
        failures = HandshakeFailures(lambda: now[0], interval=60)
        failures.failed("10.0.0.1", "tlsv1 alert unknown ca")
        for _ in range(5):
            now[0] += 1
            failures.failed("10.0.0.2", "tlsv1 alert unknown ca")
        now[0] += 60
        failures.failed("10.0.0.3", "wrong version number")
    finally:
        globalLogPublisher.removeObserver(observe)
    assert failures.count == 7
    assert len(lines) == 2
    assert "10.0.0.1 failed: tlsv1 alert unknown ca" in lines[0]
    assert "10.0.0.3" in lines[1] and "(5 more since the last such line)" in lines[1]
