# Flash versions: pings per version string (None when the ping has none).
import json

def map(k, d, v, cx):
    version = json.loads(v).get("info", {}).get("flashVersion")
    if not isinstance(version, basestring):
        version = "None"
    cx.write(version, 1)

def combine(k, v, cx):
    cx.write(k, sum(v))

def reduce(k, v, cx):
    cx.write(k, sum(v))
