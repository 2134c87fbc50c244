"""The one thing pyproject.toml cannot say: the optional C extension.

`appliance/convert/_rowsjson.c` speeds up histogram conversion
(appliance/convert/rowsjson.py). It is optional: where it cannot be compiled
(no C compiler), `pip install` goes on without it and conversion runs in pure
Python, with the same results.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("appliance.convert._rowsjson", ["appliance/convert/_rowsjson.c"], optional=True),
])
