"""Count the records in the selected partitions.

Output: one line, ``records<TAB><count>``.

Run it::

    appliance job run examples/jobs/count.py --filter examples/jobs/filters/all.json \
        --output count.out

`combine` sums map-side, so the map output stays one value per key however
many records there are.
"""


def map(key, dims, value, context):
    context.write("records", 1)


def combine(key, values, context):
    context.write(key, sum(values))


def reduce(key, values, context):
    context.write(key, sum(values))
