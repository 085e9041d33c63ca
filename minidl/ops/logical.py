"""Tests, comparisons, logical and bitwise ops: their results are constants (boolean or
integer tensors outside the graph), so none of them has a backward.

Operands promote as in PyTorch (:func:`~minidl.ops.base.result_type`); the bitwise ops
accept only integer and boolean tensors, as PyTorch does.
"""

from ..backend import array_module
from ..tensor import Tensor
from .base import operand, promote, result_type


def _constant(name, *operands, dtype=None):
    """NumPy's ``name`` on the operands' arrays, as a constant Tensor."""
    like = next(x for x in operands if isinstance(x, Tensor))
    operands = [operand(x, like) for x in operands]
    if dtype is not None:
        operands = promote(operands, dtype)
    arrays = [x.data if isinstance(x, Tensor) else x for x in operands]
    xp = array_module(like.data)
    return Tensor._make(xp.asarray(getattr(xp, name)(*arrays)), None)


# ---- tests ------------------------------------------------------------------------------
def isnan(input):
    """True where ``input`` is NaN (never for integers)."""
    return _constant("isnan", input)


def isinf(input):
    """True where ``input`` is +inf or -inf."""
    return _constant("isinf", input)


def isfinite(input):
    """True where ``input`` is neither NaN nor infinite."""
    return _constant("isfinite", input)


def isposinf(input):
    return _constant("isposinf", input)


def isneginf(input):
    return _constant("isneginf", input)


def _check_tensor(x, name, position):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument {position} must be Tensor, not {type(x).__name__}")


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol |other| elementwise (broadcasting); NaNs are equal
    only with ``equal_nan``. Both tensors must have the same dtype, as in PyTorch."""
    _check_tensor(input, "isclose", "'input'")
    _check_tensor(other, "isclose", "'other'")
    if input.dtype != other.dtype:
        raise RuntimeError(f"isclose(): {input.dtype} did not match {other.dtype}")
    if rtol < 0 or atol < 0:
        raise RuntimeError(
            f"isclose(): rtol and atol must be greater than or equal to zero, "
            f"but got rtol={rtol}, atol={atol}"
        )
    xp = array_module(input.data)
    return Tensor._make(
        xp.asarray(xp.isclose(input.data, other.data, rtol=rtol, atol=atol, equal_nan=equal_nan)),
        None,
    )


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when :func:`isclose` holds everywhere (a Python bool)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).data.all())


def equal(input, other):
    """True when both tensors have the same shape and the same values (a Python bool)."""
    _check_tensor(input, "equal", "'input'")
    _check_tensor(other, "equal", "'other'")
    return input.shape == other.shape and bool((input.data == other.data).all())


# ---- logical ------------------------------------------------------------------------------
def logical_not(input):
    return _constant("logical_not", input)


def logical_and(input, other):
    return _constant("logical_and", input, other)


def logical_or(input, other):
    return _constant("logical_or", input, other)


def logical_xor(input, other):
    return _constant("logical_xor", input, other)


# ---- bitwise (integers and booleans) ------------------------------------------------------
def _bitwise(name, numpy_name, *operands):
    like = next(x for x in operands if isinstance(x, Tensor))
    operands = [operand(x, like) for x in operands]
    dtype = result_type(*operands)
    if dtype.kind not in "biu" or (dtype.kind == "b" and "shift" in name):
        kinds = ", ".join(
            str(x.dtype) if isinstance(x, Tensor) else type(x).__name__ for x in operands
        )
        raise TypeError(
            f"{name}: only integer and bool tensors are supported (integers for "
            f"shifts), got {kinds}"
        )
    return _constant(numpy_name, *operands, dtype=dtype)


def bitwise_not(input):
    """~input: bitwise not of integers, logical not of booleans."""
    return _bitwise("bitwise_not", "invert", input)


def bitwise_and(input, other):
    return _bitwise("bitwise_and", "bitwise_and", input, other)


def bitwise_or(input, other):
    return _bitwise("bitwise_or", "bitwise_or", input, other)


def bitwise_xor(input, other):
    return _bitwise("bitwise_xor", "bitwise_xor", input, other)


def bitwise_left_shift(input, other):
    return _bitwise("bitwise_left_shift", "left_shift", input, other)


def bitwise_right_shift(input, other):
    return _bitwise("bitwise_right_shift", "right_shift", input, other)
