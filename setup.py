"""The one thing pyproject.toml cannot say: the optional C extension.

`appliance/convert/_rowsjson.c` and the files beside it speed up histogram
conversion (appliance/convert/rowsjson.py). It is optional: where it cannot be
compiled (no C compiler), `pip install` goes on without it and conversion runs
in pure Python, with the same results.
"""

from setuptools import Extension, setup

SOURCES = ["_rowsjson.c", "rowstext.c", "rowstable.c", "rowswriter.c", "rowsspec.c"]
HEADERS = ["rowstext.h", "rowstable.h", "rowswriter.h", "rowsspec.h"]

setup(ext_modules=[
    Extension("appliance.convert._rowsjson", [f"appliance/convert/{s}" for s in SOURCES],
              depends=[f"appliance/convert/{h}" for h in HEADERS], optional=True),
])
