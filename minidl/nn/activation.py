"""Activation functions: the functional forms (re-exported by ``minidl.nn.functional``)
and their Modules (re-exported by ``minidl.nn``).

The pointwise ones are one :class:`~minidl.ops.math.Unary` node each: the function and
its derivative from the input ``a`` and/or the output ``out``, in the array vocabulary,
so gradients of any order follow. The ones with parameters (PReLU's learnable weight,
GLU's halves, threshold's value) are made of differentiable ops. ``inplace=True`` writes
into the input with PyTorch's in-place rules (a leaf that requires grad refuses).
"""

import functools
import math

from .. import ops
from ..autograd import Function
from ..backend import array_module
from ..creation import full
from ..ops.base import check_dim, floating
from ..ops.math import Unary, erf_of
from ..tensor import Tensor, _in_place
from .module import Module, Parameter

__all__ = [
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "softplus",
    "softsign",
    "sigmoid",
    "tanh",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "logsigmoid",
    "glu",
    "prelu",
    "threshold",
    "softmax",
    "log_softmax",
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "ELU",
    "SELU",
    "CELU",
    "GELU",
    "SiLU",
    "Mish",
    "Softplus",
    "Softsign",
    "Sigmoid",
    "Tanh",
    "Hardtanh",
    "Hardsigmoid",
    "Hardswish",
    "LogSigmoid",
    "GLU",
    "PReLU",
    "Threshold",
    "Softmax",
    "LogSoftmax",
]

sigmoid, tanh = ops.sigmoid, ops.tanh
softmax, log_softmax = ops.softmax, ops.log_softmax


def _with_inplace(function):
    """PyTorch's ``inplace=`` keyword for ``function``: True writes the result into the
    input, with PyTorch's in-place rules (see ``minidl.tensor._in_place``)."""

    @functools.wraps(function)
    def wrapper(input, *args, inplace=False, **kwargs):
        if inplace:
            return _in_place(input, function, *args, **kwargs)
        return function(input, *args, **kwargs)

    return wrapper


@_with_inplace
def relu(input):
    """max(x, 0)"""
    return ops.relu(input)


def _numeric(input, name):
    """``input`` in floating point (integers promoted, as torch.sigmoid does); booleans
    raise, as in every PyTorch activation."""
    _refuse_bool(input, name)
    return floating(input)  # (which refuses what is not a Tensor)


def _refuse_bool(input, name):
    if isinstance(input, Tensor) and input.dtype == bool:
        raise TypeError(f"{name}: boolean inputs are not supported")


def _sigmoid(xp, a):
    """1 / (1 + exp(-a)) without overflow for any a (tanh form), arrays or Tensors."""
    return 0.5 + 0.5 * xp.tanh(0.5 * a)


def _softplus(xp, a):
    """log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|)), finite for any a."""
    return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))


class _Pointwise(Unary):
    """A Unary whose f and f' take the op's constants: ``f(xp, a, *params)``,
    ``derivative(xp, a, out, *params)``; the wrapper passes them to ``apply``."""

    @classmethod
    def forward(cls, ctx, a, *params):
        ctx.params = params
        out = cls.f(array_module(a), a, *params)
        ctx.save_for_backward(a, out)
        return out

    @classmethod
    def backward(cls, ctx, g):
        a, out = ctx.saved_tensors
        slope = cls.derivative(array_module(g), a, out, *ctx.params)
        return (g * slope,) + (None,) * len(ctx.params)


# ---- pointwise: f and f' --------------------------------------------------------------
class SiLUFn(_Pointwise):
    """out = a sigmoid(a) ;  da = g s (1 + a (1 - s)), s = sigmoid(a)"""

    @staticmethod
    def f(xp, a):
        return a * _sigmoid(xp, a)

    @staticmethod
    def derivative(xp, a, out):
        s = _sigmoid(xp, a)
        return s * (1 + a * (1 - s))


@_with_inplace
def silu(input):
    return SiLUFn.apply(_numeric(input, "silu"))


class ELUFn(_Pointwise):
    """out = a if a > 0 else alpha (exp(a) - 1), times scale (SELU) ;
    da = g scale where a > 0, else g (out + scale alpha)"""

    @staticmethod
    def f(xp, a, alpha, scale):
        return scale * xp.where(a > 0, a, alpha * xp.expm1(xp.minimum(a, 0)))

    @staticmethod
    def derivative(xp, a, out, alpha, scale):
        return xp.where(a > 0, scale, out + scale * alpha)


@_with_inplace
def elu(input, alpha=1.0):
    return ELUFn.apply(_numeric(input, "elu"), float(alpha), 1.0)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@_with_inplace
def selu(input):
    """scale * elu(a, alpha) with the self-normalising constants of Klambauer et al."""
    return ELUFn.apply(_numeric(input, "selu"), _SELU_ALPHA, _SELU_SCALE)


class CELUFn(_Pointwise):
    """out = max(0, a) + min(0, alpha (exp(a / alpha) - 1)) ;
    da = g where a > 0, else g exp(a / alpha) = g (out / alpha + 1)"""

    @staticmethod
    def f(xp, a, alpha):
        return xp.where(a > 0, a, alpha * xp.expm1(xp.minimum(a, 0) / alpha))

    @staticmethod
    def derivative(xp, a, out, alpha):
        return xp.where(a > 0, 1.0, out / alpha + 1)


@_with_inplace
def celu(input, alpha=1.0):
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (ZeroDivisionError in exp(a / alpha))")
    return CELUFn.apply(_numeric(input, "celu"), float(alpha))


class SoftplusFn(_Pointwise):
    """out = log(1 + exp(beta a)) / beta, or a where beta a > threshold (as PyTorch) ;
    da = g sigmoid(beta a), or g beyond the threshold"""

    @staticmethod
    def f(xp, a, beta, threshold):
        return xp.where(a * beta > threshold, a, _softplus(xp, a * beta) / beta)

    @staticmethod
    def derivative(xp, a, out, beta, threshold):
        return xp.where(a * beta > threshold, 1.0, _sigmoid(xp, a * beta))


def softplus(input, beta=1.0, threshold=20.0):
    if beta == 0:
        raise ValueError("softplus: beta must not be 0")
    return SoftplusFn.apply(_numeric(input, "softplus"), float(beta), float(threshold))


class SoftsignFn(_Pointwise):
    """out = a / (1 + |a|) ;  da = g / (1 + |a|)^2"""

    @staticmethod
    def f(xp, a):
        return a / (1 + xp.abs(a))

    @staticmethod
    def derivative(xp, a, out):
        d = 1 + xp.abs(a)
        return 1 / (d * d)


def softsign(input):
    _refuse_bool(input, "softsign")
    return SoftsignFn.apply(floating(input))


class MishFn(_Pointwise):
    """out = a tanh(softplus(a)) ;  da = g (t + a sigmoid(a) (1 - t^2)), t = tanh(softplus(a))"""

    @staticmethod
    def f(xp, a):
        return a * xp.tanh(_softplus(xp, a))

    @staticmethod
    def derivative(xp, a, out):
        t = xp.tanh(_softplus(xp, a))
        return t + a * _sigmoid(xp, a) * (1 - t * t)


@_with_inplace
def mish(input):
    return MishFn.apply(_numeric(input, "mish"))


class LogSigmoidFn(_Pointwise):
    """out = log sigmoid(a) = min(a, 0) - log(1 + exp(-|a|)) ;  da = g sigmoid(-a)"""

    @staticmethod
    def f(xp, a):
        return xp.minimum(a, 0) - xp.log1p(xp.exp(-xp.abs(a)))

    @staticmethod
    def derivative(xp, a, out):
        return _sigmoid(xp, -a)


def logsigmoid(input):
    return LogSigmoidFn.apply(_numeric(input, "logsigmoid"))


class HardtanhFn(_Pointwise):
    """out = clamp(a, low, high) ;  da = g where low < a < high (strictly, as PyTorch)"""

    @staticmethod
    def f(xp, a, low, high):
        if a.dtype.kind != "f":  # integers stay integers, as in PyTorch
            return xp.clip(a, low, high).astype(a.dtype)
        return xp.clip(a, low, high)

    @staticmethod
    def derivative(xp, a, out, low, high):
        return ((a > low) & (a < high)).astype(a.dtype)


@_with_inplace
def hardtanh(input, min_val=-1.0, max_val=1.0):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} cannot be greater than max_val {max_val}")
    _refuse_bool(input, "hardtanh")
    return HardtanhFn.apply(input, min_val, max_val)


@_with_inplace
def relu6(input):
    """min(max(a, 0), 6)"""
    return hardtanh(input, 0.0, 6.0)


class HardsigmoidFn(_Pointwise):
    """out = relu6(a + 3) / 6 ;  da = g / 6 where -3 < a < 3"""

    @staticmethod
    def f(xp, a):
        return xp.clip(a / 6 + 0.5, 0, 1)

    @staticmethod
    def derivative(xp, a, out):
        return ((a > -3) & (a < 3)).astype(a.dtype) / 6


@_with_inplace
def hardsigmoid(input):
    return HardsigmoidFn.apply(_numeric(input, "hardsigmoid"))


class HardswishFn(_Pointwise):
    """out = a relu6(a + 3) / 6 ;  da = 0 for a <= -3, g (2a + 3) / 6 for -3 < a < 3,
    g for a >= 3 (PyTorch 2's choice at the kinks)"""

    @staticmethod
    def f(xp, a):
        return a * xp.clip(a / 6 + 0.5, 0, 1)

    @staticmethod
    def derivative(xp, a, out):
        return xp.where(a <= -3, 0.0, xp.where(a < 3, a / 3 + 0.5, 1.0))


@_with_inplace
def hardswish(input):
    return HardswishFn.apply(_numeric(input, "hardswish"))


# ---- leaky ReLU and GELU (fused: they run in training loops) -----------------------------
class LeakyReLUFn(Function):
    """y = x if x > 0 else slope * x ;  dx = g if x > 0 else slope * g"""

    @staticmethod
    def forward(ctx, x, slope):
        if x.dtype.kind != "f":
            raise TypeError(f"leaky_relu: expected a floating point input, got dtype {x.dtype}")
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.slope = slope
        return array_module(x).where(positive, x, x * slope)

    @staticmethod
    def backward(ctx, g):
        (positive,) = ctx.saved_tensors
        return array_module(g).where(positive, g, g * ctx.slope), None


@_with_inplace
def leaky_relu(input, negative_slope=0.01):
    return LeakyReLUFn.apply(input, negative_slope)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _erf(x):
    """erf of an array (see :func:`minidl.ops.math.erf_of`) or of a Tensor (the op)."""
    return ops.erf(x) if isinstance(x, Tensor) else erf_of(x)


class GELUFn(Function):
    """y = x Phi(x), Phi the standard normal CDF ;  dy/dx = Phi(x) + x phi(x)
    With approximate="tanh": Phi(x) ~ (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3)."""

    @staticmethod
    def forward(ctx, x, approximate):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            cdf = 0.5 * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
        else:
            cdf = 0.5 * (1 + erf_of(x * _SQRT_HALF))
        return x * cdf

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        if ctx.approximate == "tanh":
            th = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            slope = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du
        else:
            pdf = xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
            slope = 0.5 * (1 + _erf(x * _SQRT_HALF)) + x * pdf
        return g * slope, None


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELUFn.apply(_numeric(input, "gelu"), approximate)


# ---- made of differentiable ops -----------------------------------------------------------
def glu(input, dim=-1):
    """a * sigmoid(b), a and b the two halves of ``input`` along ``dim``."""
    axis = check_dim(dim, input.ndim)
    n = input.shape[axis] if input.ndim else 0
    if n % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {axis} is size {n}")
    lead = (slice(None),) * axis
    return input[lead + (slice(0, n // 2),)] * ops.sigmoid(input[lead + (slice(n // 2, n),)])


def prelu(input, weight):
    """x where x > 0, else weight * x; ``weight`` has one element, or one per channel
    (dim 1 of the input)."""
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: weight must be 0-d or 1-d, got shape {tuple(weight.shape)}")
    count = weight.numel()
    if count != 1:
        channels = input.shape[1] if input.ndim >= 2 else None
        if channels != count:
            raise RuntimeError(
                f"prelu: Mismatch of parameter numbers and input channel size. "
                f"Found parameter numbers = {count} and channel size = "
                f"{channels} (input shape {tuple(input.shape)})"
            )
        weight = weight.reshape((count,) + (1,) * (input.ndim - 2))
    elif input.ndim == 0:
        weight = weight.reshape(())  # a 0-d input gives a 0-d output, not (1,)
    return ops.where(input > 0, input, weight * input)


@_with_inplace
def threshold(input, threshold, value):
    """x where x > threshold, else value."""
    return ops.where(input > threshold, input, value)


# ---- Modules --------------------------------------------------------------------------------
class _Activation(Module):
    """A Module applying ``function`` with the keyword arguments given at construction."""

    function = None
    defaults = {}

    def __init__(self, *args, **kwargs):
        super().__init__()
        names = list(self.defaults)
        if len(args) > len(names):
            raise TypeError(
                f"{type(self).__name__} takes at most {len(names)} positional "
                f"arguments ({', '.join(names)}), got {len(args)}"
            )
        unknown = set(kwargs) - set(names)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(unknown)}")
        settings = {**self.defaults, **dict(zip(names, args)), **kwargs}
        for name, value in settings.items():
            setattr(self, name, value)

    def forward(self, input):
        return type(self).function(input, **{name: getattr(self, name) for name in self.defaults})

    def extra_repr(self):
        return ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in self.defaults
            if name != "inplace" or self.inplace
        )


def _module(name, function, doc, **defaults):
    return type(
        name,
        (_Activation,),
        {
            "function": staticmethod(function),
            "defaults": defaults,
            "__doc__": doc,
            "__module__": __name__,
        },
    )


class ReLU(_Activation):
    """max(x, 0)"""

    function = staticmethod(relu)
    defaults = {"inplace": False}

    def forward(self, input):  # every MLP's hot path: straight to the op
        return relu(input, inplace=True) if self.inplace else ops.relu(input)


ReLU6 = _module("ReLU6", relu6, "min(max(x, 0), 6)", inplace=False)
LeakyReLU = _module(
    "LeakyReLU", leaky_relu, "x if x > 0 else negative_slope x", negative_slope=0.01, inplace=False
)
ELU = _module("ELU", elu, "x if x > 0 else alpha (exp(x) - 1)", alpha=1.0, inplace=False)
SELU = _module("SELU", selu, "scale elu(x, alpha), self-normalising constants", inplace=False)
CELU = _module(
    "CELU", celu, "max(0, x) + min(0, alpha (exp(x / alpha) - 1))", alpha=1.0, inplace=False
)
GELU = _module("GELU", gelu, "x Phi(x) (approximate='tanh': the tanh form)", approximate="none")
SiLU = _module("SiLU", silu, "x sigmoid(x)", inplace=False)
Mish = _module("Mish", mish, "x tanh(softplus(x))", inplace=False)
Softplus = _module("Softplus", softplus, "log(1 + exp(beta x)) / beta", beta=1.0, threshold=20.0)
Softsign = _module("Softsign", softsign, "x / (1 + |x|)")
Sigmoid = _module("Sigmoid", sigmoid, "1 / (1 + exp(-x))")
Tanh = _module("Tanh", tanh, "tanh(x)")


class Hardtanh(_module("Hardtanh", hardtanh, "", min_val=-1.0, max_val=1.0, inplace=False)):
    """clamp(x, min_val, max_val); min_val > max_val raises at construction, as in torch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.min_val > self.max_val:
            raise ValueError(
                f"Hardtanh: max_val ({self.max_val}) must be greater than min_val ({self.min_val})"
            )


Hardsigmoid = _module("Hardsigmoid", hardsigmoid, "relu6(x + 3) / 6", inplace=False)
Hardswish = _module("Hardswish", hardswish, "x relu6(x + 3) / 6", inplace=False)
LogSigmoid = _module("LogSigmoid", logsigmoid, "log sigmoid(x)")
GLU = _module("GLU", glu, "a sigmoid(b), the halves along dim", dim=-1)
Threshold = _module(
    "Threshold", threshold, "x if x > threshold else value", threshold=0.0, value=0.0, inplace=False
)
Softmax = _module("Softmax", softmax, "exp(x) / sum exp(x) along dim", dim=None)
LogSoftmax = _module("LogSoftmax", log_softmax, "x - logsumexp(x) along dim", dim=None)


class PReLU(Module):
    """x if x > 0 else a x, with a learnable ``a``: one shared (num_parameters=1) or one
    per channel (dim 1), initialised to ``init`` (0.25)."""

    def __init__(self, num_parameters=1, init=0.25, dtype=None, device=None):
        super().__init__()
        if not isinstance(num_parameters, int) or num_parameters < 1:
            raise ValueError(
                f"PReLU: num_parameters must be a positive int, got {num_parameters!r}"
            )
        self.num_parameters = num_parameters
        self.weight = Parameter(full((num_parameters,), float(init), dtype=dtype, device=device))

    def forward(self, input):
        return prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
