"""The operator's files: the example config lists every key, the unit is hardened and drains."""

from __future__ import annotations

import configparser
import importlib.util
import re
import tomllib
from pathlib import Path

from appliance.config import load_config
from appliance.config.schema import KEYS

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def example_config_module():
    spec = importlib.util.spec_from_file_location("example_config",
                                                  PACKAGING / "example_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_config_is_generated_from_the_schema():
    text = (PACKAGING / "appliance.example.toml").read_text()
    assert text == example_config_module().render(), (
        "packaging/appliance.example.toml is out of date: "
        "run `python packaging/example_config.py`")


def test_example_config_lists_every_key_and_loads_as_is():
    path = PACKAGING / "appliance.example.toml"
    text = path.read_text()
    uncommented = re.sub(r"^#(\w+ = )", r"\1", text, flags=re.M)
    listed = {(section, name) for section, table in tomllib.loads(uncommented).items()
              for name in table}
    assert listed == {(k.section, k.name) for k in KEYS}
    for key in KEYS:
        assert key.env_var in text
    config = load_config(path, env={})
    assert str(config.data_dir) == "/var/lib/appliance"
    assert config.receiver.listen == "0.0.0.0:8443"


def test_systemd_unit_runs_a_dedicated_user_hardened_and_waits_for_the_drain():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(PACKAGING / "appliance.service")
    service = unit["Service"]
    example = example_config_module()
    assert service["User"] == "appliance" and service["StateDirectory"] == "appliance"
    assert service["ExecStart"].endswith("serve --config /etc/appliance/appliance.toml")
    assert service["ReadWritePaths"] == example.NODE[("server", "data_dir")]
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"  # the binary unpacks itself into /tmp
    assert "-HUP" in service["ExecReload"]
    shutdown = next(k for k in KEYS if (k.section, k.name) == ("server", "shutdown_timeout"))
    assert int(service["TimeoutStopSec"]) > shutdown.default
