"""What the first start lays out in a fresh data dir."""

from __future__ import annotations

from tests.integration.serverproc import ServerProcess


def test_the_first_start_creates_the_spec_directory(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        assert (tmp_path / "data" / "histograms").is_dir()  # where `specs add` installs
    finally:
        assert server.stop() == 0
