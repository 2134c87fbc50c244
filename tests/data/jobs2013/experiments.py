# Experiments: pings per active experiment and branch.
import json
import sys

def map(k, d, v, cx):
    info = json.loads(v).get("info", {})
    if "activeExperiment" not in info.keys():
        return
    branch = info.get("activeExperimentBranch")
    if branch is None:
        print >> sys.stderr, "no branch in", k
        branch = "none"
    cx.write(info["activeExperiment"] + "/" + branch, 1)

def reduce(k, v, cx):
    cx.write(k, len(v))
