"""Fixers of our own, run with fissix's (`appliance.mr.py2.port.FIXERS`)."""
