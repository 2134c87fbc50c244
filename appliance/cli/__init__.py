"""Command-line entry points; `main.main` is the console script.

Each command module imports its machinery (the server, Twisted's reactor,
boto3, Textual, Dask, the converter) inside the function that runs it, not at
the top: `main` imports every command module to build the parser, and the
lazy imports keep `appliance --help` and each command from loading all of it
(measured with `python -X importtime`: about 0.26 s of imports for the parser,
against about 2.5 s with every command's imports loaded).
"""
