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
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def normalize_dims(dim, ndim):
    """``dim`` (None, an int or a sequence, negative counts from the end) as sorted axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if ndim == 0 and all(d in (0, -1) for d in dims):
        if len(dims) > 1:
            raise ValueError(f"dim {dim} repeats an axis")
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
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{low}, {high}], but got {dim})"
        )
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
    """Tensors and Python numbers pass through (NumPy scalars count as Python numbers);
    arrays and lists become constant tensors on ``like``'s device."""
    if isinstance(x, numpy.generic) and x.dtype.kind in "biuf":
        x = x.item()
    if isinstance(x, (Tensor, int, float, bool)):
        return x
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"unsupported operand of type {type(x).__name__} for a tensor op")
    return Tensor(x, device=like.device)


# ---- type promotion (PyTorch's rule, not NumPy's) ---------------------------------------
DEFAULT_FLOAT = numpy.dtype(numpy.float32)
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def is_bool(x):
    """A Python bool or a boolean tensor."""
    return isinstance(x, bool) or (isinstance(x, Tensor) and x.dtype.kind == "b")


def category(dtype):
    """0 for bool, 1 for integers, 2 for floats, 3 for complex: PyTorch's type categories."""
    return _CATEGORY[dtype.kind]


def _category_and_priority(x):
    """(category, priority): bool < integer < float; a tensor with dimensions outranks a
    0-d tensor, which outranks a Python number, but only within one category."""
    if isinstance(x, Tensor):
        return _CATEGORY[x.dtype.kind], 2 if x.ndim else 1
    if isinstance(x, bool):
        return 0, 0
    return (1 if isinstance(x, int) else 2), 0


def result_type(*operands):
    """PyTorch's result dtype of an op on ``operands`` (Tensors and Python numbers).

    The highest category present decides (bool < integer < float); among the operands of
    that category the highest priority decides (tensor with dimensions > 0-d tensor >
    Python number) and their dtypes promote as usual; Python numbers alone give bool,
    int64 or the default float32. So int tensor + 2.5 is float32, int32 tensor + 0-d
    int64 tensor is int32, float32 tensor + 0-d float64 tensor is float32."""
    ranked = [(_category_and_priority(x), x) for x in operands]
    top = max(cp for cp, _ in ranked)
    winners = [x for cp, x in ranked if cp == top]
    if top[1]:
        return numpy.result_type(*[x.dtype for x in winners])
    return (numpy.dtype(numpy.bool_), numpy.dtype(numpy.int64), DEFAULT_FLOAT)[top[0]]


def promote(operands, dtype):
    """``operands`` with every Tensor cast to ``dtype`` (differentiably where it needs
    a gradient); Python numbers pass (NumPy keeps the array's dtype with them)."""
    return [
        x.to(dtype=dtype) if isinstance(x, Tensor) and x.dtype != dtype else x for x in operands
    ]


def needs_promotion(a, b):
    """False on the fast paths: same-dtype tensors, or a tensor and a Python number that
    NumPy already combines into the tensor's dtype (as PyTorch does)."""
    if isinstance(b, Tensor):
        return a.dtype != b.dtype
    kind = a.dtype.kind
    if isinstance(b, bool):
        return False
    if isinstance(b, int):
        return kind == "b"
    return kind not in "fc"


def binary(fn, a, b, floating=False):
    """``fn.apply(a, b)`` with PyTorch's type promotion; ``floating``: an integer or
    boolean result becomes the default float (true division, atan2, ...)."""
    if isinstance(a, Tensor):
        b = operand(b, a)
        first, second = a, b
    else:
        a = operand(a, b)
        first, second = b, a
    if needs_promotion(first, second) or (floating and first.dtype.kind not in "fc"):
        dtype = result_type(a, b)
        if floating and dtype.kind not in "fc":
            dtype = DEFAULT_FLOAT
        a, b = promote((a, b), dtype)
    return fn.apply(a, b)


def floating(a):
    """``a`` as the default float dtype when it holds integers or booleans: the input of
    exp, log, sin, sigmoid, ... (PyTorch computes those in floating point)."""
    if not isinstance(a, Tensor):
        raise TypeError(
            f"expected a Tensor as input, got {type(a).__name__}; wrap it with minidl.tensor()"
        )
    if a.dtype.kind in "fc":
        return a
    return Tensor._make(a.data.astype(DEFAULT_FLOAT), None)
