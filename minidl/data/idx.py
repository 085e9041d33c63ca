"""Reader for the IDX format of MNIST-style files, gzip-compressed or raw.

An IDX file is a big-endian header followed by the array in C order:

    magic   4 bytes: 0x00, 0x00, a dtype code, the number of dimensions
    dims    one unsigned 32-bit integer per dimension
    data    prod(dims) items of the dtype

Everything is checked before any array is built: the two zero bytes, the dtype code,
the number of dimensions and that the payload holds exactly prod(dims) items. A
truncated or corrupt gzip stream (including a CRC error) is caught as well, so a
damaged file is always an :class:`IDXError` naming it, never a silently short array.
"""
import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDXError", "read_idx", "parse_idx"]

# dtype code (third magic byte) -> dtype of the items, big-endian as stored
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file is not a valid IDX file: bad magic, bad dimensions, wrong size, bad gzip."""


def read_idx(path):
    """Read an IDX file (``.gz`` or raw, told apart by content) into a NumPy array.

    Returns a writable array in native byte order with the shape from the header.
    Raises IDXError naming ``path`` when the file is malformed, truncated or too long.
    """
    path = Path(path)
    return parse_idx(path.read_bytes(), path)


def parse_idx(content, source):
    """Parse the bytes of an IDX file (gzip or raw); ``source`` names it in errors."""
    if content[:2] == GZIP_MAGIC:
        try:
            content = gzip.decompress(content)
        except (EOFError, OSError, zlib.error) as exc:  # truncated stream, CRC/length, bad data
            raise IDXError(f"{source}: corrupt or truncated gzip data ({exc})") from None
    if len(content) < 4:
        raise IDXError(f"{source}: only {len(content)} bytes, too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", content[:4])
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        raise IDXError(
            f"{source}: bad IDX magic number 0x{content[:4].hex()} (expected 0x0000, a dtype "
            f"code in {{{', '.join(f'0x{c:02X}' for c in IDX_DTYPES)}}}, then ndim >= 1)"
        )
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise IDXError(f"{source}: truncated header: {ndim} dimensions need {header_size} bytes, "
                       f"file has {len(content)}")
    shape = struct.unpack(f">{ndim}I", content[4:header_size])
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(content) - header_size
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise IDXError(f"{source}: {problem}: header says shape {shape} of {dtype.name} = "
                       f"{expected} data bytes, file has {actual}")
    array = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order
