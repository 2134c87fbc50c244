"""The configuration loader: defaults < TOML file < APPLIANCE_* env < CLI flags (DESIGN 3.8)."""

from __future__ import annotations

import io
import os
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import __version__
from appliance.cli.main import main
from appliance.config import ConfigError, load_config, render_toml
from appliance.config.schema import KEYS, SECTIONS, MiB


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("APPLIANCE_"):
            monkeypatch.delenv(name)


def toml_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_defaults():
    config = load_config(env={})
    assert config.spool.max_segment_bytes == 64 * MiB
    assert config.spool.durability == "fsync"
    assert config.spool.max_segment_age == 60.0
    assert config.receiver.listen == "127.0.0.1:8443"
    assert config.receiver.tls is True
    assert config.data_dir == (Path.cwd() / "appliance-data").resolve()
    assert config.data_dir.is_absolute()
    assert set(config.origins.values()) == {"default"}
    assert [(k, v) for k, v, _ in config.items()] == [(k, k.default) for k in KEYS]
    with pytest.raises(AttributeError, match="nope"):  # and mypy says so before it runs
        _ = config.spool.nope


def test_toml_file(tmp_path):
    path = toml_file(tmp_path, """
[server]
data_dir = "/srv/appliance"

[spool]
max_segment_bytes = 8192
max_segment_age = 30        # an int for a float key is fine
durability = "none"

[receiver]
tls = false
listen = "[::1]:9000"
""")
    config = load_config(path, env={})
    assert config.data_dir == Path("/srv/appliance")
    assert config.spool.max_segment_bytes == 8192
    assert config.spool.max_segment_age == 30.0 and isinstance(config.spool.max_segment_age,
                                                                float)
    assert config.spool.durability == "none"
    assert config.receiver.tls is False
    assert config.receiver.listen == "[::1]:9000"
    assert config.origins[("spool", "max_segment_bytes")] == f"file {path}"
    assert config.origins[("spool", "max_batch_bytes")] == "default"


def test_env_override():
    config = load_config(env={"APPLIANCE_SPOOL_MAX_SEGMENT_BYTES": "12345",
                              "APPLIANCE_RECEIVER_TLS": "off",
                              "APPLIANCE_SPOOL_MIN_FREE_PERCENT": "2.5",
                              "PATH": "/bin", "NOT_APPLIANCE_X": "1"})
    assert config.spool.max_segment_bytes == 12345
    assert config.receiver.tls is False
    assert config.spool.min_free_percent == 2.5
    assert config.origins[("spool", "max_segment_bytes")] == "env APPLIANCE_SPOOL_MAX_SEGMENT_BYTES"


def test_precedence_file_then_env_then_flags(tmp_path):
    path = toml_file(tmp_path, "[spool]\nmax_segment_bytes = 8192\n[server]\nnode_id = 'f'\n")
    env = {"APPLIANCE_SPOOL_MAX_SEGMENT_BYTES": "16384", "APPLIANCE_SERVER_NODE_ID": "e"}
    key = ("spool", "max_segment_bytes")
    assert load_config(path, env={}).spool.max_segment_bytes == 8192
    config = load_config(path, env=env)
    assert (config.spool.max_segment_bytes, config.server.node_id) == (16384, "e")
    config = load_config(path, env=env, overrides={key: 32768, ("server", "node_id"): None})
    assert config.spool.max_segment_bytes == 32768
    assert config.origins[key] == "command line"
    assert config.server.node_id == "e"             # a flag not given (None) changes nothing


def test_data_dir_flag_beats_file_and_env(tmp_path, monkeypatch):
    path = toml_file(tmp_path, f'[server]\ndata_dir = "{tmp_path / "from-file"}"\n')
    monkeypatch.setenv("APPLIANCE_SERVER_DATA_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("APPLIANCE_SPOOL_MAX_SEGMENT_BYTES", "65536")
    code, out, err = run("config", "--config", str(path), "--data-dir", str(tmp_path / "flag"))
    assert (code, err) == (0, "")
    printed = tomllib.loads(out)
    assert printed["server"]["data_dir"] == str(tmp_path / "flag")
    assert printed["spool"]["max_segment_bytes"] == 65536
    assert f'data_dir = "{tmp_path / "flag"}"  # command line' in out
    assert "max_segment_bytes = 65536  # env APPLIANCE_SPOOL_MAX_SEGMENT_BYTES" in out
    code, out, _ = run("config", "--config", str(path))
    assert tomllib.loads(out)["server"]["data_dir"] == str(tmp_path / "from-env")


def test_unknown_key_in_file(tmp_path):
    path = toml_file(tmp_path, "[spool]\nmax_segment_bytez = 1\n")
    with pytest.raises(ConfigError, match=r"unknown key \[spool\] max_segment_bytez") as e:
        load_config(path, env={})
    assert str(path) in str(e.value)
    with pytest.raises(ConfigError, match=r"unknown key \[spoool\] durability"):
        load_config(toml_file(tmp_path, "[spoool]\ndurability = 'none'\n"), env={})
    with pytest.raises(ConfigError, match="must be a \\[section\\]"):
        load_config(toml_file(tmp_path, "durability = 'none'\n"), env={})


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(toml_file(tmp_path, "[spool\n"), env={})


def test_unknown_environment_variable():
    with pytest.raises(ConfigError, match="unknown environment variable APPLIANCE_SPOOL_BOGUS"):
        load_config(env={"APPLIANCE_SPOOL_BOGUS": "1"})


@pytest.mark.parametrize("section, key, toml_value, message", [
    ("spool", "max_segment_bytes", '"big"', "expected an integer, got 'big'"),
    ("spool", "max_segment_bytes", "4096.5", "expected int, got 4096.5"),
    ("receiver", "max_headers", "true", "expected int, got True"),
    ("receiver", "tls", '"maybe"', "expected true or false, got 'maybe'"),
    ("spool", "max_segment_age", '"soon"', "expected a number, got 'soon'"),
    ("spool", "max_segment_age", "nan", "must be a finite number, got nan"),
    ("spool", "durability", '"sometimes"', "must be one of fsync, none, got 'sometimes'"),
    ("server", "log_level", '"loud"', "must be one of debug, info, warn, error"),
    ("spool", "max_segment_bytes", "100", "must be at least 4096, got 100"),
    ("spool", "max_segment_age", "0.0", "must be at least 0.01, got 0.0"),
    ("receiver", "listen", '"localhost"', "expected HOST:PORT, got 'localhost'"),
    ("receiver", "listen", '"127.0.0.1:http"', "port must be a number"),
    ("receiver", "listen", '"127.0.0.1:70000"', "port must be 0-65535, got 70000"),
    ("server", "node_id", "5", "expected str, got 5"),
])
def test_bad_values_name_the_key_and_origin(tmp_path, section, key, toml_value, message):
    path = toml_file(tmp_path, f"[{section}]\n{key} = {toml_value}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, env={})
    assert str(e.value).startswith(f"[{section}] {key} (from file {path}): ")
    assert message in str(e.value)


@pytest.mark.parametrize("var, value, message", [
    ("APPLIANCE_SPOOL_MAX_SEGMENT_BYTES", "64MiB", "expected an integer, got '64MiB'"),
    ("APPLIANCE_SPOOL_MAX_SEGMENT_BYTES", "1024", "must be at least 4096"),
    ("APPLIANCE_SPOOL_DURABILITY", "sync", "must be one of fsync, none"),
    ("APPLIANCE_RECEIVER_LISTEN", ":8443", "expected HOST:PORT"),
    ("APPLIANCE_RECEIVER_IDLE_TIMEOUT", "inf", "must be a finite number"),
])
def test_bad_env_values_name_the_variable(var, value, message):
    with pytest.raises(ConfigError) as e:
        load_config(env={var: value})
    assert f"(from env {var}): " in str(e.value) and message in str(e.value)


def test_bad_flag_value_names_the_command_line():
    with pytest.raises(ConfigError, match=r"\[spool\] max_segment_bytes \(from command line\)"):
        load_config(env={}, overrides={("spool", "max_segment_bytes"): 1})


def test_cli_reports_a_bad_config_with_exit_2(tmp_path, monkeypatch):
    path = toml_file(tmp_path, "[spool]\ndurability = 'maybe'\n")
    code, out, err = run("config", "--config", str(path))
    assert (code, out) == (2, "")
    assert err == (f"appliance: [spool] durability (from file {path}): "
                   "must be one of fsync, none, got 'maybe'\n")
    monkeypatch.setenv("APPLIANCE_NO_SUCH_KEY", "1")
    code, _, err = run("config")
    assert code == 2 and "APPLIANCE_NO_SUCH_KEY" in err


def test_config_command_prints_toml_that_parses_back(tmp_path, monkeypatch):
    path = toml_file(tmp_path, '[server]\nnode_id = "node \\"7\\" \\\\ é"\n'
                               "[spool]\nmax_segment_age = 2.5\n")
    monkeypatch.setenv("APPLIANCE_RECEIVER_STORE_CLIENT_IP", "yes")
    code, out, _ = run("config", "--config", str(path), "--data-dir", str(tmp_path))
    assert code == 0
    printed = tomllib.loads(out)
    config = load_config(path, overrides={("server", "data_dir"): str(tmp_path)})
    assert printed == {section: {k.name: v for k, v, _ in config.items() if k.section == section}
                       for section in printed}
    assert sum(len(table) for table in printed.values()) == len(KEYS)
    assert printed["server"]["node_id"] == 'node "7" \\ é'
    assert printed["receiver"]["store_client_ip"] is True
    # Loading the printed file gives the same configuration again.
    again = load_config(toml_file(tmp_path, out), env={})
    assert [v for _, v, _ in again.items()] == [v for _, v, _ in config.items()]


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=20), st.integers(4096, 2**40), st.floats(0.01, 1e6))
def test_render_toml_round_trips_any_values(node_id, size, age):
    config = load_config(env={}, overrides={("server", "node_id"): node_id,
                                            ("spool", "max_batch_bytes"): size,
                                            ("spool", "max_segment_age"): age})
    printed = tomllib.loads(render_toml(config))
    assert printed["server"]["node_id"] == node_id
    assert printed["spool"]["max_batch_bytes"] == size
    assert printed["spool"]["max_segment_age"] == age


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"appliance {__version__}\n"


def test_keep_headers_must_be_header_names():
    from appliance.config.headers import check_keep_headers, parse_keep_headers
    assert parse_keep_headers(" Date, X-Debug-ID,,Date ") == ("Date", "X-Debug-ID")
    assert "not a header name" in check_keep_headers("Date, Bad Name")
    assert "at most 32" in check_keep_headers(",".join(f"X-H{i}" for i in range(33)))
    assert check_keep_headers("") is None


def test_each_key_is_annotated_with_the_type_of_its_default():
    """The loader coerces to the default's type; the annotation is what mypy checks code
    against: they must agree."""
    for cls in SECTIONS.values():
        for f in fields(cls):
            assert f.type == type(f.default).__name__, f"{cls.__name__}.{f.name}"
