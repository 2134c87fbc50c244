"""The partitioned store (DESIGN 3.3): schemas, key layout and partition filters."""

from appliance.storage.filters import Filter
from appliance.storage.keys import (
    BadKey,
    ParsedKey,
    object_key,
    parse_key,
    partition_key,
    tree_for_namespace,
)
from appliance.storage.schema import Dimension, Schema, SchemaError, SchemaRegistry, sanitise
from appliance.storage.walk import Partition, walk_partitions

__all__ = [
    "BadKey", "Dimension", "Filter", "ParsedKey", "Partition", "Schema", "SchemaError",
    "SchemaRegistry", "object_key", "parse_key", "partition_key", "sanitise",
    "tree_for_namespace", "walk_partitions",
]
