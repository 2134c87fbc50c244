"""Store keys (DESIGN 3.3): ``<tree>/<v1>/.../<vN>/<file name>``.

The same relative key names a file under ``data_dir/store`` and an object under
the S3 prefix. ``<tree>`` is ``telemetry`` for telemetry submissions, the
sanitised namespace for generic-edge ones (see `tree_for_namespace`), and
``invalid/<tree>`` for submissions that failed validation or conversion
(``telemetry-unknown-histograms`` holds what conversion took out of telemetry
records: see `UNKNOWN_HISTOGRAMS_TREE`). The
values are the schema's dimension values after `Schema.partition`, so each is
a safe path segment and the key splits back into them (`parse_key`).
docs/storage-keys.md has the whole layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from appliance.storage.schema import Schema, SchemaRegistry, is_safe_segment, sanitise

TELEMETRY_TREE = "telemetry"
INVALID_TREE = "invalid"
# The side tree: per telemetry partition, `<docId>\t{"unknownHistograms": {...}}` lines for
# the records whose histograms the spec did not define (docs/storage.md). Its lines are
# parts of records counted in `telemetry`, not records: the ledger does not count them,
# and only a filter that names it reads it.
UNKNOWN_HISTOGRAMS_TREE = "telemetry-unknown-histograms"
SIDE_TREES = frozenset({UNKNOWN_HISTOGRAMS_TREE})
_RESERVED = re.compile(r"(?i)(invalid|telemetry|telemetry-unknown-histograms)_*")
# A data file's name: a safe segment of up to 255 characters (NAME_MAX).
_FILE_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,254}")

SchemaSource = Callable[[str], Schema] | Mapping[str, Schema] | Schema | None


class BadKey(KeyError, ValueError):
    """A key (or tree, or value list) that is not a well-formed store key."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "bad key"


def tree_for_namespace(namespace: object) -> str:
    """The tree of a submission namespace: ``telemetry`` stays, others are sanitised.

    The tree names ``invalid`` (the invalid store), ``telemetry`` (the
    telemetry schema) and the side tree ``telemetry-unknown-histograms`` are
    reserved: any other namespace that would sanitise to one of them, in any
    letter case, optionally followed by underscores, gets one more ``_`` ("invalid" -> "invalid_",
    "invalid_" -> "invalid__", "Telemetry" -> "Telemetry_"). The mapping is
    one-to-one on sanitised names, so no two namespaces share a tree unless
    they sanitise alike.
    """
    if namespace == TELEMETRY_TREE:
        return TELEMETRY_TREE
    name = sanitise(namespace)
    if _RESERVED.fullmatch(name):
        name = name + "_" if len(name) < 128 else sanitise(name + "_")
    return name


def is_side_tree(tree: str) -> bool:
    """True for a tree whose lines belong to records of another tree (`SIDE_TREES`)."""
    return tree in SIDE_TREES


def holds_records(key: str) -> bool:
    """False for a key (or partition) of a side tree: its lines are not records."""
    return not is_side_tree(key.partition("/")[0])


def is_valid_tree(tree: str) -> bool:
    """True for ``<segment>`` (not ``invalid``) and ``invalid/<segment>``."""
    if not isinstance(tree, str):
        return False
    if tree.startswith(INVALID_TREE + "/"):
        inner = tree[len(INVALID_TREE) + 1:]
        return is_safe_segment(inner) and inner != INVALID_TREE
    return is_safe_segment(tree) and tree != INVALID_TREE


def invalid_tree(tree: str) -> str:
    """The invalid-store counterpart of a tree: ``telemetry`` -> ``invalid/telemetry``."""
    _check_tree(tree)
    return tree if tree.startswith(INVALID_TREE + "/") else f"{INVALID_TREE}/{tree}"


def _check_tree(tree: str) -> None:
    if not is_valid_tree(tree):
        raise BadKey(f"bad tree {tree!r}: a safe segment other than 'invalid', "
                     f"or 'invalid/<segment>'")


def partition_key(tree: str, values: Sequence[str]) -> str:
    """The key prefix (directory) of a partition: ``telemetry/a/b/...``.

    `values` must already be key segments (from `Schema.partition`); anything
    that is not a safe segment raises `BadKey` rather than being altered.
    """
    _check_tree(tree)
    for i, v in enumerate(values):
        if not is_safe_segment(v):
            raise BadKey(f"value {i} ({v!r}) is not a sanitised segment; "
                         f"use Schema.partition")
    return "/".join([tree, *values])


def object_key(tree: str, values: Sequence[str], file_name: str) -> str:
    """The full key of a data file: ``partition_key(tree, values) + "/" + file_name``."""
    if not is_file_name(file_name):
        raise BadKey(f"bad file name {file_name!r}: 1-255 characters of A-Z a-z 0-9 . _ -, "
                     f"not starting with '.'")
    return f"{partition_key(tree, values)}/{file_name}"


def is_file_name(name: str) -> bool:
    return isinstance(name, str) and _FILE_NAME.fullmatch(name) is not None


def resolve_schemas(schemas: SchemaSource) -> Callable[[str], Schema]:
    """Turn the accepted schema arguments into a tree -> Schema function.

    None: the defaults (`SchemaRegistry`); a `Schema`: that one for every tree;
    a mapping: looked up by tree, then by the tree without ``invalid/``, else
    `BadKey`; a callable: used as is.
    """
    if schemas is None:
        return SchemaRegistry()
    if isinstance(schemas, Schema):
        return lambda tree: schemas
    if isinstance(schemas, Mapping):
        table = schemas

        def lookup(tree: str) -> Schema:
            for name in (tree, tree.removeprefix(INVALID_TREE + "/")):
                if name in table:
                    return table[name]
            raise BadKey(f"no schema for tree {tree!r}")
        return lookup
    return schemas


@dataclass(frozen=True)
class ParsedKey:
    """A key split into its tree, named dimension values and file name."""

    tree: str
    dimensions: dict[str, str]
    file_name: str

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self.dimensions.values())

    @property
    def invalid(self) -> bool:
        return self.tree.startswith(INVALID_TREE + "/")


def parse_key(key: str, schemas: SchemaSource = None) -> ParsedKey:
    """Split a relative store key back into tree, dimensions and file name.

    Raises `BadKey` (a KeyError and a ValueError) naming what is wrong: an
    absolute or empty key, an unsafe segment, or a number of levels that does
    not match the tree's schema.
    """
    if not isinstance(key, str) or not key:
        raise BadKey(f"bad key {key!r}: empty")
    if key.startswith("/"):
        raise BadKey(f"bad key {key!r}: keys are relative to the store root")
    parts = key.split("/")
    if parts[0] == INVALID_TREE:
        if len(parts) < 2:
            raise BadKey(f"bad key {key!r}: 'invalid' needs a tree after it")
        tree, rest = f"{INVALID_TREE}/{parts[1]}", parts[2:]
    else:
        tree, rest = parts[0], parts[1:]
    if not is_valid_tree(tree):
        raise BadKey(f"bad key {key!r}: bad tree {tree!r}")
    schema = resolve_schemas(schemas)(tree)
    names = schema.field_names
    if len(rest) != len(names) + 1:
        raise BadKey(f"bad key {key!r}: tree {tree!r} has {len(names)} dimensions "
                     f"({', '.join(names)}) and a file name, found {len(rest)} segments")
    *values, file_name = rest
    for name, v in zip(names, values, strict=True):
        if not is_safe_segment(v):
            raise BadKey(f"bad key {key!r}: {name} segment {v!r} is not a sanitised value")
    if not is_file_name(file_name):
        raise BadKey(f"bad key {key!r}: bad file name {file_name!r}")
    return ParsedKey(tree, dict(zip(names, values, strict=True)), file_name)
