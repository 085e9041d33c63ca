"""Elementwise ops: arithmetic and math functions, each Function with its wrapper below it.

Notation: ``g`` is the gradient of the loss with respect to the op's output; each
backward returns the gradient with respect to each input. Binary ops broadcast like
NumPy; their backward sums ``g`` over the broadcast axes (:func:`unbroadcast`).
"""
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import binary, shape_of, unbroadcast


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
        return (unbroadcast(g, ctx.shapes[0]) if need_a else None,
                unbroadcast(g, ctx.shapes[1]) if need_b else None)


def add(a, b):
    return binary(Add, a, b)


class Sub(Function):
    """out = a - b ;  da = g, db = -g"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = shape_of(a), shape_of(b)
        return a - b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g, ctx.shapes[0]) if need_a else None,
                unbroadcast(-g, ctx.shapes[1]) if need_b else None)


def sub(a, b):
    return binary(Sub, a, b)


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
        return (unbroadcast(g * b, shape_of(a)) if need_a else None,
                unbroadcast(g * a, shape_of(b)) if need_b else None)


def mul(a, b):
    return binary(Mul, a, b)


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
        return (unbroadcast(g / b, shape_of(a)) if need_a else None,
                unbroadcast(-g * a / (b * b), shape_of(b)) if need_b else None)


def div(a, b):
    return binary(Div, a, b)


class Neg(Function):
    """out = -a ;  da = -g"""
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


def neg(a):
    return Neg.apply(a)


class Pow(Function):
    """out = a ** p for a constant p ;  da = g * p * a^(p-1)"""
    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        return a ** p

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        p = ctx.p
        if p == 0:  # a ** -1 below would be inf at a = 0
            return array_module(g).zeros_like(a), None
        return g * (p * a ** (p - 1)), None


def pow(a, exponent):
    if isinstance(exponent, Tensor):
        raise TypeError("pow: only a constant (Python number) exponent is supported; "
                        "for a tensor exponent use exp(b * log(a))")
    return Pow.apply(a, exponent)


# ---- math functions -------------------------------------------------------------------
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


def exp(a):
    return Exp.apply(a)


class Log(Function):
    """out = log(a) ;  da = g / a"""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_module(a).log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


def log(a):
    return Log.apply(a)


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


def sqrt(a):
    return Sqrt.apply(a)


class Abs(Function):
    """out = |a| ;  da = g * sign(a)"""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_module(a).abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * array_module(g).sign(ctx.saved_tensors[0])


def abs(a):
    return Abs.apply(a)


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


def tanh(a):
    return Tanh.apply(a)


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


def sigmoid(a):
    return Sigmoid.apply(a)


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


def relu(a):
    return ReLU.apply(a)


class Clamp(Function):
    """out = min(max(a, low), high) ;  da = g where low <= a <= high, else 0"""
    @staticmethod
    def forward(ctx, a, low, high):
        ctx.save_for_backward(a)
        ctx.bounds = low, high
        return array_module(a).clip(a, low, high)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        low, high = ctx.bounds
        if low is not None:
            g = g * (a >= low)
        if high is not None:
            g = g * (a <= high)
        return g, None, None


def clamp(a, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(a, min, max)


clip = clamp


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


def maximum(a, b):
    return binary(Maximum, a, b)


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


def minimum(a, b):
    return binary(Minimum, a, b)


def _split_by_winner(ctx, g, a_wins, a, b):
    ga = array_module(g).where(a == b, g * 0.5, g * a_wins)
    need_a, need_b = ctx.needs_input_grad
    return (unbroadcast(ga, shape_of(a)) if need_a else None,
            unbroadcast(g - ga, shape_of(b)) if need_b else None)
