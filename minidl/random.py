"""minidl's global random number generator.

Random tensors are drawn on the host with one NumPy ``Generator`` and then moved to
their device, so a seed gives the same numbers on the CPU and on the GPU.
"""
import numpy

_generator = numpy.random.default_rng()


def manual_seed(seed):
    """Seed minidl's generator (initialisation, dropout masks, shuffling without a seed)."""
    global _generator
    _generator = numpy.random.default_rng(seed)
    return _generator


def generator():
    """The current global ``numpy.random.Generator``."""
    return _generator
