"""Configuration: one TOML file, environment overrides and CLI flags (DESIGN 3.8)."""

from appliance.config.listen import parse_listen
from appliance.config.loader import Config, ConfigError, load_config, render_toml

__all__ = ["Config", "ConfigError", "load_config", "parse_listen", "render_toml"]
