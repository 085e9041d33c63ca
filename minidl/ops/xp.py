"""NumPy's names on Tensors, as differentiable ops: the array vocabulary of backward.

``backend.array_module(g)`` returns this module when ``g`` is a Tensor, so a backward
formula written as ``xp = array_module(g); xp.where(mask, g, 0)`` runs on arrays in a
plain backward and records a graph under ``create_graph=True`` (see
:mod:`minidl.autograd`). Signatures are NumPy's (``axis``, ``keepdims``, numpy.split's
split points), not PyTorch's. Functions whose result does not depend smoothly on their
input (``sign``, ``isnan``, comparisons) return constant Tensors.

To use a new NumPy function inside a backward, add it here once.
"""

import numpy

from ..backend import array_module
from ..tensor import Tensor
from . import elementwise, index, math, reduce, shape
from .linalg import matmul  # noqa: F401  (part of the vocabulary)

maximum, minimum, clip, where = (
    elementwise.maximum,
    elementwise.minimum,
    elementwise.clamp,
    index.where,
)
power = elementwise.pow
exp, log, sqrt, tanh, abs = math.exp, math.log, math.sqrt, math.tanh, math.abs
sin, cos, tan, sinh, cosh = math.sin, math.cos, math.tan, math.sinh, math.cosh
arcsin, arccos, arctan, arctan2 = math.asin, math.acos, math.atan, math.atan2
arcsinh, arccosh, arctanh = math.asinh, math.acosh, math.atanh
exp2, expm1, log2, log10, log1p = math.exp2, math.expm1, math.log2, math.log10, math.log1p
square, reciprocal, hypot, logaddexp = math.square, math.reciprocal, math.hypot, math.logaddexp
copysign, fmod, remainder = math.copysign, math.fmod, math.remainder
swapaxes, broadcast_to = shape.swapaxes, shape.broadcast_to


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _constant(fn):
    """A NumPy function of Tensors whose result is a constant (no gradient flows)."""

    def constant(*args, **kwargs):
        like = next(a for a in args if isinstance(a, Tensor))
        array_fn = getattr(array_module(like.data), fn)
        return Tensor._make(array_fn(*[_data(a) for a in args], **kwargs), None)

    constant.__name__ = fn
    return constant


sign, isnan, isinf, isfinite, floor, ceil, trunc, rint = map(
    _constant, ("sign", "isnan", "isinf", "isfinite", "floor", "ceil", "trunc", "rint")
)
logical_and, logical_or, logical_not = map(_constant, ("logical_and", "logical_or", "logical_not"))


def zeros_like(a, dtype=None):
    return Tensor._make(array_module(a.data).zeros_like(a.data, dtype=dtype), None)


def ones_like(a, dtype=None):
    return Tensor._make(array_module(a.data).ones_like(a.data, dtype=dtype), None)


def sum(a, axis=None, keepdims=False):
    return reduce.sum(a, axis=axis, keepdims=keepdims)


def mean(a, axis=None, keepdims=False):
    return reduce.mean(a, axis=axis, keepdims=keepdims)


def reshape(a, shape_):
    return shape.reshape(a, shape_)


def transpose(a, axes=None):
    return shape.permute(a, tuple(reversed(range(a.ndim))) if axes is None else tuple(axes))


def expand_dims(a, axis):
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    ndim = a.ndim + len(axes)
    axes = sorted(ax % ndim for ax in axes)
    new_shape = list(a.shape)
    for ax in axes:
        new_shape.insert(ax, 1)
    return shape.reshape(a, tuple(new_shape))


def take(a, i, axis):
    """``numpy.take`` with one integer index along ``axis``."""
    return index.getitem(a, (slice(None),) * (axis % a.ndim) + (i,))


def split(a, indices, axis=0):
    """``numpy.split`` at the given split points."""
    bounds = [0, *indices, a.shape[axis]]
    lead = (slice(None),) * (axis % a.ndim)
    return [index.getitem(a, lead + (slice(lo, hi),)) for lo, hi in zip(bounds, bounds[1:])]


def concatenate(arrays, axis=0):
    return shape.cat(list(arrays), dim=axis)


def stack(arrays, axis=0):
    return shape.stack(list(arrays), dim=axis)


def __getattr__(name):
    # dtypes and constants (xp.float32, xp.pi, xp.newaxis) are NumPy's own
    value = getattr(numpy, name, None)
    if (value is not None and not callable(value)) or isinstance(value, type):
        return value
    raise AttributeError(
        f"minidl.ops.xp has no differentiable {name!r}: a backward used a NumPy function "
        "that has no Tensor counterpart yet; add it to minidl/ops/xp.py"
    )


def flip(a, axis=None):
    return shape.flip(a, tuple(range(a.ndim)) if axis is None else axis)
