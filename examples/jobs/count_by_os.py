"""Count records by operating system (``info.OS``), one line per OS.

Output: ``<OS><TAB><count>`` lines, sorted (records without info.OS count as
``UNKNOWN``).

Run it::

    appliance job run examples/jobs/count_by_os.py \
        --filter examples/jobs/filters/saved_session_firefox.json --output by_os.out

The record is JSON text; orjson parses it 2-3x faster than json, so it is
used when installed.
"""

try:
    from orjson import loads
except ImportError:  # pragma: no cover
    from json import loads


def map(key, dims, value, context):
    os_name = (loads(value).get("info") or {}).get("OS") or "UNKNOWN"
    context.write(os_name, 1)


def combine(key, values, context):
    context.write(key, sum(values))


def reduce(key, values, context):
    context.write(key, sum(values))
