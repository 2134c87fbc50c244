"""Bench job: one histogram's bucket counts summed per update channel (CSV).

Like examples/jobs/histogram_by_channel.py, for a histogram that the
generated spec of bench/payloads.py defines (present in ~92% of pings).
"""

try:
    from orjson import loads
except ImportError:  # pragma: no cover
    from json import loads

HISTOGRAM = "BENCH_EXPONENTIAL_000"
SUMMARY_VALUES = 5
CHANNEL = 2  # index of appUpdateChannel in the telemetry dimensions


def map(key, dims, value, context):
    histogram = (loads(value).get("histograms") or {}).get(HISTOGRAM)
    if isinstance(histogram, list) and len(histogram) > SUMMARY_VALUES:
        context.write(dims[CHANNEL], (1, histogram[:-SUMMARY_VALUES]))


def _add(values):
    submissions, total = 0, []
    for n, buckets in values:
        submissions += n
        if len(buckets) > len(total):
            total.extend([0] * (len(buckets) - len(total)))
        for i, count in enumerate(buckets):
            total[i] += count
    return submissions, total


def combine(key, values, context):
    context.write(key, _add(values))


def reduce(key, values, context):
    submissions, total = _add(values)
    context.write(key, [submissions, total])
