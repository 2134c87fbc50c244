"""Counting names that clients choose, in bounded memory.

A sender can invent any number of names (of histograms, say), so a plain
Counter of them grows without end, and so do the stats that report it.
`TopCounter` keeps the most frequent names and folds the others into one
"other" count: the counts still add up to the number of occurrences.
"""

from __future__ import annotations

from collections.abc import Iterable

OTHER = "(other)"  # parentheses: no histogram is named like that


class TopCounter:
    """Occurrences by name, at most `capacity` names kept (see the module docstring).

    When a new name arrives with `capacity` names held, the less frequent half
    is folded into `other`; `top()` reports the `keep` most frequent names.
    Names are cut to `max_name_chars`, as they are client data too.
    """

    def __init__(self, keep: int = 100, capacity: int = 1000, max_name_chars: int = 200):
        if not 0 < keep <= capacity // 2:
            raise ValueError("keep must be positive and at most half the capacity")
        self.keep = keep
        self.capacity = capacity
        self.max_name_chars = max_name_chars
        self.other = 0
        self._counts: dict[str, int] = {}

    def add(self, name: str, n: int = 1) -> None:
        name = name[:self.max_name_chars]
        counts = self._counts
        if name in counts:
            counts[name] += n
            return
        if len(counts) >= self.capacity:
            self._fold()
        self._counts[name] = n

    def update(self, names: Iterable[str]) -> None:
        """Count each of `names` once."""
        for name in names:
            self.add(name)

    def merge(self, top: dict[str, int]) -> None:
        """Add another counter's `top()`."""
        for name, n in top.items():
            if name == OTHER:
                self.other += n
            else:
                self.add(name, n)

    def _fold(self) -> None:
        ordered = sorted(self._counts.items(), key=lambda kv: -kv[1])
        kept = self.capacity // 2
        self.other += sum(n for _, n in ordered[kept:])
        self._counts = dict(ordered[:kept])

    @property
    def total(self) -> int:
        """Every occurrence counted."""
        return self.other + sum(self._counts.values())

    def top(self) -> dict[str, int]:
        """The `keep` most frequent names, most frequent first, and OTHER for the rest."""
        ordered = sorted(self._counts.items(), key=lambda kv: -kv[1])
        out = dict(ordered[:self.keep])
        rest = self.other + sum(n for _, n in ordered[self.keep:])
        if rest:
            out[OTHER] = rest
        return out

    def __bool__(self) -> bool:
        return bool(self._counts) or self.other > 0
