"""A converter worker reads the committer's Connection messages into one reused buffer."""

from __future__ import annotations

import multiprocessing
import os
import struct
import threading

import pytest

from appliance.convert.messages import MessageReader


def test_messages_come_back_as_sent_whatever_their_size():
    ours, theirs = multiprocessing.Pipe()
    messages = [("batch", "g1", [(b"x" * n, n)]) for n in (0, 10, 70_000, 3 << 20, 5)]
    messages.append(("stop",))
    sender = threading.Thread(target=lambda: [ours.send(m) for m in messages])
    sender.start()  # a message bigger than the socket's buffer blocks until it is read
    reader = MessageReader(theirs.fileno(), size=1024)  # grows for the big ones
    received = [reader.recv() for _ in messages]
    sender.join()
    assert received == messages
    ours.close()
    with pytest.raises(EOFError):
        reader.recv()
    theirs.close()


def test_a_message_cut_short_is_an_error_not_a_message():
    read_end, write_end = os.pipe()
    os.write(write_end, struct.pack("!i", 100) + b"only a part")
    os.close(write_end)
    with pytest.raises(OSError, match="within a message"):
        MessageReader(read_end).recv()
    os.close(read_end)
