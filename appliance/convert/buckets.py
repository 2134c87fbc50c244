"""Bucket lower bounds from a Histograms.json definition (docs/conversion.md).

A histogram definition (one entry of mozilla-central's Histograms.json) gives a
kind and the parameters `low` (default 1), `high` and `n_buckets`, or `n_values`
for enumerated histograms. Firefox turns those parameters into the list of
bucket lower bounds that its pings use as the keys of `values`; the server
recomputes the same list to know the position of every bucket:

- linear, enumerated, boolean, flag, count: linear buckets. Enumerated is
  (low=1, high=n_values, n_buckets=n_values + 1); boolean, flag and count are
  (1, 2, 3), i.e. buckets [0, 1, 2].
- exponential: bucket 0 is 0, bucket 1 is `low`, and each following bound
  steps a constant ratio in log space from the current bound towards `high`
  (rounded to the nearest integer, and at least one more than the previous).

Both are the exact floating-point formulas of the 2013 histogram tools, so
the results equal the bucket lists Firefox reported and the precomputed
`<rev>.buckets.json` files.

Old Histograms.json revisions write some parameters as strings: plain numbers
("10000"), integer arithmetic ("16 * 1024 * 1024", "80 + 1") or C++ constants
("JS::gcreason::NUM_TELEMETRY_REASONS"). Strings are evaluated as integer
arithmetic (+, -, *, / as integer division, parentheses) with the constants of
`DEFAULT_CONSTANTS`; anything else is a DefinitionError.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping

KINDS = ("exponential", "linear", "boolean", "flag", "enumerated", "count")

# C++ constants that old Histograms.json revisions used as parameters.
# JS::gcreason::NUM_TELEMETRY_REASONS was 100 for the life of GC_REASON_2 (the
# real Firefox 23 ping in the corpus reports GC_REASON_2 with range [1, 100]
# and 101 buckets). The 2013 server substituted 101, which gives 102 buckets,
# one more than Firefox sent. mozilla::StartupTimeline::MAX_EVENT_ID changed
# from one revision to the next (the 2013 server guessed 12), so it is left
# out: a histogram that needs it is not in the spec (its data is kept aside
# as an unknown histogram rather than converted with a guessed layout).
DEFAULT_CONSTANTS: Mapping[str, int] = {
    "JS::gcreason::NUM_TELEMETRY_REASONS": 100,
    "JS::GCReason::NUM_TELEMETRY_REASONS": 100,
}

MAX_BUCKETS = 10_000        # no real histogram comes close; bounds a hostile spec
MAX_EXPRESSION = 200        # characters in a string parameter
MAX_VALUE = 1 << 53         # parameters and bounds stay exact in a float

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.floordiv,        # integer arithmetic, as in C++
    ast.FloorDiv: operator.floordiv,
}


class DefinitionError(ValueError):
    """A histogram definition whose bucket layout cannot be computed."""


def parameter(value, field: str, constants: Mapping[str, int] = DEFAULT_CONSTANTS) -> int:
    """One numeric parameter of a definition, as an int (strings are evaluated)."""
    if type(value) is int:
        result = value
    elif type(value) is float and value.is_integer():
        result = int(value)
    elif isinstance(value, str):
        result = _evaluate(value, field, constants)
    else:
        raise DefinitionError(f"{field} is not a number: {value!r}")
    if abs(result) > MAX_VALUE:
        raise DefinitionError(f"{field} is out of range: {value!r}")
    return result


def _evaluate(text: str, field: str, constants: Mapping[str, int]) -> int:
    text = text.strip()
    if text in constants:
        return constants[text]
    if len(text) > MAX_EXPRESSION:
        raise DefinitionError(f"{field} is too long an expression")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise DefinitionError(f"{field} is not a number or known constant: {text!r}") from None

    def walk(node) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = walk(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, (ast.Div, ast.FloorDiv)) and right == 0:
                raise DefinitionError(f"{field} divides by zero: {text!r}")
            result = _BINARY[type(node.op)](left, right)
            if abs(result) > MAX_VALUE:
                raise DefinitionError(f"{field} is out of range: {text!r}")
            return result
        raise DefinitionError(f"{field} is not a number or known constant: {text!r}")

    return walk(tree)


def bucket_parameters(
    definition: Mapping, constants: Mapping[str, int] = DEFAULT_CONSTANTS,
) -> tuple[str, int, int, int]:
    """(kind, low, high, n_buckets) of one definition."""
    if not isinstance(definition, Mapping):
        raise DefinitionError("definition is not an object")
    kind = definition.get("kind")
    if kind in ("boolean", "flag", "count"):
        return kind, 1, 2, 3
    if kind == "enumerated":
        if "n_values" not in definition:
            raise DefinitionError("enumerated histogram without n_values")
        n_values = parameter(definition["n_values"], "n_values", constants)
        return kind, 1, n_values, n_values + 1
    if kind in ("linear", "exponential"):
        for key in ("high", "n_buckets"):
            if key not in definition:
                raise DefinitionError(f"{kind} histogram without {key}")
        low = parameter(definition.get("low", 1), "low", constants)
        high = parameter(definition["high"], "high", constants)
        n_buckets = parameter(definition["n_buckets"], "n_buckets", constants)
        return kind, low, high, n_buckets
    raise DefinitionError(f"unknown histogram kind {kind!r}")


def linear_buckets(low: int, high: int, n_buckets: int) -> list[int]:
    """Bucket 0 is 0; bucket i (1..n-1) is low..high spaced evenly, rounded half up."""
    if not 3 <= n_buckets <= MAX_BUCKETS:
        raise DefinitionError(f"linear histogram needs 3..{MAX_BUCKETS} buckets, not {n_buckets}")
    lo, hi = float(low), float(high)
    steps = n_buckets - 2
    bounds = [0] * n_buckets
    for i in range(1, n_buckets):
        bounds[i] = int((lo * (n_buckets - 1 - i) + hi * (i - 1)) / steps + 0.5)
    return bounds


def exponential_buckets(low: int, high: int, n_buckets: int) -> list[int]:
    """Bucket 0 is 0, bucket 1 is low; each next bound moves an equal log-step
    from the current bound towards high (rounded), or by 1 if that is no bigger."""
    if not 2 <= n_buckets <= MAX_BUCKETS:
        raise DefinitionError(
            f"exponential histogram needs 2..{MAX_BUCKETS} buckets, not {n_buckets}")
    if low < 1 or high < 1:
        raise DefinitionError(f"exponential histogram needs low, high >= 1 (got {low}, {high})")
    log_high = math.log(high)
    bounds = [0] * n_buckets
    current = low
    bounds[1] = current
    for i in range(2, n_buckets):
        log_current = math.log(current)
        candidate = int(math.floor(math.exp(log_current + (log_high - log_current)
                                            / (n_buckets - i)) + 0.5))
        current = candidate if candidate > current else current + 1
        bounds[i] = current
    return bounds


def compute_buckets(definition: Mapping,
                    constants: Mapping[str, int] = DEFAULT_CONSTANTS) -> list[int]:
    """The bucket lower bounds of one raw Histograms.json definition."""
    kind, low, high, n_buckets = bucket_parameters(definition, constants)
    if kind == "exponential":
        return exponential_buckets(low, high, n_buckets)
    return linear_buckets(low, high, n_buckets)
