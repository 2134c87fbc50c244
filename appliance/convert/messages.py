"""A converter worker's end of its pipe: the committer's messages, read into one buffer.

The committer sends with `multiprocessing.connection.Connection.send` (a 4-byte
big-endian length, or -1 and an 8-byte one, then the pickle). A batch of
records is ~1 MB; `Connection.recv` reads each message into fresh memory and
copies it once more before unpickling, and the page faults of that fresh
memory cost a worker more than the unpickling (docs/performance.md,
"Conversion processes"). `MessageReader` reads the same framing into a buffer
it keeps, and unpickles from there.
"""

from __future__ import annotations

import os
import pickle
import struct

_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!Q")


class MessageReader:
    """Reads pickled messages from the file descriptor of a Connection's receiving end
    (the only reader of it)."""

    def __init__(self, fd: int, size: int = 1 << 20):
        self.fd = fd
        self._buffer = bytearray(size)

    def recv(self) -> tuple[object, ...]:
        """The next message (a tuple); EOFError when the other end has closed the pipe."""
        (size,) = _LENGTH.unpack(self._read(_LENGTH.size, at_start=True))
        if size == -1:
            (size,) = _LONG_LENGTH.unpack(self._read(_LONG_LENGTH.size))
        with self._read(size) as data:
            message: tuple[object, ...] = pickle.loads(data)
        return message

    def _read(self, size: int, at_start: bool = False) -> memoryview:
        """The next `size` bytes, in the buffer (valid until the next read)."""
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)[:size]
        done = 0
        while done < size:
            n = os.readv(self.fd, [view[done:]])
            if n == 0:
                view.release()
                if at_start and done == 0:
                    raise EOFError
                raise OSError("the pipe ended within a message")
            done += n
        return view
