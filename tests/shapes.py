"""Checking a JSON object against a TypedDict at run time (the type checker sees only code):
the tests hold the producer's answer and the fakes to the one definition."""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin, get_type_hints, is_typeddict


def shape_errors(shape: Any, value: Any, where: str = "") -> list[str]:
    """What in `value` does not fit `shape` (a TypedDict or a type hint): missing, unknown and
    mistyped keys, each named by its path. An empty list when it fits."""
    if shape is Any:
        return []
    if is_typeddict(shape):
        if not isinstance(value, dict):
            return [f"{where or 'the value'}: expected an object, got {value!r:.60}"]
        hints = get_type_hints(shape)
        errors = [f"{where}.{k}: missing" for k in sorted(shape.__required_keys__ - set(value))]
        errors += [f"{where}.{k}: not in {shape.__name__}" for k in sorted(set(value) - set(hints))]
        for k in sorted(set(value) & set(hints)):
            errors += shape_errors(hints[k], value[k], f"{where}.{k}")
        return errors
    origin = get_origin(shape)
    if origin in (typing.Union, types.UnionType):
        options = [shape_errors(option, value, where) for option in get_args(shape)]
        return [] if any(not o for o in options) else min(options, key=len)
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r:.60}"]
        _, item = get_args(shape) or (Any, Any)
        return [e for k, v in value.items() for e in shape_errors(item, v, f"{where}.{k}")]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {value!r:.60}"]
        (item,) = get_args(shape) or (Any,)
        return [e for i, v in enumerate(value) for e in shape_errors(item, v, f"{where}[{i}]")]
    kinds = {float: (int, float), type(None): (type(None),)}.get(shape, (origin or shape,))
    if not isinstance(value, kinds) or (isinstance(value, bool) and shape is not bool):
        return [f"{where}: expected {getattr(shape, '__name__', shape)}, got {value!r:.60}"]
    return []
