"""The admin client against a stand-in HTTP server: auth header, errors, reconnects."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from appliance.admin.client import AdminClient, AdminError, AdminUnavailable
from appliance.config import load_config

TOKEN = "s3cret-token"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str | None, bytes]] = []

    def _answer(self, status: int, obj) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, {"error": "unauthorized"})
        elif self.path == "/v1/stats":
            self._answer(200, {"version": "x", "health": {"ok": True, "problems": []}})
        elif self.path == "/v1/history":  # another service's answer: not an object
            self._answer(200, ["not", "an", "object"])
        elif self.path.startswith("/v1/logs"):
            self._answer(200, {"events": [{"text": "hello"}]})
        elif self.path == "/v1/jobs" and self.command == "POST":
            self._answer(400, {"error": "script is required"})
        else:
            self._answer(404, {"error": "no such endpoint"})

    do_GET = do_POST = _handle

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def httpd():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_sends_the_bearer_token_and_decodes_json(httpd):
    client = AdminClient(_url(httpd), TOKEN)
    assert client.stats()["health"]["ok"] is True
    assert client.logs(level="warn", limit=5) == [{"text": "hello"}]
    method, path, auth, _ = _Handler.seen[-1]
    assert (method, auth) == ("GET", f"Bearer {TOKEN}")
    assert path == "/v1/logs?level=warn&limit=5"


def test_error_answers_raise_admin_error_with_the_message(httpd):
    client = AdminClient(_url(httpd), TOKEN)
    with pytest.raises(AdminError) as bad:
        client.submit_job({"name": "x"})
    assert bad.value.status == 400 and bad.value.message == "script is required"
    assert json.loads(_Handler.seen[-1][3]) == {"name": "x"}
    with pytest.raises(AdminError) as missing:
        client.job("j-1")
    assert missing.value.status == 404


def test_wrong_token_is_a_401_that_says_so(httpd):
    with pytest.raises(AdminError) as e:
        AdminClient(_url(httpd), "wrong").stats()
    assert e.value.status == 401 and "refused the admin token" in e.value.message


def test_no_server_is_admin_unavailable():
    with pytest.raises(AdminUnavailable) as e:
        AdminClient("http://127.0.0.1:1", TOKEN).stats()
    assert e.value.status == 0 and "appliance serve" in e.value.message


def test_from_config_reads_the_url_and_token_files_lazily(tmp_path, httpd):
    config = load_config(overrides={("server", "data_dir"): str(tmp_path)}, env={})
    client = AdminClient.from_config(config)
    with pytest.raises(AdminUnavailable, match="no admin token"):
        client.stats()
    (tmp_path / "admin.token").write_text(TOKEN + "\n")
    (tmp_path / "admin.url").write_text(_url(httpd) + "\n")
    assert client.stats()["version"] == "x"


def test_a_stopped_server_is_named_by_the_address_it_had(tmp_path):
    """A stopping server removes admin.url: the client retries (and names) that address,
    not the configured default, until a server writes the file again."""
    config = load_config(overrides={("server", "data_dir"): str(tmp_path)}, env={})
    (tmp_path / "admin.token").write_text(TOKEN + "\n")
    gone = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    address = _url(gone)
    gone.server_close()  # nothing listens there any more
    (tmp_path / "admin.url").write_text(address + "\n")
    client = AdminClient.from_config(config)
    with pytest.raises(AdminUnavailable, match=address):
        client.stats()
    (tmp_path / "admin.url").unlink()
    with pytest.raises(AdminUnavailable) as e:
        client.stats()
    assert address in e.value.message and "8444" not in e.value.message


def test_an_answer_that_is_not_a_json_object_is_an_admin_error(httpd):
    # --admin pointing at another service: the list used to come back as the answer (or a
    # TypeError where a key of it was read)
    client = AdminClient(_url(httpd), TOKEN)
    with pytest.raises(AdminError, match="/v1/history is not a JSON object"):
        client.history()
