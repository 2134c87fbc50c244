# Chrome hangs: hangs per top frame, and the longest hang of each.
import json
import cStringIO
import csv
from hangutil import top_frame

def map(k, d, v, cx):
    hangs = json.loads(v).get("chromeHangs")
    if hangs is None:
        return
    for i in xrange(len(hangs["stacks"])):
        cx.write(top_frame(hangs["stacks"][i]), hangs["durations"][i])

def reduce(k, v, cx):
    row = cStringIO.StringIO()
    csv.writer(row, lineterminator="").writerow([len(v), max(v)])
    cx.write(k, row.getvalue())
