"""Keys across processes: a canonical encoding and the reducer it belongs to."""

from __future__ import annotations

import pickle
import zlib
from typing import Any


def canonical_key(key: Any) -> bytes:
    """A byte encoding of a key, the same in every process (unlike `hash`, which is salted).

    Equal numbers encode alike (1, 1.0 and True), sets are sorted, tuples are
    length-prefixed; other objects are encoded by type name and pickle.
    """
    t = type(key)
    if t is str:
        return b"s" + key.encode("utf-8", "surrogatepass")
    if t is int or t is bool:
        return b"i%d" % key
    if t is float:
        return b"i%d" % key if key.is_integer() else b"f" + repr(key).encode()
    if key is None:
        return b"n"
    if t is bytes:
        return b"b" + key
    if t is tuple or t is list:
        return b"t" + b"".join(b"%d:%s" % (len(e), e) for e in map(canonical_key, key))
    if t is frozenset or t is set:
        return b"z" + b"".join(b"%d:%s" % (len(e), e)
                               for e in sorted(map(canonical_key, key)))
    return b"p" + t.__qualname__.encode() + b":" + pickle.dumps(key, protocol=4)


def partition_of(canonical: bytes, reducers: int) -> int:
    return zlib.crc32(canonical) % reducers
