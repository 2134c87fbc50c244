"""Partition filters (DESIGN 3.3, 3.6): which store partitions a job or `store ls` reads.

A filter file has the schema format plus two optional top-level keys::

    {"version": 1,
     "namespace": "telemetry",          # or ["a", "b"], or "*"; default "telemetry"
     "include_invalid": false,          # false | true | "only"; default false
     "dimensions": [{"field_name": "appName", "allowed_values": ["Firefox"]},
                    {"field_name": "submission_date",
                     "allowed_values": {"min": "20131001", "max": "20131031"}}]}

- ``namespace`` names namespaces as submitted (the URL segment); each is mapped
  to its tree with `tree_for_namespace`, exactly as the converter does, so
  "invalid" means the generic namespace "invalid" (tree ``invalid_``), not the
  invalid store. ``"*"`` selects every namespace. A 2013 filter has no
  ``namespace`` and therefore selects the telemetry tree. The side tree
  ``telemetry-unknown-histograms`` is selected only by its name.
- ``include_invalid``: false reads only valid data; true also reads the
  invalid store of the selected namespaces (``invalid/<tree>/...``, as the
  2013 key did); ``"only"`` reads only that.
- ``dimensions`` are matched by ``field_name``, not by position, against the
  *sanitised* key segments: list items are sanitised before comparing
  ("Firefox OS" matches the segment ``Firefox_OS``); in a tree whose schema
  sanitises as in 2013, ``-`` and ``_`` compare equal, so "saved-session"
  selects ``saved_session`` and the ``saved-session`` of older stores alike.
  Range bounds are compared as written, by string comparison. ``OTHER`` and ``UNKNOWN`` are ordinary
  values. A dimension the filter does not mention allows every value. A
  condition on a field that a tree's schema lacks excludes that tree, unless it
  is ``"*"``. An empty or missing ``dimensions`` list allows everything.
- Except ``traffic``: a filter file that does not mention it reads only
  ``main`` traffic of the trees that have that dimension (generic-form
  namespaces), so automation and debug pings stay out of analyses unless a
  filter asks for them (``["debug"]``, or ``"*"`` for all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.storage.keys import (
    INVALID_TREE,
    TELEMETRY_TREE,
    BadKey,
    ParsedKey,
    SchemaSource,
    is_side_tree,
    resolve_schemas,
    tree_for_namespace,
)
from appliance.storage.schema import (
    Allowed,
    AnyValue,
    OneOf,
    Schema,
    SchemaError,
    check_version,
    load_json,
    parse_dimensions,
)

_INVALID_PREFIX = INVALID_TREE + "/"
_ANY_GENERIC_TREE = "_generic"  # any tree but telemetry: the schema of generic namespaces
_INCLUDE_INVALID = {False: (True, False), True: (True, True), "only": (False, True)}
# What a filter file selects on a dimension it does not name, in trees that have it.
FILE_DEFAULTS: Mapping[str, Allowed] = {"traffic": OneOf(("main",))}


@dataclass
class Filter:
    """A partition filter. `trees` None means every tree; `conditions` are by field name.

    `defaults` are conditions that apply only to schemas having their field.
    """

    trees: frozenset[str] | None = frozenset({TELEMETRY_TREE})
    conditions: Mapping[str, Allowed] = field(default_factory=dict)
    include_valid: bool = True
    include_invalid: bool = False
    schemas: SchemaSource = None
    defaults: Mapping[str, Allowed] = field(default_factory=dict)
    side_trees: bool = False    # with `trees` None: the side trees too (else only by name)
    _plans: dict[Schema, list[Allowed | None] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Conditions compare with key segments, which are sanitised.
        self.conditions = {name: a.for_keys() for name, a in self.conditions.items()}
        self.defaults = {name: a.for_keys() for name, a in self.defaults.items()
                         if name not in self.conditions}
        self._schema_of = resolve_schemas(self.schemas)

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def all(cls) -> Filter:
        """Every partition of every tree, valid and invalid, and of the side trees."""
        return cls(trees=None, include_valid=True, include_invalid=True, side_trees=True)

    @classmethod
    def all_records(cls) -> Filter:
        """`all` but the side trees, whose lines are not records: what a job without a
        filter reads."""
        return cls(trees=None, include_valid=True, include_invalid=True)

    @classmethod
    def from_dict(cls, obj: Any, schemas: SchemaSource = None) -> Filter:
        if not isinstance(obj, dict):
            raise SchemaError(f"a filter must be a JSON object, not {type(obj).__name__}")
        unknown = sorted(set(obj) - {"version", "namespace", "include_invalid", "dimensions"})
        if unknown:
            raise SchemaError(f"unknown top-level keys {unknown} (a filter has \"version\", "
                              f"\"namespace\", \"include_invalid\" and \"dimensions\")")
        check_version(obj)
        trees = _parse_namespace(obj.get("namespace", TELEMETRY_TREE))
        inc = obj.get("include_invalid", False)
        if not any(inc is k or (isinstance(k, str) and inc == k) for k in _INCLUDE_INVALID):
            raise SchemaError(f"\"include_invalid\" must be false, true or \"only\", "
                              f"not {inc!r}")
        include_valid, include_invalid = _INCLUDE_INVALID[inc]
        dims = parse_dimensions(obj.get("dimensions", []), allow_empty=True)
        return cls(trees=trees, conditions={d.field_name: d.allowed for d in dims},
                   include_valid=include_valid, include_invalid=include_invalid,
                   schemas=schemas, defaults=FILE_DEFAULTS)

    @classmethod
    def from_file(cls, path: str | Path, schemas: SchemaSource = None) -> Filter:
        obj = load_json(path)
        try:
            return cls.from_dict(obj, schemas)
        except SchemaError as e:
            raise SchemaError(f"{path}: {e}") from None

    def check_dimensions(self) -> None:
        """SchemaError if a condition names a dimension that no selected tree's schema has
        (a misspelt `appUpdateChanel` would otherwise select nothing, silently)."""
        trees = self.trees if self.trees is not None else (TELEMETRY_TREE, _ANY_GENERIC_TREE)
        schemas = []
        for tree in sorted(trees):
            try:
                schemas.append((tree, self._schema_of(tree)))
            except BadKey:  # a schema table without that tree: nothing to check against
                continue
        known = {name for _, schema in schemas for name in schema.field_names}
        unknown = sorted(n for n in self.conditions if n not in known)
        if schemas and unknown:
            have = "; ".join(f"{'generic namespaces' if tree == _ANY_GENERIC_TREE else tree}: "
                             f"{', '.join(schema.field_names)}" for tree, schema in schemas)
            raise SchemaError(f"no dimension named {', '.join(map(repr, unknown))} in the "
                              f"schema (its dimensions: {have})")

    # --- matching --------------------------------------------------------------------------

    @property
    def may_select_invalid(self) -> bool:
        """False if no ``invalid/...`` tree can match (the invalid store need not be listed)."""
        return self.include_invalid

    def allows_tree(self, tree: str) -> bool:
        """True if the filter selects `tree` (``telemetry``, ``invalid/telemetry``, ...)."""
        if tree.startswith(_INVALID_PREFIX):
            if not self.include_invalid:
                return False
            tree = tree[len(_INVALID_PREFIX):]
        elif not self.include_valid or tree == INVALID_TREE:
            return False
        if self.trees is None:
            return self.side_trees or not is_side_tree(tree)
        return tree in self.trees

    def allows_prefix(self, tree: str, values: Sequence[str],
                      schema: Schema | None = None) -> bool:
        """True if some key starting ``tree/values[0]/.../values[k-1]/`` could match.

        `schema` is the tree's schema; by default it comes from the filter's
        `schemas`. With no values this is "could anything in `tree` match".
        """
        if not self.allows_tree(tree):
            return False
        plan = self._plan(schema if schema is not None else self._schema_of(tree))
        if plan is None or len(values) > len(plan):
            return False
        return all(cond is None or cond.matches(v) for cond, v in zip(plan, values, strict=False))

    def allows(self, tree: str, values: Sequence[str], schema: Schema | None = None) -> bool:
        """True if the full partition ``tree/values...`` matches (False if the length is wrong)."""
        schema = schema if schema is not None else self._schema_of(tree)
        return len(values) == len(schema) and self.allows_prefix(tree, values, schema)

    def allows_key(self, key: ParsedKey) -> bool:
        """`allows` for a parsed key (its dimension names are used; its tree's schema only
        to know whether it sanitises as in 2013)."""
        if not self.allows_tree(key.tree):
            return False
        try:
            schema = self._schema_of(key.tree)
        except KeyError:  # BadKey: a mapping without this tree
            schema = None
        for name, cond in self.conditions.items():
            value = key.dimensions.get(name)
            if value is None:
                if not isinstance(cond, AnyValue):
                    return False
            elif not _for_schema(cond, schema).matches(value):
                return False
        return all(_for_schema(cond, schema).matches(value)
                   for name, cond in self.defaults.items()
                   if (value := key.dimensions.get(name)) is not None)

    def _plan(self, schema: Schema) -> list[Allowed | None] | None:
        """Per dimension of `schema`, the condition to test (None: any); None if unsatisfiable."""
        if schema not in self._plans:
            names = set(schema.field_names)
            if any(n not in names and not isinstance(c, AnyValue)
                   for n, c in self.conditions.items()):
                plan = None
            else:
                plan = [None if c is None or isinstance(c, AnyValue) else _for_schema(c, schema)
                        for c in (self.conditions.get(n, self.defaults.get(n))
                                  for n in schema.field_names)]
            self._plans[schema] = plan
        return self._plans[schema]


def _for_schema(cond: Allowed, schema: Schema | None) -> Allowed:
    """`cond` (already `for_keys`) as tested against the segments of `schema`'s trees."""
    return cond.for_2013_keys() if schema is not None and schema.rule_2013 else cond


def _parse_namespace(raw: Any) -> frozenset[str] | None:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise SchemaError(f"\"namespace\" must be a string, \"*\" or a non-empty list of "
                          f"strings, not {raw!r}")
    for item in items:
        if not isinstance(item, str) or not item:
            raise SchemaError(f"\"namespace\" items must be non-empty strings, not {item!r}")
    if "*" in items:
        return None
    return frozenset(n if is_side_tree(n) else tree_for_namespace(n) for n in items)
