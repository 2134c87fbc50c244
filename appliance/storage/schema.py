"""Partitioning schemas (DESIGN 3.3): ordered dimensions and their allowed values.

A schema file has the 2013 ``telemetry_schema.json`` shape::

    {"version": 1,
     "dimensions": [{"field_name": "reason", "allowed_values": ["saved-session"]},
                    {"field_name": "appBuildID", "allowed_values": {"min": "2013"}},
                    {"field_name": "submission_date", "allowed_values": "*"}]}

Turning a submission's value into a key segment is two steps, in order:

1. allowed values: ``"*"`` keeps the value; a list keeps it if it is in the
   list (a plain string other than ``"*"`` is a one-element list); a range
   ``{"min": a, "max": b}`` keeps it if ``a <= value <= b`` by *string*
   comparison (either bound may be absent). Anything else becomes ``OTHER``.
   A missing or empty value is not tested: it becomes ``UNKNOWN`` (absent
   is told apart from present-but-not-allowed).
2. `sanitise`: the result is a safe single path segment (see there). A
   schema in the 2013 file format, and the default telemetry schema, sanitise
   as the 2013 server did (`sanitise_2013`: ``-`` becomes ``_`` too, so
   "saved-session" is the segment ``saved_session``); the generic-edge schema
   keeps ``-``.

docs/storage-keys.md describes the layout built from these segments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OTHER = "OTHER"
UNKNOWN = "UNKNOWN"
MAX_SEGMENT = 128
_HASH_CHARS = 16
_KEEP = MAX_SEGMENT - 1 - _HASH_CHARS  # prefix kept when a value is capped
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_UNSAFE_2013 = re.compile(r"[^A-Za-z0-9_.]")   # the 2013 server's safe_filename kept no "-"
_LEADING_DOTS = re.compile(r"^\.+")
SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}")

TELEMETRY_FIELDS = ("reason", "appName", "appUpdateChannel", "appVersion", "appBuildID",
                    "submission_date")
# The 2013 server's telemetry_schema.json (as last published, with the Firefox OS, loop and
# Android ANR reasons it added): values outside these lists are partitioned as OTHER.
TELEMETRY_ALLOWED = {
    "reason": ("idle-daily", "saved-session", "android-anr-report", "ftu", "loop"),
    "appName": ("Firefox", "Fennec", "Thunderbird", "FirefoxOS"),
    "appUpdateChannel": ("release", "beta", "nightly", "aurora"),
}
GENERIC_FIELDS = ("traffic", "docType", "docVersion", "channel", "submission_date")


class SchemaError(ValueError):
    """A schema or filter document that cannot be used; the message names the problem."""


def as_text(value: object) -> str | None:
    """A dimension value as text: None stays None, JSON scalars get their JSON spelling."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sanitise(value: object) -> str:
    """Make `value` a safe, non-empty path segment of at most 128 characters.

    - None or "" -> ``UNKNOWN``;
    - every character (code point) outside ``[A-Za-z0-9_.-]`` -> ``_``;
    - each leading ``.`` -> ``_`` (so "." -> "_", ".." -> "__", ".x" -> "_x":
      no segment is a path traversal or a hidden name);
    - longer than 128 characters -> the first 111 characters, ``_``, and the
      first 16 hex digits of the SHA-256 of the whole sanitised text (so long
      values that differ anywhere stay apart, and the result is stable).

    The result always matches `SAFE_SEGMENT`, and ``sanitise(sanitise(v)) ==
    sanitise(v)``.
    """
    return _sanitise(value, _UNSAFE)


def sanitise_2013(value: object) -> str:
    """`sanitise` as the 2013 server did it: ``-`` also becomes ``_`` ("saved-session" ->
    "saved_session"). (2013 kept ``/``, which split a value over two directories, and
    leading dots; here they become ``_`` as in `sanitise`.)"""
    return _sanitise(value, _UNSAFE_2013)


def fold_2013(segment: str) -> str:
    """A key segment as `sanitise_2013` would have made it, for comparing segments written
    with and without the 2013 rule (the stores of earlier versions kept ``-``)."""
    return segment.replace("-", "_")


def _sanitise(value: object, unsafe: re.Pattern[str]) -> str:
    text = as_text(value)
    if not text:
        return UNKNOWN
    text = unsafe.sub("_", text)
    text = _LEADING_DOTS.sub(lambda m: "_" * len(m.group(0)), text)
    if len(text) > MAX_SEGMENT:
        digest = hashlib.sha256(text.encode("ascii")).hexdigest()[:_HASH_CHARS]
        text = f"{text[:_KEEP]}_{digest}"
    return text


def is_safe_segment(segment: str) -> bool:
    """True if `segment` could be the output of `sanitise` (a safe path segment)."""
    return isinstance(segment, str) and SAFE_SEGMENT.fullmatch(segment) is not None


# --- allowed values ------------------------------------------------------------------------


class Allowed:
    """What a dimension accepts. Subclasses: `AnyValue`, `OneOf`, `Range`."""

    def matches(self, value: str) -> bool:
        raise NotImplementedError

    def for_keys(self) -> Allowed:
        """The same condition, to be tested against sanitised key segments."""
        return self

    def for_2013_keys(self) -> Allowed:
        """This condition (from `for_keys`) for the segments of a schema that sanitises as
        in 2013, whether a segment was written with the 2013 rule or before it."""
        return self

    def to_json(self) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class AnyValue(Allowed):
    """``"*"``: every value."""

    def matches(self, value: str) -> bool:
        return True

    def to_json(self) -> Any:
        return "*"


@dataclass(frozen=True)
class OneOf(Allowed):
    """A list of exact values."""

    values: tuple[str, ...]
    _set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_set", frozenset(self.values))

    def matches(self, value: str) -> bool:
        return value in self._set

    def for_keys(self) -> Allowed:
        return OneOf(tuple(dict.fromkeys(sanitise(v) for v in self.values)))

    def for_2013_keys(self) -> Allowed:
        return Folded2013(frozenset(fold_2013(v) for v in self.values))

    def to_json(self) -> Any:
        return list(self.values)


@dataclass(frozen=True)
class Folded2013(Allowed):
    """Segments equal, after `fold_2013`, to one of `folded` ("saved-session" in a filter
    selects ``saved_session`` and a store's older ``saved-session`` alike)."""

    folded: frozenset[str]

    def matches(self, value: str) -> bool:
        return fold_2013(value) in self.folded

    def to_json(self) -> Any:
        return sorted(self.folded)


@dataclass(frozen=True)
class Range(Allowed):
    """``{"min": a, "max": b}``: ``a <= value <= b`` by string comparison; a bound may be None."""

    min: str | None = None
    max: str | None = None

    def matches(self, value: str) -> bool:
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)

    def to_json(self) -> Any:
        out = {}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out


def parse_allowed(raw: Any, where: str = "allowed_values") -> Allowed:
    """Validate a JSON ``allowed_values`` and build its `Allowed`; `where` names it in errors."""
    if isinstance(raw, Allowed):
        return raw
    if raw == "*":
        return AnyValue()
    if isinstance(raw, str):
        return OneOf((raw,))
    if isinstance(raw, (list, tuple)):
        if not raw:
            raise SchemaError(f"{where}: an empty list allows nothing; use \"*\" for any value")
        bad = [v for v in raw if not isinstance(v, str)]
        if bad:
            raise SchemaError(f"{where}: list items must be strings, not {bad[0]!r}")
        return OneOf(tuple(raw))
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - {"min", "max"})
        if unknown:
            raise SchemaError(f"{where}: a range has only \"min\" and \"max\", not {unknown}")
        if not raw:
            raise SchemaError(f"{where}: a range needs \"min\", \"max\" or both")
        for bound in ("min", "max"):
            if bound in raw and not isinstance(raw[bound], str):
                raise SchemaError(f"{where}: \"{bound}\" must be a string (ranges compare "
                                  f"strings), not {raw[bound]!r}")
        lo, hi = raw.get("min"), raw.get("max")
        if lo is not None and hi is not None and lo > hi:
            raise SchemaError(f"{where}: \"min\" {lo!r} is greater than \"max\" {hi!r}")
        return Range(lo, hi)
    raise SchemaError(f"{where}: must be \"*\", a list of strings or a {{\"min\", \"max\"}} "
                      f"range, not {raw!r}")


# --- schema --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One partitioning dimension. `allowed` may be given as JSON (``"*"``, list, range)."""

    field_name: str
    allowed: Allowed = AnyValue()

    def __post_init__(self) -> None:
        if not isinstance(self.field_name, str) or not self.field_name:
            raise SchemaError(f"field_name must be a non-empty string, not {self.field_name!r}")
        object.__setattr__(self, "allowed",
                           parse_allowed(self.allowed, f"dimension {self.field_name!r}"))

    def value(self, raw: object, *, rule_2013: bool = False) -> str:
        """The key segment for `raw`: allowed values, then `sanitise` (`sanitise_2013`
        with `rule_2013`). A missing or empty value is UNKNOWN; with `rule_2013`, as in
        2013, UNKNOWN is then checked like any value (so it is OTHER under a list)."""
        text = as_text(raw)
        if not text:
            if not rule_2013:
                return UNKNOWN
            text = UNKNOWN  # in 2013 a missing value was then tested: OTHER under a list
        kept = text if self.allowed.matches(text) else OTHER
        return sanitise_2013(kept) if rule_2013 else sanitise(kept)

    def to_json(self) -> dict[str, Any]:
        return {"field_name": self.field_name, "allowed_values": self.allowed.to_json()}


def parse_dimensions(raw: Any, *, allow_empty: bool) -> list[Dimension]:
    """Validate a JSON ``dimensions`` list (errors name the dimension by position and name)."""
    if not isinstance(raw, list):
        raise SchemaError(f"\"dimensions\" must be a list, not {type(raw).__name__}")
    if not raw and not allow_empty:
        raise SchemaError("\"dimensions\" is empty: a schema needs at least one dimension")
    dims: list[Dimension] = []
    seen: set[str] = set()
    for i, d in enumerate(raw):
        where = f"dimension {i}"
        if not isinstance(d, dict):
            raise SchemaError(f"{where}: must be an object with \"field_name\" and "
                              f"\"allowed_values\", not {d!r}")
        name = d.get("field_name")
        if not isinstance(name, str) or not name:
            raise SchemaError(f"{where}: \"field_name\" must be a non-empty string, "
                              f"not {name!r}")
        where = f"dimension {i} ({name!r})"
        if name in seen:
            raise SchemaError(f"{where}: field_name appears twice")
        seen.add(name)
        unknown = sorted(set(d) - {"field_name", "allowed_values"})
        if unknown:
            raise SchemaError(f"{where}: unknown keys {unknown}")
        if "allowed_values" not in d:
            raise SchemaError(f"{where}: \"allowed_values\" is missing (use \"*\" for any value)")
        dims.append(Dimension(name, parse_allowed(d["allowed_values"], where)))
    return dims


def check_version(obj: Mapping[str, Any]) -> int:
    version = obj.get("version", 1)
    if version != 1 or isinstance(version, bool):
        raise SchemaError(f"\"version\" must be 1, not {version!r}")
    return 1


def load_json(path: str | Path) -> Any:
    """Read a JSON document, turning every failure into a `SchemaError` naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SchemaError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise SchemaError(f"{path}: cannot read: not UTF-8 ({e.reason} at byte {e.start})") \
            from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SchemaError(f"{path}: not valid JSON: {e}") from None


@dataclass(frozen=True)
class Schema:
    """An ordered list of dimensions: the directory levels of a store tree.

    `rule_2013`: values are sanitised as the 2013 server did (`sanitise_2013`); true for
    schemas read from a (2013-format) schema file and for the default telemetry schema.
    """

    version: int
    dimensions: tuple[Dimension, ...]
    rule_2013: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.dimensions))
        names = [d.field_name for d in self.dimensions]
        if len(set(names)) != len(names):
            raise SchemaError(f"duplicate field_name in {names}")

    @classmethod
    def from_dict(cls, obj: Any) -> Schema:
        if not isinstance(obj, dict):
            raise SchemaError(f"a schema must be a JSON object, not {type(obj).__name__}")
        unknown = sorted(set(obj) - {"version", "dimensions"})
        if unknown:
            raise SchemaError(f"unknown top-level keys {unknown} (a schema has \"version\" "
                              f"and \"dimensions\")")
        version = check_version(obj)
        if "dimensions" not in obj:
            raise SchemaError("\"dimensions\" is missing")
        return cls(version, tuple(parse_dimensions(obj["dimensions"], allow_empty=False)),
                   rule_2013=True)

    @classmethod
    def from_file(cls, path: str | Path) -> Schema:
        obj = load_json(path)
        try:
            return cls.from_dict(obj)
        except SchemaError as e:
            raise SchemaError(f"{path}: {e}") from None

    @classmethod
    def of_fields(cls, names: Iterable[str]) -> Schema:
        """A schema whose dimensions all allow ``"*"``."""
        return cls(1, tuple(Dimension(n) for n in names))

    @classmethod
    def telemetry_default(cls) -> Schema:
        """The 2013 server's telemetry schema: its order, its lists of allowed values
        (`TELEMETRY_ALLOWED`, others become OTHER) and its sanitising."""
        return cls(1, tuple(Dimension(n, parse_allowed(list(TELEMETRY_ALLOWED.get(n, ())) or "*"))
                            for n in TELEMETRY_FIELDS), rule_2013=True)

    @classmethod
    def generic_default(cls) -> Schema:
        """The fixed schema of generic-edge namespaces: traffic (main, automation or
        debug), docType, docVersion, channel, submission_date."""
        return cls.of_fields(GENERIC_FIELDS)

    @property
    def field_names(self) -> list[str]:
        return [d.field_name for d in self.dimensions]

    def __len__(self) -> int:
        return len(self.dimensions)

    def partition(self, values: Mapping[str, object]) -> list[str]:
        """The key segments for a submission's dimension values (missing -> ``UNKNOWN``)."""
        return [d.value(values.get(d.field_name), rule_2013=self.rule_2013)
                for d in self.dimensions]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "dimensions": [d.to_json() for d in self.dimensions]}


class SchemaRegistry:
    """Which schema a store tree uses: `telemetry` for ``telemetry`` and its side tree
    ``telemetry-unknown-histograms``, `generic` for the rest.

    A tree of the invalid store, ``invalid/<tree>``, uses the schema of ``<tree>``.
    Call it with a tree name; it is the ``schemas`` argument of the key functions.
    """

    def __init__(self, telemetry: Schema | None = None, generic: Schema | None = None):
        self.telemetry = telemetry or Schema.telemetry_default()
        self.generic = generic or Schema.generic_default()

    def __call__(self, tree: str) -> Schema:
        if tree.startswith("invalid/"):
            tree = tree[len("invalid/"):]
        telemetry = tree == "telemetry" or tree == "telemetry-unknown-histograms"
        return self.telemetry if telemetry else self.generic
