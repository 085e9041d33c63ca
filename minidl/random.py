"""minidl's global random number generator.

Random tensors are drawn on the host with one NumPy ``Generator`` and then moved to
their device, so a seed gives the same numbers on the CPU and on the GPU. Dropout masks
of GPU tensors are drawn on the GPU by CuPy's generator, which ``manual_seed`` seeds too
once the CuPy backend is in use (select it before seeding).
"""

import numpy

from . import backend

_generator = numpy.random.default_rng()


def manual_seed(seed):
    """Seed minidl's generator (initialisation, dropout masks, shuffling without a seed)."""
    global _generator
    _generator = numpy.random.default_rng(seed)
    if backend.current() == "cupy":
        backend.get_cupy().random.seed(seed)
    return _generator


def generator():
    """The current global ``numpy.random.Generator``."""
    return _generator
