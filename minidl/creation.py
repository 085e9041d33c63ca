"""Factories for new tensors, with PyTorch's names, arguments and dtype rules.

Constant: zeros, ones, full, empty, eye and their ``*_like`` forms. Ranges: arange,
linspace, logspace. Random (minidl's seeded generator, see :mod:`minidl.random`): rand,
randn, randint, randperm and ``rand_like``/``randn_like``. Floating results default to
float32; ``full`` infers bool / int64 / float32 from its fill value, ``arange`` int64
from integer arguments, as PyTorch does.
"""

import math

import numpy

from . import backend
from .ops.conversion import check_scalar
from .random import generator
from .tensor import Tensor, resolve_dtype

__all__ = [
    "zeros",
    "ones",
    "full",
    "empty",
    "eye",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "arange",
    "linspace",
    "logspace",
    "rand",
    "randn",
    "randint",
    "randperm",
    "rand_like",
    "randn_like",
]

_FLOAT = numpy.dtype(numpy.float32)


def _shape(shape):
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` all mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, (int, numpy.integer)) or isinstance(n, bool):
            raise TypeError(f"size must be a sequence of ints, got {shape!r}")
        if n < 0:
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {n}: {list(shape)}"
            )
    return tuple(int(n) for n in shape)


def _sizes(size, name):
    """The shape given as ``*size`` to ``name``: none at all is an error, as in PyTorch
    (a 0-d tensor is ``name(())``)."""
    if not size:
        raise TypeError(f"{name}() missing 1 required positional argument: 'size'")
    return _shape(size)


def _new(array, requires_grad, device):
    """A leaf from a host array, moved to ``device`` (default: the current backend's)."""
    return Tensor(
        backend.to_device(array, backend.normalize_device(device)), requires_grad=requires_grad
    )


def _float_dtype(dtype, name):
    dtype = _FLOAT if dtype is None else resolve_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating point dtype, got {dtype}")
    return dtype


def _is_int(value):
    """A Python or NumPy integer, not a bool (PyTorch refuses True as a size or a count)."""
    return isinstance(value, (int, numpy.integer)) and not isinstance(value, (bool, numpy.bool_))


def _refuse_bool(dtype, name):
    if dtype.kind == "b":
        raise NotImplementedError(f"{name}: not implemented for dtype bool")
    return dtype


def _fill_dtype(fill_value):
    """PyTorch's inference: bool -> bool, int -> int64, float -> float32 (a 0-d Tensor
    counts as its value: a float64 one gives float32, as in PyTorch)."""
    if isinstance(fill_value, (bool, numpy.bool_)):
        return numpy.dtype(numpy.bool_)
    if isinstance(fill_value, (int, numpy.integer)):
        return numpy.dtype(numpy.int64)
    if isinstance(fill_value, (float, numpy.floating)):
        return _FLOAT
    raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__}")


def _scalar(value):
    """A 0-d Tensor argument as its Python number (PyTorch accepts them as scalars)."""
    return value.item() if isinstance(value, Tensor) and value.ndim == 0 else value


# ---- constants ---------------------------------------------------------------------------
def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    """A tensor of shape ``size`` filled with ``fill_value``; the dtype follows the fill
    value (``full((2,), 4)`` is int64) unless given."""
    size = _shape(size if isinstance(size, (tuple, list)) else (size,))
    fill_value = _scalar(fill_value)
    dtype = _fill_dtype(fill_value) if dtype is None else resolve_dtype(dtype)
    if fill_value != 0 and fill_value != 1 and dtype.kind in "iuf":  # 0, 1: zeros, ones
        fill_value = check_scalar(fill_value, dtype, "full")  # a negative int wraps into uint
    xp = numpy if backend.normalize_device(device) == "cpu" else backend.get_cupy()
    return Tensor(xp.full(size, fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros(*size, dtype=None, requires_grad=False, device=None):
    return full(_sizes(size, "zeros"), 0, dtype or _FLOAT, requires_grad, device)


def ones(*size, dtype=None, requires_grad=False, device=None):
    return full(_sizes(size, "ones"), 1, dtype or _FLOAT, requires_grad, device)


def empty(*size, dtype=None, requires_grad=False, device=None):
    """Like PyTorch's ``empty``, but zero-filled: uninitialised memory would make runs
    irreproducible for no measurable gain here."""
    return full(_sizes(size, "empty"), 0, dtype or _FLOAT, requires_grad, device)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    """The n x m identity (ones on the diagonal); m defaults to n."""
    m = n if m is None else m
    for name, value in (("n", n), ("m", m)):
        if not _is_int(value):
            raise TypeError(f"eye: {name} must be an int, got {value!r}")
        if value < 0:
            raise RuntimeError(f"eye: {name} must be a non-negative int, got {value!r}")
    return _new(numpy.eye(n, m, dtype=dtype or _FLOAT), requires_grad, device)


def _like(t, dtype, device):
    return t.dtype if dtype is None else dtype, t.device if device is None else device


def zeros_like(input, dtype=None, requires_grad=False, device=None):
    dtype, device = _like(input, dtype, device)
    return full(input.shape, 0, dtype, requires_grad, device)


def ones_like(input, dtype=None, requires_grad=False, device=None):
    dtype, device = _like(input, dtype, device)
    return full(input.shape, 1, dtype, requires_grad, device)


def full_like(input, fill_value, dtype=None, requires_grad=False, device=None):
    """``input``'s shape filled with ``fill_value``, in ``input``'s dtype unless given."""
    dtype, device = _like(input, dtype, device)
    return full(input.shape, fill_value, dtype, requires_grad, device)


def empty_like(input, dtype=None, requires_grad=False, device=None):
    return zeros_like(input, dtype, requires_grad, device)


# ---- ranges ------------------------------------------------------------------------------
def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """start, start + step, ... up to (not including) end: ceil((end - start) / step)
    values, as PyTorch counts them. int64 for integer arguments, else float32."""
    if end is None:
        start, end = 0, start
    start, end, step = values = tuple(_scalar(v) for v in (start, end, step))
    for v in values:
        if not isinstance(v, (int, float, numpy.integer, numpy.floating)) or isinstance(v, bool):
            raise TypeError(f"arange: start, end and step must be numbers, got {v!r}")
    if not all(math.isfinite(v) for v in values):
        raise RuntimeError(f"arange: unsupported range: {start} -> {end} (step {step})")
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(
            f"arange: upper bound and lower bound inconsistent with step "
            f"sign (start {start}, end {end}, step {step})"
        )
    integral = all(isinstance(v, (int, numpy.integer)) for v in values)
    dtype = _refuse_bool(resolve_dtype(dtype or (numpy.int64 if integral else _FLOAT)), "arange")
    length = math.ceil((end - start) / step)
    if dtype.kind in "iu" and not integral:
        # PyTorch: the values are int(start) + i * int(step); an int64 result also
        # counts them with the truncated bounds, others with the given ones.
        start, step = int(start), int(step)
        if step == 0:
            raise RuntimeError("arange: step must be nonzero (it is 0 once cast to an integer)")
        if dtype == numpy.int64:
            length = max(0, math.ceil((int(end) - start) / step))
        array = (start + numpy.arange(length, dtype=numpy.int64) * step).astype(dtype)
    elif dtype.kind in "iu":
        array = numpy.arange(start, end, step, dtype=dtype)  # exact for big integers
    else:
        array = (start + numpy.arange(length, dtype=numpy.float64) * step).astype(dtype)
    return _new(array, requires_grad, device)


def _space_args(name, start, end, steps, dtype):
    """Checked (start, end, steps, dtype) of linspace/logspace: numbers or 0-d Tensors
    for the bounds, an int count, any dtype but bool (integer bounds must fit it)."""
    if not _is_int(steps) or steps < 0:
        raise RuntimeError(f"{name}: number of steps must be a non-negative int, got {steps!r}")
    bounds = []
    for what, value in (("start", start), ("end", end)):
        value = _scalar(value)
        if isinstance(value, Tensor):
            raise RuntimeError(
                f"{name} only supports 0-dimensional start and end tensors, "
                f"but got {what} with {value.ndim} dimension(s)."
            )
        if isinstance(value, (bool, numpy.bool_)) or not isinstance(
            value, (int, float, numpy.integer, numpy.floating)
        ):
            raise TypeError(f"{name}: {what} must be a number, got {value!r}")
        bounds.append(value)
    dtype = _refuse_bool(_FLOAT if dtype is None else resolve_dtype(dtype), name)
    return bounds[0], bounds[1], int(steps), dtype


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None):
    """``steps`` values evenly spaced from start to end, both included."""
    start, end, steps, dtype = _space_args("linspace", start, end, steps, dtype)
    if dtype.kind in "iu":
        for value in (start, end):
            check_scalar(value, dtype, "linspace")
        # PyTorch: integer bounds (truncated), a float64 step, the second half counted
        # back from the end, each value truncated
        start, end = int(start), int(end)
        if steps == 1:
            end = start  # one value: start, as in PyTorch
        step = (end - start) / (steps - 1) if steps > 1 else 0.0
        i = numpy.arange(steps)
        array = numpy.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i))
    else:
        array = numpy.linspace(start, end, steps, dtype=numpy.float64)
    return _new(array.astype(dtype), requires_grad, device)


def logspace(start, end, steps, base=10.0, dtype=None, requires_grad=False, device=None):
    """``steps`` values base^x for x evenly spaced from start to end."""
    start, end, steps, dtype = _space_args("logspace", start, end, steps, dtype)
    array = numpy.power(float(base), numpy.linspace(start, end, steps, dtype=numpy.float64))
    return _new(array.astype(dtype), requires_grad, device)


# ---- random ------------------------------------------------------------------------------
def rand(*size, dtype=None, requires_grad=False, device=None):
    """Uniform samples in [0, 1) from minidl's seeded generator."""
    dtype = _float_dtype(dtype, "rand")
    return _new(
        generator().random(_sizes(size, "rand"), dtype=numpy.float64).astype(dtype),
        requires_grad,
        device,
    )


def randn(*size, dtype=None, requires_grad=False, device=None):
    """Standard normal samples from minidl's seeded generator."""
    dtype = _float_dtype(dtype, "randn")
    return _new(
        generator().standard_normal(_sizes(size, "randn")).astype(dtype), requires_grad, device
    )


def rand_like(input, dtype=None, requires_grad=False, device=None):
    dtype, device = _like(input, dtype, device)
    return rand(input.shape, dtype=dtype, requires_grad=requires_grad, device=device)


def randn_like(input, dtype=None, requires_grad=False, device=None):
    dtype, device = _like(input, dtype, device)
    return randn(input.shape, dtype=dtype, requires_grad=requires_grad, device=device)


def randint(low, high=None, size=None, dtype=None, requires_grad=False, device=None):
    """Integers uniform in [low, high): ``randint(high, size)`` or
    ``randint(low, high, size)``; int64 unless ``dtype`` says otherwise."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint: size must be a tuple of ints, got {size!r}")
    for name, value in (("low", low), ("high", high)):
        if not _is_int(value):
            raise TypeError(f"randint: {name} must be an int, got {value!r}")
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"randint: {name} = {value} overflows int64")
    if not low < high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    dtype = numpy.dtype(numpy.int64) if dtype is None else resolve_dtype(dtype)
    if dtype.kind in "biu":
        info = (0, 1) if dtype.kind == "b" else (numpy.iinfo(dtype).min, numpy.iinfo(dtype).max)
        for name, value in (("from", low), ("to - 1", high - 1)):
            if not info[0] <= value <= info[1]:
                raise RuntimeError(f"randint: {name} = {value} is out of bounds for {dtype}")
    array = generator().integers(low, high, _shape(size), dtype=numpy.int64)
    return _new(array.astype(dtype), requires_grad, device)


def randperm(n, dtype=None, requires_grad=False, device=None):
    """A random permutation of 0, ..., n-1 (int64)."""
    if not _is_int(n):
        raise TypeError(f"randperm: n must be an int, got {n!r}")
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    dtype = _refuse_bool(resolve_dtype(dtype or numpy.int64), "randperm")
    if dtype.kind in "iu" and n:
        check_scalar(n - 1, dtype, "randperm")  # the largest value, n - 1
    return _new(generator().permutation(n).astype(dtype), requires_grad, device)
