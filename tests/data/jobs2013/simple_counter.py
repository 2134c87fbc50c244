# Counts every record, and the records of each submission date.
import json

def map(k, d, v, cx):
    try:
        json.loads(v)
    except ValueError, e:
        print "skipping", k, e
        return
    cx.write("ALL", 1)
    cx.write("date:" + d[-1], 1)

def reduce(k, v, cx):
    cx.write(k, sum(v))
