"""One case of bench/conversion.py over a few pings, for an instruction count.

`valgrind --tool=callgrind --toggle-collect=map_next python -m bench.conversion_work CASE`
counts the instructions of `map(work, pings)` alone (CASE: floor, compiled,
dict, python; see bench/conversion.py); divide by --pings. Unlike seconds on a
shared machine, instruction counts do not move with the load.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
from collections import deque
from pathlib import Path

import orjson

from bench.conversion import CASES, switched, workload


def floor(body: bytes) -> bytes:
    return orjson.dumps(orjson.loads(gzip.decompress(body)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=["floor", *CASES])
    parser.add_argument("--pings", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bodies, records, converter = workload(args.pings, Path(tmp))
        with switched(args.case):
            if args.case == "floor":
                deque(map(floor, bodies), maxlen=0)
            else:
                deque(map(converter.convert, records), maxlen=0)


if __name__ == "__main__":
    main()
