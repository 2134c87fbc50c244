"""The admin listener rules: loopback and unix sockets as they are, anything else refused
unless `[admin] allow_remote` is set."""

from __future__ import annotations

import pytest

from appliance.admin.exposure import AdminExposed, check_admin_listen


@pytest.mark.parametrize("listen", ["127.0.0.1:8444", "127.0.0.2:0", "[::1]:8444",
                                    "localhost:8444", "unix:admin.sock", "unix:/run/a.sock"])
def test_local_listeners_need_nothing(listen):
    assert check_admin_listen(listen, allow_remote=False) is None
    assert check_admin_listen(listen, allow_remote=True) is None


@pytest.mark.parametrize("listen", ["0.0.0.0:8444", "[::]:8444", "10.1.2.3:8444",
                                    "admin.example.org:8444"])
def test_a_remote_listener_is_refused_naming_the_keys(listen):
    with pytest.raises(AdminExposed) as e:
        check_admin_listen(listen, allow_remote=False)
    message = str(e.value)
    assert "\n" not in message
    assert f"[admin] listen = {listen!r}" in message and "[admin] allow_remote = true" in message


def test_an_allowed_remote_listener_gives_a_warning():
    warning = check_admin_listen("0.0.0.0:8444", allow_remote=True)
    assert warning is not None and "0.0.0.0:8444" in warning and "plain HTTP" in warning
