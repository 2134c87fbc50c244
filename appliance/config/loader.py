"""Loading the effective configuration: defaults < TOML file < environment < CLI flags."""

from __future__ import annotations

import math
import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appliance.config.schema import (
    KEYS,
    SECTIONS,
    AdminSection,
    ConverterSection,
    ExportSection,
    HistogramsSection,
    JobsSection,
    Key,
    ReceiverSection,
    ServerSection,
    SpoolSection,
    StoreSection,
    key_index,
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(Exception):
    """A configuration problem; the message names the key and where the value came from."""


class Config:
    """The effective configuration: `config.spool.max_segment_bytes`, one typed section
    per [section] of the schema."""

    server: ServerSection
    receiver: ReceiverSection
    spool: SpoolSection
    store: StoreSection
    converter: ConverterSection
    histograms: HistogramsSection
    export: ExportSection
    jobs: JobsSection
    admin: AdminSection

    def __init__(self, values: dict[tuple[str, str], Any], origins: dict[tuple[str, str], str],
                 source: Path | None = None):
        self._values = values
        self.origins = origins
        self.source = source  # the --config file, if any
        for name, cls in SECTIONS.items():
            setattr(self, name, cls(**{k: v for (s, k), v in values.items() if s == name}))

    @property
    def data_dir(self) -> Path:
        """The data directory as an absolute path."""
        return Path(self._values[("server", "data_dir")]).expanduser().resolve()

    @property
    def node_label(self) -> str:
        """This node's readable label: `[server] node_id`, else the host name (keys also
        carry the data dir's unique id: `appliance.node`)."""
        return self._values[("server", "node_id")] or socket.gethostname()

    def items(self) -> list[tuple[Key, Any, str]]:
        """Every key with its value and origin, in table order."""
        return [(k, self._values[(k.section, k.name)], self.origins[(k.section, k.name)])
                for k in KEYS]


def _coerce(key: Key, value: Any, origin: str) -> Any:
    """Check and convert one value to the key's type, or raise ConfigError naming it."""
    where = f"[{key.section}] {key.name} (from {origin})"
    kind = key.kind
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            if text.lower() in _TRUE:
                value = True
            elif text.lower() in _FALSE:
                value = False
            else:
                raise ConfigError(f"{where}: expected true or false, got {value!r}")
        else:
            try:
                value = kind(text)
            except ValueError:
                raise ConfigError(
                    f"{where}: expected {'an integer' if kind is int else 'a number'}, "
                    f"got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    if key.choices and value not in key.choices:
        raise ConfigError(f"{where}: must be one of {', '.join(key.choices)}, got {value!r}")
    if key.minimum is not None and isinstance(value, int | float) and value < key.minimum:
        raise ConfigError(f"{where}: must be at least {key.minimum:g}, got {value!r}")
    if key.check is not None:
        problem = key.check(value)
        if problem:
            raise ConfigError(f"{where}: {problem}")
    return value


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[tuple[str, str], Any] | None = None,
) -> Config:
    """Build the effective configuration.

    `path` is a TOML file (optional); `env` the environment to read
    `APPLIANCE_<SECTION>_<KEY>` variables from (default `os.environ`);
    `overrides` values from CLI flags, keyed by (section, key). Unknown keys and
    bad values raise ConfigError naming the key.
    """
    env = os.environ if env is None else env
    index = key_index()
    values = {(k.section, k.name): k.default for k in KEYS}
    origins = {name: "default" for name in values}

    if path is not None:
        data = _read_file(Path(path))
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: {section!r} must be a [section], not a value")
            for name, value in table.items():
                key = index.get((section, name))
                if key is None:
                    raise ConfigError(f"{path}: unknown key [{section}] {name}")
                origin = f"file {path}"
                values[(section, name)] = _coerce(key, value, origin)
                origins[(section, name)] = origin

    known_env = {k.env_var: k for k in KEYS}
    for var, text in env.items():
        if not var.startswith("APPLIANCE_"):
            continue
        key = known_env.get(var)
        if key is None:
            raise ConfigError(f"unknown environment variable {var} (no such configuration key)")
        origin = f"env {var}"
        values[(key.section, key.name)] = _coerce(key, text, origin)
        origins[(key.section, key.name)] = origin

    for (section, name), value in (overrides or {}).items():
        if value is None:
            continue
        key = index[(section, name)]
        origin = "command line"
        values[(section, name)] = _coerce(key, value, origin)
        origins[(section, name)] = origin

    return Config(values, origins, Path(path).resolve() if path is not None else None)


def render_toml(config: Config) -> str:
    """The effective configuration as TOML, with each non-default value's origin noted."""
    lines: list[str] = []
    current = None
    for key, value, origin in config.items():
        if key.section != current:
            if current is not None:
                lines.append("")
            lines.append(f"[{key.section}]")
            current = key.section
        note = "" if origin == "default" else f"  # {origin}"
        lines.append(f"{key.name} = {_toml_value(value)}{note}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    escaped = "".join(
        "\\" + c if c in '\\"' else f"\\u{ord(c):04x}" if c < " " or c == "\x7f" else c
        for c in str(value))
    return f'"{escaped}"'
