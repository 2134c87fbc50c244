"""The admin API of a real server: never on the public port, token everywhere, the numbers
a test ingested, the ledger across kill -9 with SeaweedFS, and `appliance status`."""

from __future__ import annotations

import http.client
import io
import json

from appliance.admin.nodestats import NodeStats
from appliance.cli.main import main
from tests import pings
from tests.integration.serverproc import ServerProcess, eventually, post, request
from tests.integration.test_export import export_env
from tests.shapes import shape_errors

FAST = {"APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "0.2", "APPLIANCE_STORE_MAX_FILE_AGE": "0.3",
        "APPLIANCE_CONVERTER_IDLE_WAIT": "0.05", "APPLIANCE_ADMIN_LEDGER_INTERVAL": "0.2"}


def raw_get(url: str, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def status_of(data_dir, *args) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["status", "--data-dir", str(data_dir), *args], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def test_admin_api_is_separate_token_protected_and_counts_what_was_sent(tmp_path):
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, args=["--http"]).start()
    try:
        token = (data_dir / "admin.token").read_text().strip()
        assert (data_dir / "admin.token").stat().st_mode & 0o777 == 0o600
        url = (data_dir / "admin.url").read_text().strip()
        assert not url.endswith(f":{server.port}")
        for path in ("/v1/stats", "/metrics", "/v1/jobs"):
            answer = request(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                                     f"{token}\r\nConnection: close\r\n\r\n".encode())
            assert answer.status == 404 and b"uptime" not in answer.body
            assert b"requests_by_status" not in answer.body and b"appliance_" not in answer.body
        assert raw_get(url, "/v1/stats")[0] == 401
        assert raw_get(url, f"/v1/stats?token={token}")[0] == 401
        assert raw_get(url, "/v1/stats", {"Authorization": "Bearer nope"})[0] == 401

        for i in range(5):
            assert post(server, f"/submit/telemetry/ok-{i}/{pings.DIMS}", pings.body(i)).status \
                == 200
        assert post(server, "/nowhere", b"{}").status == 404
        client = server.admin()
        stats = client.stats()
        assert shape_errors(NodeStats, stats) == []  # a real server, converter child and all
        # The three admin paths tried on the public port were 404s too.
        assert stats["ingest"]["requests_by_status"] == {"200": 5, "404": 4}
        assert stats["spool"]["records"] == 5
        # nothing sealed within the default 60 s: the spool is the active segment
        assert stats["spool"]["size_bytes"] == (data_dir / "spool" / "current.seg").stat().st_size
        assert stats["health"] == {"ok": True, "problems": []}
        assert 'appliance_requests_total{status="200"} 5.0' in client.metrics()
        assert any("admin API on" in e["text"] for e in client.logs(level="info", limit=500))

        code, text = status_of(data_dir)
        assert code == 0, text
        assert "HEALTH     OK" in text and "9 requests (200 5, 404 4)" in text
        code, text = status_of(data_dir, "--json")
        assert code == 0 and json.loads(text)["stats"]["spool"]["records"] == 5
        code, text = status_of(data_dir, "--token-file", str(tmp_path / "missing"))
        assert code == 2 and "no admin token" in text
        (tmp_path / "wrong").write_text("wrong-token\n")
        code, text = status_of(data_dir, "--token-file", str(tmp_path / "wrong"))
        assert code == 2 and "refused the admin token" in text
    finally:
        assert server.stop() == 0
    logged = "".join(server.history) + (data_dir / "logs" / "appliance.log").read_text()
    assert token not in logged
    code, text = status_of(data_dir, "--admin", url)  # admin.url is gone with the server
    assert code == 2 and "cannot reach the admin API" in text


def _days(client) -> list[dict]:
    return client.ledger()["days"]


def _settled(client, accepted: int, exported: bool):
    """The ledger's days once `accepted` records are in, nothing is pending and every day
    reconciles."""
    days = _days(client)
    done = (sum(d["accepted"] for d in days) == accepted
            and all(d["reconciled"] and d["pending_conversion"] == 0 for d in days))
    if exported:
        done = done and all(d["pending_export"] == 0 for d in days)
    return days if done else None


def test_ledger_reconciles_across_kill_9_and_shows_a_loss(tmp_path, s3, bucket):
    data_dir = tmp_path / "data"
    env = export_env(s3, bucket, APPLIANCE_EXPORT_INTERVAL="0.1", **FAST)
    env["APPLIANCE_HISTOGRAMS_SPEC_DIR"] = str(pings.write_spec(tmp_path / "specs"))
    sent = {"ok": 0, "bad": 0}

    def ingest(server, n: int) -> None:
        for i in range(n):
            doc = f"doc-{sum(sent.values())}"
            bad = i % 4 == 3
            body = b"{not json" if bad else pings.body(i)
            assert post(server, f"/submit/telemetry/{doc}/{pings.DIMS}", body).status == 200
            sent["bad" if bad else "ok"] += 1

    server = ServerProcess(data_dir, env=env).start()
    try:
        ingest(server, 24)
        client = server.admin()
        eventually(lambda: any(d["exported"] for d in _days(client)), "a first export")
        ingest(server, 12)  # some of these are still in the spool when the server dies
    finally:
        server.kill()

    server = ServerProcess(data_dir, env=env).start()
    try:
        ingest(server, 8)
        client = server.admin()
        [day] = eventually(lambda: _settled(client, 44, exported=True),
                           "everything exported", show=lambda: _days(client))
        assert day["accepted"] == sum(sent.values()) == 44
        assert day["converted"] == sent["ok"] and day["invalid"] == {"bad_json": sent["bad"]}
        assert day["exported"] == 44 and day["problem"] is None
        assert client.stats()["health"]["ok"]
        assert "all reconcile" in status_of(data_dir)[1]
    finally:
        assert server.stop() == 0

    # Export off: the local store is the archive. A file deleted behind the appliance's
    # back makes its day fail to reconcile, in the ledger, the health and `appliance status`.
    env["APPLIANCE_EXPORT_ENABLED"] = "false"
    server = ServerProcess(data_dir, env=env).start()
    try:
        ingest(server, 6)
        client = server.admin()
        eventually(lambda: _settled(client, 50, exported=False), "the new records converted",
                   show=lambda: _days(client))
        victim = next((data_dir / "store" / "telemetry").rglob("*.zst"))
        lost = int(victim.name.split(".")[-2])
        victim.unlink()
        health = eventually(lambda: [p for p in client.stats()["health"]["problems"]
                                     if "does not reconcile" in p], "the ledger alert")
        [day] = _days(client)
        assert not day["reconciled"] and day["accepted"] == 50
        assert f"{lost} record{'s' if lost > 1 else ''} missing from the store" in day["problem"]
        assert day["problem"] in health[0]
        code, text = status_of(data_dir)
        assert code == 1 and "do NOT reconcile" in text and "missing from the store" in text
        assert "appliance_ledger_unreconciled_days 1.0" in client.metrics()
    finally:
        assert server.stop() == 0


def test_admin_api_on_a_unix_socket(tmp_path):
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, args=["--http"],
                           env={"APPLIANCE_ADMIN_LISTEN": "unix:admin.sock"}).start()
    try:
        socket_path = data_dir / "admin.sock"
        assert (data_dir / "admin.url").read_text().strip() == f"unix:{socket_path}"
        assert socket_path.stat().st_mode & 0o777 == 0o600
        assert server.admin().stats()["health"]["ok"]
        code, text = status_of(data_dir)
        assert code == 0 and "HEALTH     OK" in text
    finally:
        assert server.stop() == 0
