# A 2013-style Telemetry job, in the Python 2 it was written in: records per
# channel and OS, as CSV lines "channel,os,count". Port it with
#     appliance job port examples/jobs/port2013/os_by_channel_py2.py
import cStringIO
import csv
import json
import string

_NO_COMMAS = string.maketrans(",", ";")

def safe(name):
    if not isinstance(name, basestring):
        name = unicode(name)
    return name.translate(_NO_COMMAS)

def map(k, d, v, cx):
    try:
        info = json.loads(v)["info"]
    except (ValueError, KeyError), e:
        print "skipping", k, e
        return
    channel = d[2]
    cx.write((channel, safe(info.get("OS", "UNKNOWN"))), 1L)

def combine(k, v, cx):
    cx.write(k, sum(v))

def setup_reduce(cx):
    cx.field_separator = ","

def reduce(k, v, cx):
    row = cStringIO.StringIO()
    csv.writer(row, lineterminator="").writerow(list(k))
    cx.write(row.getvalue(), sum(v))
