"""Walking the store tree: the leaf partition directories a filter may select."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from appliance.storage.filters import Filter
from appliance.storage.keys import INVALID_TREE, SchemaSource, is_valid_tree, resolve_schemas
from appliance.storage.schema import Schema, is_safe_segment


class Partition(NamedTuple):
    """A leaf partition directory found by `walk_partitions`."""

    tree: str
    values: tuple[str, ...]
    path: Path


def _subdirs(path: Path) -> list[str]:
    """Names of the visible subdirectories of `path`, sorted; [] if it has gone."""
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it
                          if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []  # removed under us (e.g. the exporter emptied it): nothing to walk


def walk_partitions(store_root: Path, filter: Filter | None = None,
                    schema_for_tree: SchemaSource = None) -> Iterator[Partition]:
    """Yield the leaf partition directories that `filter` may select, in sorted order.

    Descends one level at a time and lists a directory only if
    ``filter.allows_prefix`` accepts the values leading to it, so a pruned
    directory is never read. Names starting with "." (temporary or hidden)
    and names that are not sanitised segments are skipped, as are symlinks.
    The leaves themselves are not listed: they hold the data files.
    """
    flt = filter if filter is not None else Filter.all()
    schema_of = resolve_schemas(schema_for_tree)
    root = Path(store_root)

    def descend(tree: str, schema: Schema, values: list[str], path: Path
                ) -> Iterator[Partition]:
        if len(values) == len(schema):
            yield Partition(tree, tuple(values), path)
            return
        for name in _subdirs(path):
            if not is_safe_segment(name):
                continue
            candidate = [*values, name]
            if flt.allows_prefix(tree, candidate, schema=schema):
                yield from descend(tree, schema, candidate, path / name)

    def visit(tree: str, path: Path) -> Iterator[Partition]:
        if not is_valid_tree(tree) or not flt.allows_tree(tree):
            return
        schema = schema_of(tree)
        if flt.allows_prefix(tree, [], schema=schema):
            yield from descend(tree, schema, [], path)

    for name in _subdirs(root):
        if name == INVALID_TREE:
            if flt.may_select_invalid:
                for inner in _subdirs(root / name):
                    yield from visit(f"{INVALID_TREE}/{inner}", root / name / inner)
        else:
            yield from visit(name, root / name)
