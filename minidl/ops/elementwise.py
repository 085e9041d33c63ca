"""Elementwise arithmetic: + - * / ** with PyTorch's type promotion, neg, clamp, maximum,
minimum, lerp; each Function with its wrapper below it (math functions: :mod:`.math`).

Notation: ``g`` is the gradient of the loss with respect to the op's output; each
backward returns the gradient with respect to each input. Binary ops broadcast like
NumPy; their backward sums ``g`` over the broadcast axes (:func:`unbroadcast`).
"""

import math as _math

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import (
    binary,
    is_bool,
    needs_promotion,
    operand,
    promote,
    result_type,
    shape_of,
    unbroadcast,
)
from .math import floor_divide, sign, trunc


# ---- arithmetic -----------------------------------------------------------------------
class Add(Function):
    """out = a + b ;  da = g, db = g"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = shape_of(a), shape_of(b)
        return a + b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(g, ctx.shapes[0]) if need_a else None,
            unbroadcast(g, ctx.shapes[1]) if need_b else None,
        )


def add(input, other, alpha=1):
    """input + alpha other"""
    if alpha != 1:
        other = _scaled(input, other, alpha)
    return binary(Add, input, other)


def _scaled(input, other, alpha):
    """alpha * other for add/sub; a float alpha with integer operands raises, as PyTorch."""
    if isinstance(alpha, float) and all(
        isinstance(x, (int, bool)) or (isinstance(x, Tensor) and x.dtype.kind in "biu")
        for x in (input, other)
    ):
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating "
            f"point number (got alpha={alpha})"
        )
    return other * alpha


class Sub(Function):
    """out = a - b ;  da = g, db = -g"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = shape_of(a), shape_of(b)
        return a - b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(g, ctx.shapes[0]) if need_a else None,
            unbroadcast(-g, ctx.shapes[1]) if need_b else None,
        )


def sub(input, other, alpha=1):
    """input - alpha other"""
    if alpha != 1:
        other = _scaled(input, other, alpha)
    if is_bool(input) and is_bool(other):
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not "
            "supported. Use the `^` or `logical_xor()` operator instead."
        )
    if is_bool(input) or is_bool(other):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not "
            "supported. If you are trying to invert a mask, use the `~` or "
            "`logical_not()` operator instead."
        )
    return binary(Sub, input, other)


subtract = sub


class Mul(Function):
    """out = a * b ;  da = g * b, db = g * a"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(g * b, shape_of(a)) if need_a else None,
            unbroadcast(g * a, shape_of(b)) if need_b else None,
        )


def mul(input, other):
    return binary(Mul, input, other)


multiply = mul


class Div(Function):
    """out = a / b ;  da = g / b, db = -g * a / b^2"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(g / b, shape_of(a)) if need_a else None,
            unbroadcast(-g * a / (b * b), shape_of(b)) if need_b else None,
        )


def div(input, other, rounding_mode=None):
    """input / other: true division (integers give float32, as PyTorch), or with
    ``rounding_mode`` "trunc" / "floor" the quotient rounded that way (no gradient)."""
    if rounding_mode is None:
        return binary(Div, input, other, floating=True)
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        like = input if isinstance(input, Tensor) else other
        if result_type(*(operand(x, like) for x in (input, other))).kind in "fc":
            return trunc(binary(Div, input, other))
        return _trunc_int(input, other)
    raise ValueError(
        f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
        f"found {rounding_mode!r}"
    )


true_divide = divide = div


def _trunc_int(a, b):
    """Integer quotient rounded towards zero: |a| // |b| with the sign of a b."""

    def sign_of(x):
        return sign(x) if isinstance(x, Tensor) else (x > 0) - (x < 0)

    return floor_divide(abs(a), abs(b)) * sign_of(a) * sign_of(b)


class Neg(Function):
    """out = -a ;  da = -g"""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


def neg(input):
    if input.dtype.kind == "b":
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If "
            "you are trying to invert a mask, use the `~` or `logical_not()` "
            "operator instead."
        )
    return Neg.apply(input)


negative = neg


class Pow(Function):
    """out = a ** b, either a tensor or a number
    da = g b a^(b-1) ;  db = g out log(a), taken as 0 where a = 0 (as PyTorch)"""

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        xp = array_module(g)
        da = db = None
        if need_a:
            if not hasattr(b, "shape"):  # a constant exponent (the common case)
                da = xp.zeros_like(a) if b == 0 else g * (b * a ** (b - 1))
            else:  # 0 where b = 0 (b a^(b-1) would be 0 * inf at a = 0)
                zero = b == 0
                da = unbroadcast(
                    g * xp.where(zero, 0, b * a ** xp.where(zero, 1, b - 1)), shape_of(a)
                )
        if need_b:
            if hasattr(a, "shape"):
                log_a = xp.log(xp.where(a == 0, 1, a))
            else:  # a number base: scalar ** tensor
                log_a = _math.log(a) if a > 0 else 0.0 if a == 0 else _math.nan
            db = unbroadcast(g * out * log_a, shape_of(b))
        return da, db


def pow(input, exponent):
    """input ** exponent; either may be a tensor (or a number, or an array constant).
    A boolean tensor to the power True or False stays boolean; a boolean tensor as the
    exponent of a boolean is refused, as in PyTorch."""
    if is_bool(input) and is_bool(exponent):
        if isinstance(exponent, Tensor):
            raise TypeError("pow: not implemented for a bool base with a bool tensor exponent")
        return binary(Pow, input, exponent).to(dtype=bool)
    return binary(Pow, input, exponent)


class Clamp(Function):
    """out = min(max(a, low), high), the bounds numbers, tensors or None
    da = g where low <= a <= high ;  dlow = g where a < low (and low < high) ;
    dhigh = g where a > high (or high < low): where the bound is the output, as PyTorch"""

    @staticmethod
    def forward(ctx, a, low, high):
        ctx.save_for_backward(a, low, high)
        xp = array_module(a)
        if low is None:
            return xp.minimum(a, high)
        if high is None:
            return xp.maximum(a, low)
        return xp.minimum(xp.maximum(a, low), high)

    @staticmethod
    def backward(ctx, g):
        a, low, high = ctx.saved_tensors
        need_a, need_low, need_high = ctx.needs_input_grad
        above_low = None if low is None else a >= low
        below_high = None if high is None else a <= high
        da = dlow = dhigh = None
        if need_a:
            inside = (
                below_high
                if low is None
                else (above_low if high is None else above_low & below_high)
            )
            da = unbroadcast(g * inside, shape_of(a))
        if need_low:
            dlow = unbroadcast(
                g * (~above_low if high is None else ~above_low & (low < high)), shape_of(low)
            )
        if need_high:
            dhigh = unbroadcast(
                g * (~below_high if low is None else ~below_high | (high < low)), shape_of(high)
            )
        return da, dlow, dhigh


def clamp(input, min=None, max=None):
    """``input`` limited to [min, max]; each bound a number, a tensor (differentiable,
    broadcasting) or None. Where min > max the result is max, as in PyTorch."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    bounds = [None if b is None else operand(b, input) for b in (min, max)]
    given = [b for b in bounds if b is not None]
    if (
        any(isinstance(b, Tensor) for b in given)
        or needs_promotion(input, given[0])
        or (len(given) == 2 and needs_promotion(input, given[1]))
    ):
        dtype = result_type(input, *given)
        input, *given = promote([input, *given], dtype)
        bounds = [None if b is None else given.pop(0) for b in bounds]
    return Clamp.apply(input, *bounds)


clip = clamp


def lerp(input, end, weight):
    """input + weight (end - input): linear interpolation (weight a number or a tensor);
    made of differentiable ops, so every gradient and higher derivative follows. As in
    PyTorch, ``input`` and ``end`` are floating point tensors of one dtype, and so is a
    ``weight`` tensor with dimensions (a 0-d one acts as a number)."""
    dtype = input.data.dtype
    if not (isinstance(end, Tensor) and end.data.dtype == dtype and dtype.kind in "fc"):
        _refuse_lerp(input, end)
    if isinstance(weight, Tensor) and weight.ndim and weight.data.dtype != dtype:
        raise RuntimeError(
            f"lerp: expected dtype {input.dtype} for `weight` but got dtype {weight.dtype}"
        )
    return input + weight * (end - input)


def _refuse_lerp(input, end):
    if not isinstance(end, Tensor):
        raise TypeError(f"lerp(): argument 'end' must be Tensor, not {type(end).__name__}")
    if input.dtype.kind not in "fc":
        raise TypeError(f"lerp: expected a floating point tensor, got {input.dtype}")
    raise RuntimeError(f"lerp: expected dtype {input.dtype} for `end` but got dtype {end.dtype}")


class Maximum(Function):
    """out = max(a, b) elementwise ;  g goes to the larger input, split equally on ties
    (as PyTorch): da = g [a > b] + g/2 [a = b], db = g - da"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a if hasattr(a, "shape") else b).maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _split_by_winner(ctx, g, a > b, a, b)


def maximum(input, other):
    return binary(Maximum, input, other)


class Minimum(Function):
    """out = min(a, b) elementwise ;  as :class:`Maximum` with the smaller input winning"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a if hasattr(a, "shape") else b).minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _split_by_winner(ctx, g, a < b, a, b)


def minimum(input, other):
    return binary(Minimum, input, other)


def _split_by_winner(ctx, g, a_wins, a, b):
    ga = array_module(g).where(a == b, g * 0.5, g * a_wins)
    need_a, need_b = ctx.needs_input_grad
    return (
        unbroadcast(ga, shape_of(a)) if need_a else None,
        unbroadcast(g - ga, shape_of(b)) if need_b else None,
    )


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def addcmul(input, tensor1, tensor2, value=1):
    """input + value * tensor1 * tensor2 (broadcasting; made of differentiable ops); two
    boolean factors are refused, as in PyTorch."""
    if is_bool(tensor1) and is_bool(tensor2):
        raise TypeError("addcmul: not implemented for bool tensors")
    return input + value * tensor1 * tensor2


def addcdiv(input, tensor1, tensor2, value=1):
    """input + value * tensor1 / tensor2; integer tensor1 and tensor2 are refused, as in
    PyTorch (its historic integer division is gone)."""
    if all(isinstance(t, Tensor) and t.dtype.kind in "biu" for t in (tensor1, tensor2)):
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported; use "
            "input + value * tensor1 / tensor2 for a true division"
        )
    return input + value * tensor1 / tensor2


# ---- copies -----------------------------------------------------------------------------
class Clone(Function):
    """out = a copy of a (new memory) ;  da = g"""

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


def clone(input):
    if not isinstance(input, Tensor):
        raise TypeError(f"clone(): argument 'input' must be Tensor, not {type(input).__name__}")
    return Clone.apply(input)


class NanToNum(Function):
    """out = a with NaN, +inf, -inf replaced by numbers ;  da = g where a is finite, else 0"""

    @staticmethod
    def forward(ctx, a, nan, posinf, neginf):
        ctx.save_for_backward(array_module(a).isfinite(a))
        return array_module(a).nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, g):
        (finite,) = ctx.saved_tensors
        return g * finite, None, None, None


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN -> ``nan``, +inf -> ``posinf`` (default: the dtype's largest finite value),
    -inf -> ``neginf`` (default: its lowest)."""
    if input.dtype.kind not in "fc":
        return clone(input)
    return NanToNum.apply(input, nan, posinf, neginf)
