# Records per OS and channel, with the total uptime of each.
import json

def map(k, d, v, cx):
    parsed = json.loads(v)
    if not parsed.has_key("simpleMeasurements"):
        return
    os = parsed.get("info", {}).get("OS", "UNKNOWN")
    channel = d[2]
    cx.write((os, channel), long(parsed["simpleMeasurements"]["uptime"]))

def reduce(k, v, cx):
    totals = {}
    for uptime in v:
        totals["count"] = totals.get("count", 0L) + 1
        totals["uptime"] = totals.get("uptime", 0L) + uptime
    out = []
    for name, value in sorted(totals.iteritems()):
        out.append("%s=%d" % (name, value))
    cx.write("%s/%s" % k, " ".join(out))
