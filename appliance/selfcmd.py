"""How this program starts another copy of itself (source install or frozen binary)."""

from __future__ import annotations

import sys

# The hidden subcommand that runs the server's converter child.
CONVERTER_WORKER = "_convert-worker"
# The hidden subcommand that runs one job submitted to the server.
JOB_WORKER = "_job-worker"
# The hidden subcommand that runs one of the server's receiver children.
RECEIVER_WORKER = "_receiver-worker"


def self_command() -> list[str]:
    """argv prefix that runs `appliance` again: the binary itself when frozen."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "appliance"]
