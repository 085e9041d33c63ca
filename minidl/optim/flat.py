"""The fast executor's layout: one flat index range per (device, dtype) of a group, cut into chunks.

Parameter k of a bucket owns the elements ``offsets[k]:offsets[k + 1]`` of the bucket's flat
range. The state arrays (``exp_avg``, ...) are flat arrays over that range, so a chunk's
state is one slice of each; the parameters and gradients keep their own arrays:

* a parameter of at least ``pack_below`` elements is cut into chunks of ``chunk_size``
  elements that are slices of its own ``p.data`` (read and written in place);
* runs of smaller neighbours are packed into one chunk of up to ``chunk_size`` elements,
  whose p and g pieces are gathered into scratch chunks before the update and p scattered back
  after it (a few tiny copies instead of a dozen ufunc calls per tiny parameter).

On the CPU chunk_size is 32768 elements (128 KiB of float32, so a chunk's p, g, state and
scratch stay in L2 while the rule's passes run over it: 32K measured fastest, 8K-16K pay more
per-call overhead, 64K starts to spill); on the GPU a chunk is a whole parameter (one kernel
launch) and the small ones are packed up to 2**20 elements.
"""

from collections import namedtuple

import numpy

__all__ = ["Chunk", "plan_chunks", "aligned_empty"]

_ALIGN = 64  # bytes: start each flat CPU buffer on a cache line

# The flat range lo:hi, made of pieces (k, a, b): elements a:b of parameter k, in order.
Chunk = namedtuple("Chunk", "lo hi pieces")


def plan_chunks(indices, offsets, chunk_size, pack_below):
    """The chunks covering parameters ``indices`` (ascending) of a bucket with ``offsets``."""
    chunks, pack = [], []

    def close_pack():
        if pack:
            pieces = tuple((k, 0, offsets[k + 1] - offsets[k]) for k in pack)
            chunks.append(Chunk(offsets[pack[0]], offsets[pack[-1] + 1], pieces))
            pack.clear()

    for k in indices:
        n = offsets[k + 1] - offsets[k]
        if n >= pack_below:
            close_pack()
            chunks += [
                Chunk(
                    offsets[k] + a,
                    offsets[k] + min(a + chunk_size, n),
                    ((k, a, min(a + chunk_size, n)),),
                )
                for a in range(0, n, chunk_size)
            ]
            continue
        if pack and (pack[-1] != k - 1 or offsets[k + 1] - offsets[pack[0]] > chunk_size):
            close_pack()  # not a neighbour, or the chunk is full
        pack.append(k)
    close_pack()
    return chunks


def aligned_empty(xp, n, dtype):
    """An uninitialised 1-d array of n elements; on the CPU starting on a cache line."""
    if xp is not numpy:
        return xp.empty(n, dtype)
    dtype = numpy.dtype(dtype)
    raw = numpy.empty(n * dtype.itemsize + _ALIGN, numpy.uint8)
    start = -raw.ctypes.data % _ALIGN
    return raw[start : start + n * dtype.itemsize].view(dtype)
