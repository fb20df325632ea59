"""Cut a TCP byte stream into SMPP frames, with a hard bound on command_length."""

from __future__ import annotations

import struct
import sys

from router.smpp.pdu import CommandStatus, FramingError

# (command_id, command_status, sequence_number, body)
Frame = tuple[int, int, int, bytes]

_unpack_header = struct.Struct(">IIII").unpack_from


class FrameReader:
    """Remembers a partial frame between reads; parses every complete frame at once, or
    at most ``max_frames`` of them (0: no cap).

    When the buffer is empty (the common case) a read is parsed in place, without
    copying it into the buffer first.  Frames left by the cap stay in the read's buffer
    (``backlog``) and come out of the next ``feed``, with or without new data; a partial
    frame alone is copied out of the read, so that holding it keeps only its own bytes.
    """

    __slots__ = ("_buf", "_pos", "backlog", "max_frames", "max_length")

    def __init__(self, max_length: int = 65536, max_frames: int = 0) -> None:
        self.max_length = max_length
        self.max_frames = max_frames or sys.maxsize
        self._buf = b""
        self._pos = 0
        self.backlog = False
        """The cap stopped the last ``feed`` before the end of its complete frames."""

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        if buf:
            pos = self._pos
            if data:
                buf = buf[pos:] + data
                pos = 0
        else:
            buf = data
            pos = 0
        frames: list[Frame] = []
        end = len(buf)
        limit = self.max_length
        room = self.max_frames
        while end - pos >= 16:
            length, command_id, status, sequence = _unpack_header(buf, pos)
            if length < 16 or length > limit:
                self.clear()
                raise FramingError(
                    CommandStatus.ESME_RINVCMDLEN,
                    f"command_length {length} outside 16..{limit}",
                    sequence,
                )
            if end - pos < length:
                break
            if not room:
                self._buf, self._pos, self.backlog = buf, pos, True
                return frames
            room -= 1
            frames.append((command_id, status, sequence, buf[pos + 16:pos + length]))
            pos += length
        self._buf = buf[pos:] if pos < end else b""
        self._pos = 0
        self.backlog = False
        return frames

    def clear(self) -> None:
        """Forget what is buffered (the connection is gone, or the framing is lost)."""
        self._buf = b""
        self._pos = 0
        self.backlog = False
