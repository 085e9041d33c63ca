"""Reductions over axes, and softmax along one: each Function with its wrapper below it."""
from collections import namedtuple

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import dim_args, expand_reduced, normalize_dims


class Sum(Function):
    """out = sum of a over axes ;  da = g broadcast back over those axes"""
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return expand_reduced(g, ctx.axes, ctx.keepdim, ctx.shape), None, None


def sum(a, dim=None, keepdim=False, **numpy_names):
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    return Sum.apply(a, normalize_dims(dim, a.ndim), keepdim)


class Mean(Function):
    """out = sum of a over axes / n ;  da = g / n broadcast back"""
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return a.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        count = 1
        for ax in ctx.axes:
            count *= ctx.shape[ax]
        return expand_reduced(g / count, ctx.axes, ctx.keepdim, ctx.shape), None, None


def mean(a, dim=None, keepdim=False, **numpy_names):
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    return Mean.apply(a, normalize_dims(dim, a.ndim), keepdim)


class Amax(Function):
    """out = max of a over axes ;  g is shared equally by the elements equal to the max"""
    reduce = "max"

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        out = getattr(a, ctx.reduce)(axis=axes, keepdims=keepdim)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        xp = array_module(g)
        if not ctx.keepdim:
            out, g = xp.expand_dims(out, ctx.axes), xp.expand_dims(g, ctx.axes)
        winners = (a == out).astype(g.dtype)
        return g * (winners / winners.sum(axis=ctx.axes, keepdims=True)), None, None


def amax(a, dim=None, keepdim=False, **numpy_names):
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    return Amax.apply(a, normalize_dims(dim, a.ndim), keepdim)


class Amin(Amax):
    """out = min of a over axes ;  g is shared equally by the elements equal to the min"""
    reduce = "min"


def amin(a, dim=None, keepdim=False, **numpy_names):
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    return Amin.apply(a, normalize_dims(dim, a.ndim), keepdim)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def max(a, dim=None, keepdim=False, **numpy_names):
    """Like torch.max: the overall max as a 0-d tensor, or with ``dim`` the pair
    ``(values, indices)``. For the values alone along an axis use :func:`amax`."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dim is None:
        return amax(a)
    return MaxResult(amax(a, dim, keepdim), argmax(a, dim, keepdim))


def min(a, dim=None, keepdim=False, **numpy_names):
    """Like torch.min; see :func:`max`."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dim is None:
        return amin(a)
    return MaxResult(amin(a, dim, keepdim), argmin(a, dim, keepdim))


def argmax(a, dim=None, keepdim=False, **numpy_names):
    """Indices of the maxima (not differentiable)."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dim is not None:
        (dim,) = normalize_dims(dim, a.ndim) or (None,)
    out = a.data.argmax(axis=dim, keepdims=keepdim if dim is not None else False)
    return Tensor(array_module(a.data).asarray(out))


def argmin(a, dim=None, keepdim=False, **numpy_names):
    """Indices of the minima (not differentiable)."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dim is not None:
        (dim,) = normalize_dims(dim, a.ndim) or (None,)
    out = a.data.argmin(axis=dim, keepdims=keepdim if dim is not None else False)
    return Tensor(array_module(a.data).asarray(out))


# ---- softmax along one axis -------------------------------------------------------------
class LogSoftmax(Function):
    """out = a - logsumexp(a) along an axis (shifted by the max, so it never overflows)
    da = g - softmax(a) * sum(g)"""
    @staticmethod
    def forward(ctx, a, axis):
        xp = array_module(a)
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return g - array_module(g).exp(out) * g.sum(axis=ctx.axis, keepdims=True), None


def log_softmax(a, dim=-1, **numpy_names):
    dim, _ = dim_args(dim, False, numpy_names)
    (axis,) = normalize_dims(dim, a.ndim) or (None,)
    return LogSoftmax.apply(a, axis)


class Softmax(Function):
    """out = exp(a) / sum(exp(a)) along an axis ;  da = out * (g - sum(g * out))"""
    @staticmethod
    def forward(ctx, a, axis):
        xp = array_module(a)
        out = xp.exp(a - a.max(axis=axis, keepdims=True))
        out /= out.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return out * (g - (g * out).sum(axis=ctx.axis, keepdims=True)), None


def softmax(a, dim=-1, **numpy_names):
    dim, _ = dim_args(dim, False, numpy_names)
    (axis,) = normalize_dims(dim, a.ndim) or (None,)
    return Softmax.apply(a, axis)
