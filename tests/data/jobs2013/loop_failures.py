# Loop failures: failures per type and channel.
import json

def map(k, d, v, cx):
    try:
        failure = json.loads(v)["loopFailure"]
    except KeyError, e:
        return
    if failure["type"] <> "":
        cx.write("%s,%s" % (failure["type"], d[2]), 1L)

def reduce(k, v, cx):
    cx.write(k, sum(v))
