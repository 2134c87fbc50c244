"""Stopping on SIGTERM/SIGINT from a thread of its own: never a deadlock on the event's lock."""

from __future__ import annotations

import subprocess
import sys

# In a child: blocking signals in pytest's own process would change the test run.
SCRIPT = """
import os, signal, threading
from appliance.lifecycle import stop_on_signals

stop = threading.Event()
stop_on_signals(stop)
busy = threading.Event()
for i in range(300):  # signals arriving while this thread is inside the event's methods
    os.kill(os.getpid(), signal.SIGTERM if i % 2 else signal.SIGINT)
    busy.set(); busy.clear(); stop.wait(0.0001)
assert stop.wait(10), "stop was never set"
print("stopped")
"""


def test_a_burst_of_signals_sets_stop_and_neither_kills_nor_deadlocks():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"


# The same burst with call_on_signals, and what a child process inherits: no blocked signal.
CALLBACK_SCRIPT = """
import os, signal, subprocess, sys, threading
from appliance.lifecycle import call_on_signals

called = threading.Event()
seen = []
def on_term(number):
    seen.append(number)
    called.set()

call_on_signals(on_term, frozenset({signal.SIGTERM}))
for i in range(300):
    os.kill(os.getpid(), signal.SIGTERM)
    called.wait(0.0001)
assert called.wait(10), "the callback was never called"
assert set(seen) == {signal.SIGTERM}, seen
MASK = "import signal; print(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))"
blocked = subprocess.run([sys.executable, "-c", MASK], capture_output=True, text=True,
                         check=True).stdout.strip()
print("called", blocked)
"""


def test_call_on_signals_calls_back_from_a_thread_and_children_inherit_no_blocked_signal():
    done = subprocess.run([sys.executable, "-c", CALLBACK_SCRIPT], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "called []"
