# FxOS pings: devices per (model, operator).
import json
from StringIO import StringIO
import csv

def map(k, d, v, cx):
    ping = json.loads(v)
    if d[1] != "FirefoxOS":
        return
    model = ping.get("deviceinfo", {}).get("product_model", u"unknown")
    operator = ping.get("icc", {}).get("spn", u"unknown")
    buf = StringIO()
    csv.writer(buf, lineterminator="").writerow([unicode(model), unicode(operator)])
    cx.write(buf.getvalue(), 1)

def reduce(k, v, cx):
    total = 0
    for i in xrange(len(v)):
        total += v[i]
    cx.write(k, total)
