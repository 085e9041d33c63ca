"""Factories for new tensors: zeros, ones, full, arange, rand, randn and *_like."""
import numpy

from . import backend
from .random import generator
from .tensor import Tensor, resolve_dtype

__all__ = ["zeros", "ones", "full", "zeros_like", "ones_like", "arange", "rand", "randn"]


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _new(array, requires_grad, device):
    return Tensor(backend.to_device(array, device), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False, device=None):
    dtype = numpy.float32 if dtype is None else resolve_dtype(dtype)
    xp = numpy if backend.normalize_device(device) == "cpu" else backend.get_cupy()
    return Tensor(xp.full(shape, fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros(*shape, dtype=None, requires_grad=False, device=None):
    return full(_shape(shape), 0, dtype, requires_grad, device)


def ones(*shape, dtype=None, requires_grad=False, device=None):
    return full(_shape(shape), 1, dtype, requires_grad, device)


def zeros_like(t, dtype=None, requires_grad=False):
    return full(t.shape, 0, t.dtype if dtype is None else dtype, requires_grad, t.device)


def ones_like(t, dtype=None, requires_grad=False):
    return full(t.shape, 1, t.dtype if dtype is None else dtype, requires_grad, t.device)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """Like torch.arange: int64 for integer arguments, else float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        integral = all(isinstance(v, (int, numpy.integer)) for v in (start, end, step))
        dtype = numpy.int64 if integral else numpy.float32
    return _new(numpy.arange(start, end, step, dtype=resolve_dtype(dtype)),
                requires_grad, device)


def rand(*shape, dtype=None, requires_grad=False, device=None):
    """Uniform samples in [0, 1) from minidl's seeded generator."""
    dtype = numpy.float32 if dtype is None else resolve_dtype(dtype)
    return _new(generator().random(_shape(shape), dtype=numpy.float64).astype(dtype),
                requires_grad, device)


def randn(*shape, dtype=None, requires_grad=False, device=None):
    """Standard normal samples from minidl's seeded generator."""
    dtype = numpy.float32 if dtype is None else resolve_dtype(dtype)
    return _new(generator().standard_normal(_shape(shape)).astype(dtype),
                requires_grad, device)
