"""Many bodies in one blob: a journal row holds a read batch, an inbox row a hand-over."""

from __future__ import annotations

import struct
import sys
from array import array

_len = struct.Struct(">I")
_SWAP = sys.byteorder == "little"
assert array("I").itemsize == 4


def pack_bodies(bodies: list[bytes]) -> bytes:
    """count, the lengths as big-endian uint32, then the bodies back to back: built by
    C loops (array, join), not a Python loop per message."""
    lengths = array("I", map(len, bodies))
    if _SWAP:
        lengths.byteswap()
    return _len.pack(len(bodies)) + lengths.tobytes() + b"".join(bodies)


def unpack_bodies(blob: bytes) -> list[bytes]:
    (count,) = _len.unpack_from(blob, 0)
    lengths = array("I", blob[4:4 + 4 * count])
    if _SWAP:
        lengths.byteswap()
    out = []
    pos = 4 + 4 * count
    for n in lengths:
        out.append(blob[pos:pos + n])
        pos += n
    return out
