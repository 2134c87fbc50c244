# Main-thread IO: per file name, the pings that reported it and the median total time.
import simplejson as json
import numstats

def clean(name):
    if type(name) == unicode:
        name = name.lower()
    return name.translate(None, ",")

def map(k, d, v, cx):
    reports = json.loads(v).get("fileIOReports")
    if not reports:
        return
    for name, counts in reports.iteritems():
        cx.write(clean(name), counts[0])

def reduce(k, v, cx):
    cx.write(k, "%d,%s" % (len(v), numstats.median(v)))
