"""Command-line entry points; `main.main` is the console script."""
