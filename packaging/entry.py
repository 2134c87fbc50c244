"""The frozen binary's entry point: the `appliance` command line.

`freeze_support()` must run first: a MapReduce worker (multiprocessing
"spawn") is this same binary started with `--multiprocessing-fork`, and
PyInstaller's hook diverts it there before the command line is parsed.
"""

import multiprocessing

from appliance.cli.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()
