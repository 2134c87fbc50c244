"""The first pass of `--dedupe` (see dedupe.py): each docId's last arrival.

The runner calls map with the record's place in the dedupe order
(receive time, node, input rank, record number) as the value instead of its
JSON text.
"""


def map(key, dims, value, context):
    context.write(key, value)


def combine(key, values, context):
    context.write(key, max(values))


def reduce(key, values, context):
    *_, rank, n = max(values)
    context.write(key, f"{rank}:{n}")
