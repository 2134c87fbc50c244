"""The first pass of `--dedupe` (see dedupe.py): each docId's last record.

The runner calls map with the record's (file rank, record number) as the
value instead of its JSON text.
"""


def map(key, dims, value, context):
    context.write(key, value)


def combine(key, values, context):
    context.write(key, max(values))


def reduce(key, values, context):
    rank, n = max(values)
    context.write(key, f"{rank}:{n}")
