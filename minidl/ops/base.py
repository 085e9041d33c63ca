"""What every family of ops shares: undoing broadcasting, normalising ``dim`` arguments,
and turning the operands of binary ops into Tensors or Python numbers.

Every helper here works on arrays and on Tensors alike (see :mod:`minidl.autograd`),
so a backward formula that uses them supports ``create_graph`` too.
"""
import numpy

from ..backend import array_module
from ..tensor import Tensor


def shape_of(x):
    """The shape of an array or Tensor; () for a Python number."""
    return x.shape if hasattr(x, "shape") else ()


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def normalize_dims(dim, ndim):
    """``dim`` (None, an int or a sequence, negative counts from the end) as sorted axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if ndim == 0 and all(d in (0, -1) for d in dims):
        return ()  # like PyTorch, dim 0 / -1 of a 0-d tensor is the tensor itself
    for d in dims:
        check_dim(d, ndim)
    axes = sorted(d % ndim for d in dims)
    if len(set(axes)) != len(axes):
        raise ValueError(f"dim {dim} repeats an axis")
    return tuple(axes)


def check_dim(dim, ndim):
    """``dim`` as a non-negative axis of an ``ndim``-dimensional tensor, or PyTorch's
    IndexError naming the valid range."""
    low, high = -max(ndim, 1), max(ndim, 1) - 1
    if not isinstance(dim, (int, numpy.integer)) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if not low <= dim <= high:
        raise IndexError(f"Dimension out of range (expected to be in range of [{low}, "
                         f"{high}], but got {dim})")
    return int(dim) % max(ndim, 1)


def dim_args(dim, keepdim, numpy_names):
    """Accept NumPy's ``axis``/``keepdims`` as aliases of PyTorch's ``dim``/``keepdim``."""
    unknown = set(numpy_names) - {"axis", "keepdims"}
    if unknown:
        raise TypeError(f"unexpected keyword arguments {sorted(unknown)}")
    dim = numpy_names.get("axis", dim)
    keepdim = numpy_names.get("keepdims", keepdim)
    return dim, bool(keepdim)


def expand_reduced(g, axes, keepdim, shape):
    """Broadcast a reduced gradient back to the input's shape (a read-only view)."""
    xp = array_module(g)
    if not keepdim and axes:
        g = xp.expand_dims(g, axes)
    return xp.broadcast_to(g, shape)


def operand(x, like):
    """Tensors and Python numbers pass through (a Python number keeps the tensor's dtype,
    NumPy's NEP 50 rule; NumPy scalars are treated as Python numbers so that they do not
    upcast float32 either); arrays and lists become constant tensors on ``like``'s device."""
    if isinstance(x, numpy.generic) and x.dtype.kind in "biuf":
        x = x.item()
    if isinstance(x, (Tensor, int, float, bool)):
        return x
    return Tensor(x, device=like.device)


def binary(fn, a, b):
    """``fn.apply(a, b)`` with whichever operand is not a Tensor made an operand."""
    if isinstance(a, Tensor):
        return fn.apply(a, operand(b, a))
    return fn.apply(operand(a, b), b)
