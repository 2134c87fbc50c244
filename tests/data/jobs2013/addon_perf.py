# Add-on performance: per add-on, the pings that had it and the largest scan time.
import json

def map(k, d, v, cx):
    details = json.loads(v).get("addonDetails", {}).get("XPI", {})
    for addon_id, data in details.iteritems():
        if data.has_key("scan_MS"):
            cx.write(addon_id, data["scan_MS"])

def reduce(k, v, cx):
    longest = 0L
    for ms in v:
        if ms > longest:
            longest = ms
    cx.write(k, "%d\t%d" % (len(v), longest))
