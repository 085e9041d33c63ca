"""Reader for the IDX format of MNIST-style files, gzip-compressed or raw.

An IDX file is a big-endian header followed by the array in C order:

    magic   4 bytes: 0x00, 0x00, a dtype code, the number of dimensions
    dims    one unsigned 32-bit integer per dimension
    data    prod(dims) items of the dtype

Everything is checked before any array is built: the two zero bytes, the dtype code,
the number of dimensions and that the payload holds exactly prod(dims) items. A
truncated or corrupt gzip stream (including a CRC error) is caught as well, so a
damaged file is always an :class:`IDXError` naming it, never a silently short array.

The data is read as a stream, gzip included, and reading stops one byte past the size
the header declares: a small file that inflates to gigabytes costs only what its
header admits, and a header that declares more than the file holds costs only what
the file holds.
"""

import gzip
import io
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
    with open(path, "rb") as file:
        return _read(file, path)


def parse_idx(content, source):
    """Parse the bytes of an IDX file (gzip or raw); ``source`` names it in errors."""
    return _read(io.BytesIO(content), source)


def _read(file, source):
    """Parse the IDX file open in ``file`` (binary, at its start)."""
    if file.read(2) != GZIP_MAGIC:
        file.seek(0)
        return _parse(file, source)
    file.seek(0)
    try:
        with gzip.GzipFile(fileobj=file, mode="rb") as stream:
            return _parse(stream, source)
    except (EOFError, OSError, zlib.error) as exc:  # truncated stream, CRC/length, bad data
        raise IDXError(f"{source}: corrupt or truncated gzip data ({exc})") from None


def _parse(stream, source):
    magic = _read_up_to(stream, 4)
    if len(magic) < 4:
        raise IDXError(f"{source}: only {len(magic)} bytes, too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", magic)
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        raise IDXError(
            f"{source}: bad IDX magic number 0x{magic.hex()} (expected 0x0000, a dtype "
            f"code in {{{', '.join(f'0x{c:02X}' for c in IDX_DTYPES)}}}, then ndim >= 1)"
        )
    header_size = 4 + 4 * ndim
    dims = _read_up_to(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise IDXError(
            f"{source}: truncated header: {ndim} dimensions need {header_size} bytes, "
            f"file has {4 + len(dims)}"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    data = _read_up_to(stream, expected + 1)  # one byte more tells a file that is too long
    if len(data) != expected:
        problem, actual = (
            ("truncated", str(len(data)))
            if len(data) < expected
            else ("has trailing bytes", "more")
        )
        raise IDXError(
            f"{source}: {problem}: header says shape {shape} of {dtype.name} = "
            f"{expected} data bytes, file has {actual}"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)  # writable: data is a bytearray
    return array.astype(dtype.newbyteorder("="), copy=False)  # native byte order


def _read_up_to(stream, n, chunk=1 << 20):
    """At most ``n`` bytes of ``stream`` (fewer at its end), as a bytearray, read in
    chunks so that a header's claim is never allocated before the data is there."""
    data = bytearray()
    while len(data) < n:
        piece = stream.read(min(chunk, n - len(data)))
        if not piece:
            break
        data += piece
    return data
