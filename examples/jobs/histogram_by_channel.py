"""The distribution of one histogram's buckets per update channel, as CSV.

For every channel (``appUpdateChannel``, the third telemetry dimension) it
adds up the bucket counts of HISTOGRAM over all selected records. Converted
(v2) records hold a histogram as an array: the bucket counts followed by five
summary values (sum, log_sum, log_sum_squares, sum_squares_lo,
sum_squares_hi), so the buckets are ``array[:-5]``.

Output: CSV as the 2013 server wrote it (comma, CRLF line ends): a header
``channel,bucket_index,count,submissions`` written by ``setup_reduce`` (once,
at the top), then one line per channel and bucket (submissions: records of
that channel that had the histogram).

Run it::

    appliance job run examples/jobs/histogram_by_channel.py \
        --filter examples/jobs/filters/saved_session_firefox.json --output hist.csv

The histogram is SAFE_MODE unless the HISTOGRAM environment variable names
another (``HISTOGRAM=GC_MS appliance job run ...``).
"""

import os

try:
    from orjson import loads
except ImportError:  # pragma: no cover
    from json import loads

HISTOGRAM = os.environ.get("HISTOGRAM", "SAFE_MODE")
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


def setup_reduce(context):
    context.writecsv(["channel", "bucket_index", "count", "submissions"])


def reduce(key, values, context):
    submissions, total = _add(values)
    for i, count in enumerate(total):
        context.writecsv([key, i, count, submissions])
