# Slow SQL statements: per thread and statement, how often and how long.
import json
from sqlutil import clean_statement

def map(k, d, v, cx):
    parsed = json.loads(v)
    if not parsed.has_key("slowSQL"):
        return
    for thread, queries in parsed["slowSQL"].iteritems():
        for sql, (count, total) in queries.iteritems():
            cx.write("%s,%s" % (thread, clean_statement(sql)), [count, total])

def combine(k, v, cx):
    cx.write(k, [sum(c for c, t in v), sum(t for c, t in v)])

def reduce(k, v, cx):
    count = sum([c for c, t in v])
    total = sum([t for c, t in v])
    cx.write(k, "%d,%d" % (count, total))
