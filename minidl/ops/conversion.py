"""Moving a tensor to another device or dtype, differentiably."""

import numpy

from .. import backend
from ..autograd import Function
from ..tensor import Tensor


class ToDevice(Function):
    """out = a copied to another device ;  da = g copied back"""

    @staticmethod
    def forward(ctx, a, device):
        ctx.device = backend.device_of(a)
        return backend.to_device(a, device)

    @staticmethod
    def backward(ctx, g):
        return ToDevice.apply(g, ctx.device), None


def to_device(a, device):
    return ToDevice.apply(a, device)


class Cast(Function):
    """out = a as another dtype ;  da = g cast back"""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


def cast(a, dtype):
    """``a`` as ``dtype``; a cast to an integer or boolean dtype leaves the graph."""
    if a.requires_grad and numpy.dtype(dtype).kind in "fc":
        return Cast.apply(a, dtype)
    return Tensor._make(a.data.astype(dtype), None)


_RANGES = {}  # dtype.char -> (low, high): the Python numbers PyTorch converts to it


def _limits(dtype):
    kind = dtype.kind
    if kind == "f":
        high = float(numpy.finfo(dtype).max)
        return (-high, high)
    if kind in "iu":
        info = numpy.iinfo(dtype)
        return (int(info.min) if kind == "i" else -int(info.max), int(info.max))
    return (-numpy.inf, numpy.inf)


def _overflow(value, dtype, name):
    raise RuntimeError(f"{name}: value {value} cannot be converted to {dtype} without overflow")


def check_scalar(value, dtype, name):
    """``value`` (a number written into a tensor of ``dtype`` by ``x[i] = value``,
    ``masked_fill``, ``scatter(value=)``, ``fill_``, ``full``, ...), or PyTorch's error:
    only numbers, and none outside the dtype's range (nan or inf into an integer, 1e40 into
    float32). As in PyTorch, any number fits a bool, inf and nan fit a float, and uint8
    takes the integers -255..255 (negatives wrap around) but no negative float."""
    limits = _RANGES.get(dtype.char) or _RANGES.setdefault(dtype.char, _limits(dtype))
    try:
        fits = limits[0] <= value <= limits[1]  # False for nan too
    except (TypeError, ValueError):  # None, a string, a list, an array: not a number
        fits = None
    if not fits:
        kind = dtype.kind
        if fits is None or isinstance(value, numpy.ndarray):
            raise TypeError(f"{name}: can't assign a {type(value).__name__} to a tensor of {dtype}")
        if kind in "iu" or (kind == "f" and value == value and abs(value) != numpy.inf):
            _overflow(value, dtype, name)
    if value < 0 and dtype.kind == "u":
        if not isinstance(value, (int, numpy.integer)):
            _overflow(value, dtype, name)
        return int(value) + limits[1] + 1  # two's complement, as PyTorch (NumPy raises)
    return value
