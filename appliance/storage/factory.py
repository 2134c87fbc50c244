"""The store's schemas built from the configuration (`[store] schema_file`)."""

from __future__ import annotations

from pathlib import Path

from appliance.config import Config
from appliance.storage.schema import Schema, SchemaRegistry


def telemetry_schema(config: Config) -> Schema:
    """The telemetry tree's schema: `[store] schema_file`, else the 2013 default."""
    path = config.store.schema_file
    return Schema.from_file(Path(path)) if path else Schema.telemetry_default()


def schema_registry(config: Config) -> SchemaRegistry:
    """The schema of every tree, with the configured telemetry schema."""
    return SchemaRegistry(telemetry=telemetry_schema(config))
