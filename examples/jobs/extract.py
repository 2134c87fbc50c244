"""Extract one field per record: a map-only job (no reduce).

Output: ``<docId><TAB><uptime>`` for each record, where uptime is
``simpleMeasurements.uptime`` (empty if missing), sorted like every job output.

Run it::

    appliance job run examples/jobs/extract.py \
        --filter examples/jobs/filters/saved_session_firefox.json --output uptime.tsv
"""

try:
    from orjson import loads
except ImportError:  # pragma: no cover
    from json import loads


def map(key, dims, value, context):
    uptime = (loads(value).get("simpleMeasurements") or {}).get("uptime", "")
    context.write(key, uptime)
