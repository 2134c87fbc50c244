"""Python 2 job scripts (2013 Telemetry jobs): porting them to Python 3 and telling them apart.

`port.port_source` rewrites a script with fissix (the maintained fork of
lib2to3) plus fixers of our own for what 2013 jobs used; `detect.python2_error`
turns a load failure caused by Python 2 syntax or imports into one clear
message. docs/mapreduce.md, "Python 2 jobs", lists what is and is not handled.
"""
