"""A stand-in for simplejson (which 2013 jobs imported): the same loads and dumps."""
from json import dumps, loads  # noqa: F401
