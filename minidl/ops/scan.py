"""Scans along one dim: cumsum, cumprod, cummax, cummin, logcumsumexp.

Each output entry i depends on the entries 0..i of its input, so each backward is a
scan in the other direction: for cumsum, da_k = sum over i >= k of g_i.
"""

from collections import namedtuple

import numpy

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import check_dim
from .gather import Gather
from .shape import dim_alias


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _reverse_cumsum(g, axis):
    """sum over i >= k of g_i, for each k along ``axis``."""
    xp = array_module(g)
    return xp.flip(CumSum.apply(xp.flip(g, axis), axis), axis)


class CumSum(Function):
    """out_i = sum over j <= i of a_j ;  da_k = sum over i >= k of g_i"""

    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        return array_module(a).cumsum(a, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return _reverse_cumsum(g, ctx.axis), None


def _accumulate(name, data, axis):
    """``getattr(xp, name).accumulate(data, axis)``: NumPy's own, else (CuPy has it only for
    add and multiply) a doubling scan, log2(n) elementwise steps over shifted copies."""
    xp = array_module(data)
    if xp is numpy:
        return getattr(numpy, name).accumulate(data, axis=axis)
    return _doubling_scan(getattr(xp, name), data, axis)


def _doubling_scan(op, data, axis):
    """Inclusive scan of the associative ``op`` along ``axis`` (Hillis and Steele): after
    the step with shift s, entry i combines entries i - 2s + 1 .. i."""
    out = data
    n, shift = data.shape[axis], 1
    lead = (slice(None),) * (axis % data.ndim)
    while shift < n:
        step = out.copy()
        step[lead + (slice(shift, None),)] = op(
            out[lead + (slice(shift, None),)], out[lead + (slice(None, n - shift),)]
        )
        out, shift = step, shift * 2
    return out


def _scan_dim(a, dim, numpy_names, name):
    dim = dim_alias(dim, numpy_names, name)
    if dim is None:
        raise TypeError(f"{name}() missing 1 required argument: 'dim'")
    axis = check_dim(dim, a.ndim)  # a 0-d tensor takes dim 0 or -1, as in PyTorch
    return axis if a.ndim else None


def _scan_input(a, dtype):
    """PyTorch's dtype for a sum-like scan: integers and bools accumulate in int64."""
    if dtype is not None:
        return a.to(dtype=dtype)
    if a.dtype.kind in "biu":
        return Tensor._make(a.data.astype(numpy.int64), None)
    return a


def _scan(fn, a, axis):
    """``fn.apply(a, axis)``; float16 accumulates in float32 and rounds once at the end, as
    PyTorch (float16 running sums stall: 2048 + 1 is 2048 in float16)."""
    if axis is None:  # a 0-d tensor
        return a.reshape(())
    if a.data.dtype.char == "e":  # float16
        return fn.apply(a.float(), axis).half()
    return fn.apply(a, axis)


def cumsum(a, dim=None, dtype=None, **numpy_names):
    """Running sums along ``dim``."""
    axis = _scan_dim(a, dim, numpy_names, "cumsum")
    return _scan(CumSum, _scan_input(a, dtype), axis)


class CumProd(Function):
    """out_i = product over j <= i of a_j
    da_k = sum over i >= k of g_i * (product over j <= i, j != k of a_j), which is
    reverse_cumsum(g * out)_k / a_k when no a_j is zero"""

    @staticmethod
    def forward(ctx, a, axis):
        out = array_module(a).cumprod(a, axis=axis)
        ctx.save_for_backward(a, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        if not (_data(a) == 0).any():
            return _reverse_cumsum(g * out, ctx.axis) / a, None
        if not isinstance(g, Tensor):
            return _cumprod_grad_with_zeros(a, out, g, ctx.axis), None
        # create_graph with zeros: row k of an (n, n) table holds a with a_k replaced by 1;
        # its running products are the products over j <= i, j != k (differentiable).
        xp = array_module(g)
        axis, n = ctx.axis, a.shape[ctx.axis]
        moved_a, moved_g = xp.swapaxes(a, axis, -1), xp.swapaxes(g, axis, -1)
        lead = moved_a.shape[:-1]
        rows = xp.broadcast_to(moved_a.reshape(lead + (1, n)), lead + (n, n))
        eye = numpy.eye(n, dtype=bool)
        upper = numpy.triu(numpy.ones((n, n), dtype=bool))  # i >= k
        if xp is not numpy and not isinstance(g, Tensor):
            eye, upper = xp.asarray(eye), xp.asarray(upper)
        partial = CumProd.apply(xp.where(eye, 1, rows), len(lead) + 1)
        terms = xp.where(upper, partial * moved_g.reshape(lead + (1, n)), 0)
        return xp.swapaxes(terms.sum(axis=-1), axis, -1), None


def _cumprod_grad_with_zeros(a, out, g, axis):
    """CumProd's gradient on arrays with zeros, in O(n) per slice. With z the first zero:
    entries before z get reverse_cumsum(g out)_k / a_k summed over i < z only (later
    products hold a_z = 0); entry z gets (product of a_j, j < z) times the sum over i >= z
    of g_i (product of a_j, z < j <= i); entries after z get 0."""
    xp = array_module(a)
    a, out, g = (xp.moveaxis(x, axis, -1) for x in (a, out, g))
    n = a.shape[-1]
    positions = xp.arange(n)
    zero = a == 0
    first = xp.where(zero.any(axis=-1), zero.argmax(axis=-1), n)[..., None]
    before = positions < first
    partial = xp.flip(xp.cumsum(xp.flip(xp.where(before, g * out, 0), -1), axis=-1), -1)
    grad = xp.where(before, partial / xp.where(before, a, 1), 0)
    prefix = xp.take_along_axis(out, xp.maximum(first - 1, 0), axis=-1)
    prefix = xp.where(first == 0, 1, prefix)
    after = xp.cumprod(xp.where(positions <= first, 1, a), axis=-1)
    total = xp.where(positions >= first, g * after, 0).sum(axis=-1, keepdims=True)
    grad = xp.where(positions == first, prefix * total, grad)
    return xp.moveaxis(grad, -1, axis)


def cumprod(a, dim=None, dtype=None, **numpy_names):
    """Running products along ``dim`` (gradients exact with zeros in the input)."""
    axis = _scan_dim(a, dim, numpy_names, "cumprod")
    return _scan(CumProd, _scan_input(a, dtype), axis)


CumResult = namedtuple("CumResult", ["values", "indices"])


def _cumulative_extreme(a, dim, numpy_names, name, better):
    axis = _scan_dim(a, dim, numpy_names, name)
    if axis is None:
        return CumResult(
            a.reshape(()), Tensor._make(array_module(a.data).zeros((), dtype=numpy.int64), None)
        )
    xp = array_module(a.data)
    data = a.data
    running = _accumulate(better, data, axis)
    shape = [1] * a.ndim
    shape[axis] = a.shape[axis]
    positions = xp.arange(a.shape[axis]).reshape(shape)
    # the latest position where the running extreme was reached (PyTorch's tie rule); a
    # NaN is an extreme that stays (NumPy's running max propagates it), as in PyTorch
    reached = data == running
    if data.dtype.kind in "fc":
        reached |= xp.isnan(data)
    reached = xp.where(reached, positions, 0)
    indices = _accumulate("maximum", reached, axis).astype(numpy.int64)
    values = Gather.apply(a, axis, indices)
    return CumResult(values, Tensor._make(indices, None))


def cummax(a, dim=None, **numpy_names):
    """``(values, indices)``: the running max along ``dim`` and where it was reached
    (the latest position on ties); values are differentiable."""
    return _cumulative_extreme(a, dim, numpy_names, "cummax", "maximum")


def cummin(a, dim=None, **numpy_names):
    """``(values, indices)``: the running min along ``dim``; see :func:`cummax`."""
    return _cumulative_extreme(a, dim, numpy_names, "cummin", "minimum")


class LogCumSumExp(Function):
    """out_i = log(sum over j <= i of exp(a_j)), accumulated with logaddexp (stable)
    da_k = sum over i >= k of g_i exp(a_k - out_i). On arrays, as PyTorch, g is split
    into its positive and negative parts, each summed in log space (stable for any
    spread): da = exp(a + rlcse(log g+ - out)) - exp(a + rlcse(log g- - out)), rlcse the
    reversed logcumsumexp. Under create_graph the same sum is written with a constant
    shift s = max(out), da = exp(a - s) reverse_cumsum(g exp(s - out)), which has no
    log(0) to differentiate."""

    @staticmethod
    def forward(ctx, a, axis):
        out = _accumulate("logaddexp", a, axis)
        ctx.save_for_backward(a, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        xp = array_module(g)
        axis = ctx.axis
        if isinstance(g, Tensor):
            shift = Tensor._make(out.data.max(axis=axis, keepdims=True), None)
            return xp.exp(a - shift) * _reverse_cumsum(g * xp.exp(shift - out), axis), None
        with numpy.errstate(divide="ignore"):  # log(0) = -inf is meant
            parts = [
                xp.flip(LogCumSumExp.apply(xp.flip(xp.log(part) - out, axis), axis), axis)
                for part in (xp.where(g > 0, g, 0), xp.where(g < 0, -g, 0))
            ]
        return xp.exp(a + parts[0]) - xp.exp(a + parts[1]), None


def logcumsumexp(a, dim=None, **numpy_names):
    """log(cumsum(exp(a))) along ``dim``, computed without overflow or underflow."""
    axis = _scan_dim(a, dim, numpy_names, "logcumsumexp")
    if a.dtype.kind not in "fc":  # as PyTorch, which has no integer kernel for it
        raise TypeError(f"logcumsumexp: expected a floating point tensor, got {a.dtype}")
    return LogCumSumExp.apply(a, axis) if axis is not None else a.reshape(())
