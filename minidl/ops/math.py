"""Elementwise math functions: exponentials and logarithms, trigonometric and hyperbolic
functions, erf, rounding, and the two-argument ones (atan2, hypot, copysign, logaddexp).

Most are a :class:`Unary`: the function ``f`` and its derivative ``f'`` (from the input
``a`` and/or the output ``out``), one line each; the backward ``g * f'`` is shared.
Integer and boolean inputs are computed in the default float dtype, as PyTorch does;
the rounding functions and ``sign`` keep integer dtypes and have zero gradient.
"""

import math

from ..autograd import Function, is_grad_enabled
from ..backend import array_module
from ..tensor import Tensor
from .base import binary, floating, is_bool, shape_of, unbroadcast


# ---- the common ones, tuned by hand (they run in every training step) ----------------
class Exp(Function):
    """out = exp(a) ;  da = g * out"""

    @staticmethod
    def forward(ctx, a):
        out = array_module(a).exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


def exp(input):
    return Exp.apply(floating(input))


class Log(Function):
    """out = log(a) ;  da = g / a"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_module(a).log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


def log(input):
    return Log.apply(floating(input))


class Sqrt(Function):
    """out = sqrt(a) ;  da = g / (2 out)"""

    @staticmethod
    def forward(ctx, a):
        out = array_module(a).sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.saved_tensors[0])


def sqrt(input):
    return Sqrt.apply(floating(input))


class Abs(Function):
    """out = |a| ;  da = g * sign(a)"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_module(a).abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * array_module(g).sign(ctx.saved_tensors[0])


def abs(input):
    return Abs.apply(integral(input, "abs", "keep-int"))


class Tanh(Function):
    """out = tanh(a) ;  da = g * (1 - out^2)"""

    @staticmethod
    def forward(ctx, a):
        out = array_module(a).tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return g * (1 - out * out)


def tanh(input):
    return Tanh.apply(floating(input))


class Sigmoid(Function):
    """out = 1 / (1 + exp(-a)) ;  da = g * out * (1 - out)
    With e = exp(-|a|), which never overflows: out = 1 / (1 + e) for a >= 0 and
    e / (1 + e) for a < 0, so tiny outputs (a << 0) keep their relative precision."""

    @staticmethod
    def forward(ctx, a):
        xp = array_module(a)
        e = xp.exp(-xp.abs(a))
        out = 1 / (1 + e)
        out = xp.where(a >= 0, out, e * out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return g * out * (1 - out)


def sigmoid(input):
    return Sigmoid.apply(floating(input))


class ReLU(Function):
    """out = max(a, 0) ;  da = g where a > 0, else 0"""

    @staticmethod
    def forward(ctx, a):
        out = array_module(a).maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * (ctx.saved_tensors[0] > 0)


def relu(input):
    return ReLU.apply(integral(input, "relu", "keep-int"))


# ---- the rest: f and f' ------------------------------------------------------------------
class Unary(Function):
    """out = f(a) elementwise ;  da = g * f'(a)

    A subclass defines ``f(xp, a)`` and ``derivative(xp, a, out)``, both in the array
    vocabulary (so the derivative is itself differentiable under create_graph)."""

    @classmethod
    def forward(cls, ctx, a):
        out = cls.f(array_module(a), a)
        ctx.save_for_backward(a, out)
        return out

    @classmethod
    def backward(cls, ctx, g):
        a, out = ctx.saved_tensors
        return g * cls.derivative(array_module(g), a, out)


def _unary(name, f, derivative, doc, integers=None):
    """A :class:`Unary` subclass and its wrapper function. Integer and boolean inputs are
    computed in float32, unless ``integers`` says how PyTorch keeps them: "keep" (bool
    too), "keep-int" (bool refused), "int64" (bool as int64)."""
    op = type(
        name,
        (Unary,),
        {
            "f": staticmethod(f),
            "derivative": staticmethod(derivative),
            "__doc__": doc,
            "__module__": __name__,
        },
    )
    apply, wrapper_name = op.apply, name.lower()
    if integers is None:

        def wrapper(input):
            return apply(floating(input))
    else:

        def wrapper(input):
            return apply(integral(input, wrapper_name, integers))

    wrapper.__name__ = wrapper.__qualname__ = wrapper_name
    wrapper.__doc__ = doc
    return op, wrapper


def integral(input, name, rule):
    """``input`` for an op that keeps integer dtypes; ``rule`` for booleans: "keep",
    "keep-int" (refused, as PyTorch) or "int64" (computed as int64)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: expected a Tensor as input, got {type(input).__name__}")
    if input.dtype.kind != "b" or rule == "keep":
        return input
    if rule == "int64":
        return Tensor._make(input.data.astype("int64"), None)
    raise TypeError(f"{name}: not implemented for bool tensors")


def _zero(xp, a, out):
    return xp.zeros_like(a)


_LN2, _LN10 = math.log(2), math.log(10)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)

# name, f, f' (from a and/or out), formula
Sin, sin = _unary(
    "Sin", lambda xp, a: xp.sin(a), lambda xp, a, out: xp.cos(a), "out = sin(a) ;  da = g cos(a)"
)
Cos, cos = _unary(
    "Cos", lambda xp, a: xp.cos(a), lambda xp, a, out: -xp.sin(a), "out = cos(a) ;  da = -g sin(a)"
)
Tan, tan = _unary(
    "Tan",
    lambda xp, a: xp.tan(a),
    lambda xp, a, out: 1 + out * out,
    "out = tan(a) ;  da = g (1 + out^2)",
)
Asin, asin = _unary(
    "Asin",
    lambda xp, a: xp.arcsin(a),
    lambda xp, a, out: 1 / xp.sqrt(1 - a * a),
    "out = asin(a) ;  da = g / sqrt(1 - a^2)",
)
Acos, acos = _unary(
    "Acos",
    lambda xp, a: xp.arccos(a),
    lambda xp, a, out: -1 / xp.sqrt(1 - a * a),
    "out = acos(a) ;  da = -g / sqrt(1 - a^2)",
)
Atan, atan = _unary(
    "Atan",
    lambda xp, a: xp.arctan(a),
    lambda xp, a, out: 1 / (1 + a * a),
    "out = atan(a) ;  da = g / (1 + a^2)",
)
Sinh, sinh = _unary(
    "Sinh",
    lambda xp, a: xp.sinh(a),
    lambda xp, a, out: xp.cosh(a),
    "out = sinh(a) ;  da = g cosh(a)",
)
Cosh, cosh = _unary(
    "Cosh",
    lambda xp, a: xp.cosh(a),
    lambda xp, a, out: xp.sinh(a),
    "out = cosh(a) ;  da = g sinh(a)",
)
Asinh, asinh = _unary(
    "Asinh",
    lambda xp, a: xp.arcsinh(a),
    lambda xp, a, out: 1 / xp.sqrt(a * a + 1),
    "out = asinh(a) ;  da = g / sqrt(a^2 + 1)",
)
Acosh, acosh = _unary(
    "Acosh",
    lambda xp, a: xp.arccosh(a),
    lambda xp, a, out: 1 / xp.sqrt(a * a - 1),
    "out = acosh(a) ;  da = g / sqrt(a^2 - 1)",
)
Atanh, atanh = _unary(
    "Atanh",
    lambda xp, a: xp.arctanh(a),
    lambda xp, a, out: 1 / (1 - a * a),
    "out = atanh(a) ;  da = g / (1 - a^2)",
)
Exp2, exp2 = _unary(
    "Exp2", lambda xp, a: xp.exp2(a), lambda xp, a, out: out * _LN2, "out = 2^a ;  da = g out ln 2"
)
Expm1, expm1 = _unary(
    "Expm1",
    lambda xp, a: xp.expm1(a),
    lambda xp, a, out: out + 1,
    "out = exp(a) - 1 (exact for small a) ;  da = g (out + 1)",
)
Log2, log2 = _unary(
    "Log2",
    lambda xp, a: xp.log2(a),
    lambda xp, a, out: 1 / (a * _LN2),
    "out = log2(a) ;  da = g / (a ln 2)",
)
Log10, log10 = _unary(
    "Log10",
    lambda xp, a: xp.log10(a),
    lambda xp, a, out: 1 / (a * _LN10),
    "out = log10(a) ;  da = g / (a ln 10)",
)
Log1p, log1p = _unary(
    "Log1p",
    lambda xp, a: xp.log1p(a),
    lambda xp, a, out: 1 / (1 + a),
    "out = log(1 + a) (exact for small a) ;  da = g / (1 + a)",
)
Rsqrt, rsqrt = _unary(
    "Rsqrt",
    lambda xp, a: 1 / xp.sqrt(a),
    lambda xp, a, out: -0.5 * out * out * out,
    "out = 1 / sqrt(a) ;  da = -g out^3 / 2",
)
Reciprocal, reciprocal = _unary(
    "Reciprocal", lambda xp, a: 1 / a, lambda xp, a, out: -out * out, "out = 1 / a ;  da = -g out^2"
)
Square, square = _unary(
    "Square",
    lambda xp, a: a * a,
    lambda xp, a, out: 2 * a,
    "out = a^2 ;  da = 2 g a",
    integers="int64",
)
Sign, sign = _unary(
    "Sign",
    lambda xp, a: a.copy() if a.dtype.kind == "b" else xp.sign(a),
    _zero,
    "out = sign(a) (-1, 0 or 1) ;  da = 0",
    integers="keep",
)
Floor, floor = _unary(
    "Floor",
    lambda xp, a: xp.floor(a) if a.dtype.kind in "fc" else a.copy(),
    _zero,
    "out = floor(a) ;  da = 0",
    integers="keep-int",
)
Ceil, ceil = _unary(
    "Ceil",
    lambda xp, a: xp.ceil(a) if a.dtype.kind in "fc" else a.copy(),
    _zero,
    "out = ceil(a) ;  da = 0",
    integers="keep-int",
)
Trunc, trunc = _unary(
    "Trunc",
    lambda xp, a: xp.trunc(a) if a.dtype.kind in "fc" else a.copy(),
    _zero,
    "out = a rounded towards zero ;  da = 0",
    integers="keep-int",
)
fix = trunc


class Round(Function):
    """out = a rounded to ``decimals`` places, halves to even (as PyTorch) ;  da = 0"""

    @staticmethod
    def forward(ctx, a, decimals):
        return array_module(a).round(a, decimals)

    @staticmethod
    def backward(ctx, g):
        return array_module(g).zeros_like(g), None


def round(input, decimals=0):
    """Halves to even; ``decimals`` an int (integer tensors only with 0), as in PyTorch."""
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise TypeError(f"round: decimals must be an int, got {type(decimals).__name__}")
    input = integral(input, "round", "keep-int")
    if decimals and input.dtype.kind in "iu":
        raise TypeError(f"round: decimals={decimals} is not implemented for {input.dtype}")
    return Round.apply(input, decimals)


class Frac(Function):
    """out = a - trunc(a) (the sign of a) ;  da = g"""

    @staticmethod
    def forward(ctx, a):
        return a - array_module(a).trunc(a)

    @staticmethod
    def backward(ctx, g):
        return g


def frac(input):
    if input.dtype.kind not in "fc":
        raise TypeError(f"frac: only floating point tensors are supported, got {input.dtype}")
    return Frac.apply(input)


# ---- erf ------------------------------------------------------------------------------
_ERF_SPLIT = 1.7


def erf_erfc(x):
    """(erf(x), erfc(x)) of a float array, to about 1e-15 relative in float64 (NumPy has
    no erf; SciPy is no dependency).

    |x| < 1.7: erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1 3 5 ... (2n+1)),
    a series of positive terms (no cancellation), 60 terms; erfc = 1 - erf >= 0.016
    there. |x| >= 1.7: the continued fraction
    erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
    80 levels, evaluated from the bottom (measured against math.erfc: 2e-16 at 1.7).
    Float32 and float16 inputs are computed in float64 and rounded back."""
    xp = array_module(x)
    dtype = x.dtype
    x = x.astype(xp.float64)
    ax = xp.abs(x)
    small = xp.minimum(ax, _ERF_SPLIT)
    x2 = small * small
    term = small.copy()
    total = small.copy()
    for n in range(1, 60):
        term *= x2 * (2 / (2 * n + 1))
        total += term
    erf_small = _TWO_OVER_SQRT_PI * xp.exp(-x2) * total
    large = xp.maximum(ax, _ERF_SPLIT)
    fraction = large.copy()
    for k in range(80, 0, -1):
        fraction = large + (k / 2) / fraction
    erfc_large = xp.exp(-large * large) / (math.sqrt(math.pi) * fraction)
    erfc_abs = xp.where(ax < _ERF_SPLIT, 1 - erf_small, erfc_large)
    erf_abs = xp.where(ax < _ERF_SPLIT, erf_small, 1 - erfc_large)
    erf = xp.copysign(erf_abs, x)
    erfc = xp.where(x < 0, 2 - erfc_abs, erfc_abs)
    return erf.astype(dtype), erfc.astype(dtype)


def _gauss(xp, a):
    return _TWO_OVER_SQRT_PI * xp.exp(-(a * a))


def erf_of(x):
    """erf of a float array: :func:`erf_erfc` in float64; in float32 and below, where one
    ulp near 1 is 6e-8, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, 40x
    faster, which GELU's training speed needs)."""
    if x.dtype.itemsize >= 8:
        return erf_erfc(x)[0]
    xp = array_module(x)
    x64 = x.astype(xp.float64)  # (float32 arithmetic would add 2e-7 of rounding)
    t = 1 / (1 + 0.3275911 * xp.abs(x64))
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (xp.sign(x64) * (1 - poly * xp.exp(-x64 * x64))).astype(x.dtype)


Erf, erf = _unary(
    "Erf",
    lambda xp, a: erf_of(a),
    lambda xp, a, out: _gauss(xp, a),
    "out = erf(a) ;  da = g 2/sqrt(pi) exp(-a^2)",
)
Erfc, erfc = _unary(
    "Erfc",
    lambda xp, a: erf_erfc(a)[1],
    lambda xp, a, out: -_gauss(xp, a),
    "out = erfc(a) = 1 - erf(a) ;  da = -g 2/sqrt(pi) exp(-a^2)",
)


# ---- two arguments --------------------------------------------------------------------
class _Binary(Function):
    """out = f(a, b), broadcasting ;  da = g * df/da, db = g * df/db, each summed back to
    its input's shape. A subclass defines ``f(xp, a, b)`` and ``partials(xp, a, b, out)``
    (the two partial derivatives, array vocabulary)."""

    @classmethod
    def forward(cls, ctx, a, b):
        out = cls.f(array_module(a if hasattr(a, "shape") else b), a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @classmethod
    def backward(cls, ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        da, db = cls.partials(array_module(g), a, b, out)
        return (
            unbroadcast(g * da, shape_of(a)) if need_a else None,
            unbroadcast(g * db, shape_of(b)) if need_b else None,
        )


class Atan2(_Binary):
    """out = atan2(a, b), the angle of the point (b, a) ;
    da = g b / (a^2 + b^2), db = -g a / (a^2 + b^2)"""

    @staticmethod
    def f(xp, a, b):
        return xp.arctan2(a, b)

    @staticmethod
    def partials(xp, a, b, out):
        r2 = a * a + b * b
        return b / r2, -a / r2


def atan2(input, other):
    return binary(Atan2, input, other, floating=True)


arctan2 = atan2


class Hypot(_Binary):
    """out = sqrt(a^2 + b^2) (without overflow) ;  da = g a / out, db = g b / out"""

    @staticmethod
    def f(xp, a, b):
        return xp.hypot(a, b)

    @staticmethod
    def partials(xp, a, b, out):
        return a / out, b / out


def hypot(input, other):
    _refuse_integers(input, other, "hypot")
    return binary(Hypot, input, other, floating=True)


class Copysign(_Binary):
    """out = |a| with the sign of b ;  da = g out / a (0 where a = 0, as PyTorch), db = 0"""

    @staticmethod
    def f(xp, a, b):
        return xp.copysign(a, b)

    @staticmethod
    def partials(xp, a, b, out):
        nonzero = a != 0
        return xp.where(nonzero, out / xp.where(nonzero, a, 1), 0), xp.zeros_like(out)


def copysign(input, other):
    return binary(Copysign, input, other, floating=True)


class Logaddexp(_Binary):
    """out = log(exp(a) + exp(b)), computed from the larger one (never overflows) ;
    da = g exp(a - out), db = g exp(b - out)"""

    @staticmethod
    def f(xp, a, b):
        return xp.logaddexp(a, b)

    @staticmethod
    def partials(xp, a, b, out):
        return xp.exp(a - out), xp.exp(b - out)


def logaddexp(input, other):
    _refuse_integers(input, other, "logaddexp")
    return binary(Logaddexp, input, other, floating=True)


def _refuse_integers(input, other, name):
    """PyTorch has no integer kernel for hypot and logaddexp: one operand must be a float."""
    if _is_integral(input) and _is_integral(other):
        raise TypeError(f"{name}: not implemented for integer or bool operands; use .float()")


def _is_integral(x):
    return x.dtype.kind in "iub" if hasattr(x, "dtype") else isinstance(x, int)


def _refuse_bools(input, other, name):
    if is_bool(input) and is_bool(other):
        raise TypeError(f"{name}: not implemented for two bool operands")


def _check_integer_divisor(a, b, name):
    """Integer division by zero raises, as in PyTorch (NumPy would silently give 0)."""
    if (
        _is_integral(a)
        and _is_integral(b)
        and bool((b == 0).any() if hasattr(b, "shape") else b == 0)
    ):
        raise ZeroDivisionError(f"{name}: integer division by zero")


class Fmod(_Binary):
    """out = a - trunc(a / b) b, the sign of a (C's fmod) ;  da = g, db = -g trunc(a / b)"""

    @staticmethod
    def f(xp, a, b):
        _check_integer_divisor(a, b, "fmod")
        return xp.fmod(a, b)

    @staticmethod
    def partials(xp, a, b, out):
        return xp.ones_like(out), -xp.trunc(a / b)


def fmod(input, other):
    _refuse_bools(input, other, "fmod")
    return binary(Fmod, input, other)


class Remainder(_Binary):
    """out = a - floor(a / b) b, the sign of b (Python's %) ;  da = g, db = -g floor(a / b)"""

    @staticmethod
    def f(xp, a, b):
        _check_integer_divisor(a, b, "remainder")
        return xp.remainder(a, b)

    @staticmethod
    def partials(xp, a, b, out):
        return xp.ones_like(out), -xp.floor(a / b)


def remainder(input, other):
    _refuse_bools(input, other, "remainder")
    return binary(Remainder, input, other)


class FloorDivide(_Binary):
    """out = floor(a / b) (Python's //). PyTorch defines no derivative for it: the
    wrapper refuses inputs that require grad while grad mode is on."""

    @staticmethod
    def f(xp, a, b):
        _check_integer_divisor(a, b, "floor_divide")
        return xp.floor_divide(a, b)


def floor_divide(input, other):
    if is_grad_enabled() and any(isinstance(x, Tensor) and x.requires_grad for x in (input, other)):
        raise RuntimeError(
            "derivative for floor_divide is not implemented; use (a / b).floor() "
            "for a zero gradient, or detach() the inputs"
        )
    _refuse_bools(input, other, "floor_divide")
    return binary(FloorDivide, input, other)
