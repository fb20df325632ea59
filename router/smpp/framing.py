"""Cut a TCP byte stream into SMPP frames, with a hard bound on command_length."""

from __future__ import annotations

import struct

from router.smpp.pdu import CommandStatus, FramingError

# (command_id, command_status, sequence_number, body)
Frame = tuple[int, int, int, bytes]

_unpack_header = struct.Struct(">IIII").unpack_from


class FrameReader:
    """Remembers a partial frame between reads; parses every complete frame at once.

    When the buffer is empty (the common case) a read is parsed in place, without
    copying it into the buffer first.
    """

    __slots__ = ("_buf", "max_length")

    def __init__(self, max_length: int = 65536) -> None:
        self.max_length = max_length
        self._buf = b""

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf + data if self._buf else data
        frames: list[Frame] = []
        pos = 0
        end = len(buf)
        limit = self.max_length
        while end - pos >= 16:
            length, command_id, status, sequence = _unpack_header(buf, pos)
            if length < 16 or length > limit:
                self._buf = b""
                raise FramingError(
                    CommandStatus.ESME_RINVCMDLEN,
                    f"command_length {length} outside 16..{limit}",
                    sequence,
                )
            if end - pos < length:
                break
            frames.append((command_id, status, sequence, buf[pos + 16:pos + length]))
            pos += length
        self._buf = buf[pos:] if pos < end else b""
        return frames
