"""The partitioned store (DESIGN 3.3): schemas, key layout and partition filters."""

from appliance.storage.filters import Filter
from appliance.storage.keys import (
    BadKey,
    ParsedKey,
    Partition,
    object_key,
    parse_key,
    partition_key,
    tree_for_namespace,
    walk_partitions,
)
from appliance.storage.schema import Dimension, Schema, SchemaError, SchemaRegistry, sanitise

__all__ = [
    "BadKey", "Dimension", "Filter", "ParsedKey", "Partition", "Schema", "SchemaError",
    "SchemaRegistry", "object_key", "parse_key", "partition_key", "sanitise",
    "tree_for_namespace", "walk_partitions",
]
