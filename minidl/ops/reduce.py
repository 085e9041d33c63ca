"""Reductions over axes, and softmax along one: each Function with its wrapper below it."""

import warnings
from collections import namedtuple

import numpy

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import check_dim, dim_args, expand_reduced, normalize_dims


def _axes(dim, ndim):
    """The axes a reduction over ``dim`` covers: :func:`normalize_dims`, except that an
    empty list or tuple means every dim, as in PyTorch (``x.sum(dim=[])`` is ``x.sum()``)."""
    axes = normalize_dims(dim, ndim)
    if not axes and ndim:  # only an empty dim list gets here
        return tuple(range(ndim))
    return axes


def _one_dim(a, dim):
    """The single axis ``dim`` of ``a`` for argmax, softmax, ...: an int in range (PyTorch's
    IndexError or TypeError otherwise); None for a 0-d tensor."""
    axis = check_dim(dim, a.ndim)
    return axis if a.ndim else None


def _along_one_dim(fn, name, a, dim, dtype, numpy_names):
    """``fn.apply(a, axis)`` for softmax and log_softmax, as in PyTorch: ``dim`` one int,
    ``a`` floating point (cast to ``dtype`` first if given); float16 is computed in
    float32 and rounded once at the end. Without ``dim``, PyTorch's deprecated implicit
    choice, with its warning: dim 0 of a 0-, 1- or 3-d input, else dim 1."""
    dim, _ = dim_args(dim, False, numpy_names)
    if dim is None:
        dim = 0 if a.ndim in (0, 1, 3) else 1
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. Change the call to "
            f"include dim={dim} as an argument.",
            UserWarning,
            stacklevel=3,
        )
    if dtype is not None:
        a = a.to(dtype=dtype)
    data_type = a.data.dtype
    if data_type.kind not in "fc":
        raise TypeError(f"{name}: expected a floating point tensor, got {data_type}")
    axis = _one_dim(a, dim)
    if data_type.char == "e":  # float16
        return fn.apply(a.float(), axis).half()
    return fn.apply(a, axis)


class Sum(Function):
    """out = sum of a over axes ;  da = g broadcast back over those axes"""

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return expand_reduced(g, ctx.axes, ctx.keepdim, ctx.shape), None, None


def sum(a, dim=None, keepdim=False, *, dtype=None, **numpy_names):
    """The sum over ``dim`` (every dim without it), computed in ``dtype`` if given."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dtype is not None:
        a = a.to(dtype=dtype)
    return Sum.apply(a, _axes(dim, a.ndim), keepdim)


class Mean(Function):
    """out = sum of a over axes / n ;  da = g / n broadcast back"""

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        if a.dtype.kind not in "fc":  # NumPy would give float64, PyTorch refuses
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a "
                f"floating point or complex dtype. Got: {a.dtype}"
            )
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return a.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        count = 1
        for ax in ctx.axes:
            count *= ctx.shape[ax]
        return expand_reduced(g / count, ctx.axes, ctx.keepdim, ctx.shape), None, None


def mean(a, dim=None, keepdim=False, *, dtype=None, **numpy_names):
    """The mean over ``dim``, computed in ``dtype`` if given; floating point only, as in
    PyTorch (integers and booleans need ``dtype=`` or ``.float()``)."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dtype is not None:
        a = a.to(dtype=dtype)
    return Mean.apply(a, _axes(dim, a.ndim), keepdim)


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
    return Amax.apply(a, _axes(dim, a.ndim), keepdim)


class Amin(Amax):
    """out = min of a over axes ;  g is shared equally by the elements equal to the min"""

    reduce = "min"


def amin(a, dim=None, keepdim=False, **numpy_names):
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    return Amin.apply(a, _axes(dim, a.ndim), keepdim)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def max(a, dim=None, keepdim=False, **numpy_names):
    """Like torch.max: the overall max as a 0-d tensor, or with ``dim`` the pair
    ``(values, indices)``. For the values alone along an axis use :func:`amax`."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dim is None:
        return amax(a)
    return MaxResult(amax(a, dim, keepdim), _indices("argmax", a, dim, keepdim))


def min(a, dim=None, keepdim=False, **numpy_names):
    """Like torch.min; see :func:`max`."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dim is None:
        return amin(a)
    return MaxResult(amin(a, dim, keepdim), _indices("argmin", a, dim, keepdim))


def _indices(name, a, dim, keepdim):
    """``a.data.argmax`` / ``argmin`` along the one dim ``dim`` (None: overall)."""
    if dim is not None:
        dim = _one_dim(a, dim)
    out = getattr(a.data, name)(axis=dim, keepdims=keepdim if dim is not None else False)
    return Tensor(array_module(a.data).asarray(out))


def _arg(name, a, dim, keepdim, numpy_names):
    """argmax/argmin: booleans are refused, as in PyTorch (``max(dim=)`` takes them)."""
    if a.dtype.kind == "b":
        raise RuntimeError(f"{name}(): does not support bool input")
    return _indices(name, a, *dim_args(dim, keepdim, numpy_names))


def argmax(a, dim=None, keepdim=False, **numpy_names):
    """Indices of the maxima (not differentiable); ``dim`` one int or None (overall)."""
    return _arg("argmax", a, dim, keepdim, numpy_names)


def argmin(a, dim=None, keepdim=False, **numpy_names):
    """Indices of the minima (not differentiable); ``dim`` one int or None (overall)."""
    return _arg("argmin", a, dim, keepdim, numpy_names)


# ---- softmax along one axis -------------------------------------------------------------
class LogSoftmax(Function):
    """out = a - logsumexp(a) along an axis (shifted by the max, so it never overflows)
    da = g - softmax(a) * sum(g)"""

    @staticmethod
    def forward(ctx, a, axis):
        xp = array_module(a)
        try:
            shifted = a - a.max(axis=axis, keepdims=True)
        except ValueError:  # an empty axis (no max): nothing to normalise, as PyTorch
            out = a.copy()
        else:
            out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return g - array_module(g).exp(out) * g.sum(axis=ctx.axis, keepdims=True), None


def log_softmax(a, dim=None, *, dtype=None, **numpy_names):
    return _along_one_dim(LogSoftmax, "log_softmax", a, dim, dtype, numpy_names)


class Softmax(Function):
    """out = exp(a) / sum(exp(a)) along an axis ;  da = out * (g - sum(g * out))"""

    @staticmethod
    def forward(ctx, a, axis):
        xp = array_module(a)
        try:
            out = xp.exp(a - a.max(axis=axis, keepdims=True))
        except ValueError:  # an empty axis (no max): nothing to normalise, as PyTorch
            out = a.copy()
        else:
            out /= out.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return out * (g - (g * out).sum(axis=ctx.axis, keepdims=True)), None


def softmax(a, dim=None, *, dtype=None, **numpy_names):
    return _along_one_dim(Softmax, "softmax", a, dim, dtype, numpy_names)


# ---- products, spreads, norms ----------------------------------------------------------
def _data(x):
    return x.data if isinstance(x, Tensor) else x


class Prod(Function):
    """out = product of a over axes ;  da = g * (product of the other entries): g out / a
    without zeros; with zeros, computed without dividing by them (see
    :func:`_product_of_others`)"""

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        out = a.prod(axis=axes, keepdims=keepdim)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        g = expand_reduced(g, ctx.axes, ctx.keepdim, a.shape)
        if not (_data(a) == 0).any():
            return g * expand_reduced(out, ctx.axes, ctx.keepdim, a.shape) / a, None, None
        if isinstance(g, Tensor):  # create_graph: a form that differentiates again
            return g * _product_of_others(a, ctx.axes), None, None
        return g * _product_of_others_with_zeros(a, ctx.axes), None, None


def _product_of_others_with_zeros(a, axes):
    """For each entry of ``a`` (an array), the product of the other entries of its group
    over ``axes``, in O(n): with no zero in the group it is prod / a; with one zero, the
    product of the non-zeros at the zero and 0 elsewhere; with more, 0 everywhere."""
    xp = array_module(a)
    zero = a == 0
    zeros = zero.sum(axis=axes, keepdims=True)
    nonzero_product = xp.where(zero, 1, a).prod(axis=axes, keepdims=True)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        quotient = nonzero_product / a
    return xp.where(zeros == 0, quotient, xp.where((zeros == 1) & zero, nonzero_product, 0))


def _product_of_others(a, axes):
    """The same for a Tensor, built from differentiable ops so that it differentiates
    again: an (n, n) table per group with ones on the diagonal, multiplied out."""
    xp = array_module(a)
    rest = [d for d in range(a.ndim) if d not in axes]
    order = rest + list(axes)
    moved = xp.transpose(a, order)
    kept = moved.shape[: len(rest)]
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    flat = moved.reshape(kept + (1, n))
    eye = numpy.eye(n, dtype=bool)
    if xp is not numpy and not isinstance(a, Tensor):
        eye = xp.asarray(eye)
    table = xp.where(eye, 1, xp.broadcast_to(flat, kept + (n, n)))
    others = Prod.apply(table, (len(kept) + 1,), False)
    return xp.transpose(others.reshape(moved.shape), tuple(numpy.argsort(order).tolist()))


def prod(a, dim=None, keepdim=False, dtype=None, **numpy_names):
    """Product over ``dim`` (all entries without it); integer and bool inputs give int64."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dtype is not None:
        a = a.to(dtype=dtype)
    elif a.dtype.kind in "biu":
        a = Tensor._make(a.data.astype(numpy.int64), None)
    return Prod.apply(a, _axes(dim, a.ndim), keepdim)


def _correction(unbiased, correction):
    if unbiased is not None and correction is not None:
        raise RuntimeError("var/std: give at most one of unbiased and correction")
    if correction is None:
        return 1 if unbiased is None or unbiased else 0
    return correction


def _var_and_mean(a, dim, unbiased, keepdim, correction, numpy_names):
    if isinstance(dim, bool):  # var(x, False): the legacy positional `unbiased`
        dim, unbiased = None, dim
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if a.dtype.kind not in "fc":
        raise RuntimeError(f"var/std only support floating point and complex dtypes, got {a.dtype}")
    if a.data.dtype.char == "e":  # float16: computed in float32, as PyTorch (n may not fit)
        var_, mean_ = _var_and_mean(a.float(), dim, unbiased, keepdim, correction, {})
        return var_.half(), mean_.half()
    axes = _axes(dim, a.ndim)
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    divisor = count - _correction(unbiased, correction)
    mean_ = mean(a, axes, keepdim=True)
    centred = a - mean_
    squares = sum(centred * centred, axes, keepdim)
    if divisor > 0:
        var_ = squares / divisor
    else:  # like PyTorch: nothing left to divide by gives inf, or nan for 0 / 0
        with numpy.errstate(divide="ignore", invalid="ignore"):
            var_ = squares / 0.0
    return var_, mean_ if keepdim else mean_.reshape(var_.shape)


def var(a, dim=None, unbiased=None, keepdim=False, *, correction=None, **numpy_names):
    """sum((a - mean)^2) / (n - correction) over ``dim``; correction 1 (Bessel's) unless
    ``unbiased=False`` or ``correction=`` says otherwise."""
    return _var_and_mean(a, dim, unbiased, keepdim, correction, numpy_names)[0]


class StdOfVar(Function):
    """out = var^(1/2) ;  dvar = g var^(-1/2) / 2, and 0 where var = 0 (as PyTorch's std:
    an input whose entries are all equal gets a zero gradient, not 0 * inf = nan)"""

    @staticmethod
    def forward(ctx, var_):
        ctx.save_for_backward(var_)
        return var_**0.5

    @staticmethod
    def backward(ctx, g):
        (var_,) = ctx.saved_tensors
        xp = array_module(g)
        zero = var_ == 0
        return xp.where(zero, 0, g * (0.5 * xp.where(zero, 1, var_) ** -0.5))


def std(a, dim=None, unbiased=None, keepdim=False, *, correction=None, **numpy_names):
    """sqrt of :func:`var`."""
    return _std_and_mean(a, dim, unbiased, keepdim, correction, numpy_names)[0]


def var_mean(a, dim=None, unbiased=None, keepdim=False, *, correction=None, **numpy_names):
    """``(var, mean)`` over ``dim`` in one pass."""
    return _var_and_mean(a, dim, unbiased, keepdim, correction, numpy_names)


def std_mean(a, dim=None, unbiased=None, keepdim=False, *, correction=None, **numpy_names):
    """``(std, mean)`` over ``dim`` in one pass."""
    return _std_and_mean(a, dim, unbiased, keepdim, correction, numpy_names)


def _std_and_mean(a, dim, unbiased, keepdim, correction, numpy_names):
    """float16 takes its square root in float32 too, as PyTorch (one rounding, not two)."""
    half = a.data.dtype.char == "e"  # float16
    var_, mean_ = _var_and_mean(
        a.float() if half else a, dim, unbiased, keepdim, correction, numpy_names
    )
    std_ = StdOfVar.apply(var_)
    return (std_.half(), mean_.half()) if half else (std_, mean_)


def logsumexp(a, dim=None, keepdim=False, **numpy_names):
    """log(sum(exp(a))) over ``dim``, shifted by the max so that it never overflows."""
    from .. import ops

    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if a.dtype.kind not in "fc":
        a = a.to(dtype=numpy.float32)
    axes = _axes(dim, a.ndim)
    xp = array_module(a.data)
    shift = a.data.max(axis=axes, keepdims=True) if a.numel() else xp.zeros((1,) * a.ndim)
    shift = Tensor._make(xp.where(xp.isfinite(shift), shift, 0).astype(a.dtype), None)
    with numpy.errstate(divide="ignore"):  # all -inf: log(0) = -inf is the answer
        out = ops.log(sum(ops.exp(a - shift), axes, keepdim=True)) + shift
    return out if keepdim else out.reshape([n for d, n in enumerate(out.shape) if d not in axes])


class PNorm(Function):
    """out = (sum |a|^p)^(1/p) over axes ;  da = g sign(a) |a|^(p-1) / out^(p-1)
    (0 where out = 0, as PyTorch)"""

    @staticmethod
    def forward(ctx, a, p, axes, keepdim):
        xp = array_module(a)
        if p == 2:
            out = xp.sqrt((a * a).sum(axis=axes, keepdims=keepdim))
        else:
            out = (xp.abs(a) ** p).sum(axis=axes, keepdims=keepdim) ** (1 / p)
        ctx.save_for_backward(a, out)
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        xp = array_module(g)
        p = ctx.p
        g = expand_reduced(g, ctx.axes, ctx.keepdim, a.shape)
        out = expand_reduced(out, ctx.axes, ctx.keepdim, a.shape)
        safe = xp.where(out == 0, 1, out)
        if p == 2:
            slope = a / safe
        else:
            slope = xp.sign(a) * xp.abs(a) ** (p - 1) / safe ** (p - 1)
        return xp.where(out == 0, 0, g * slope), None, None, None


def norm(a, p="fro", dim=None, keepdim=False, dtype=None, **numpy_names):
    """The p-norm over ``dim`` (all entries without it): p a number, inf, -inf, 0 (the
    count of non-zeros) or "fro" (2). Matrix norms other than Frobenius are not
    supported."""
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    if dtype is not None:
        a = a.to(dtype=dtype)
    if a.dtype.kind not in "fc":
        raise RuntimeError(f"norm: expected a floating point tensor, got {a.dtype}")
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise ValueError(f"norm: p={p!r} is not supported (use a number, inf, -inf or 'fro')")
    axes = _axes(dim, a.ndim)
    if p < 0 and 0 in (a.shape[ax] for ax in axes):
        raise RuntimeError(
            f"norm: cannot compute the {p} norm over an empty dimension (no identity)"
        )
    if p in (numpy.inf, -numpy.inf):
        from .. import ops

        extreme = amax if p > 0 else amin
        return extreme(ops.abs(a), axes, keepdim) if a.ndim else ops.abs(a)
    if p == 0:
        counts = (a.data != 0).sum(axis=axes, keepdims=keepdim).astype(a.dtype)
        return Tensor._make(array_module(a.data).asarray(counts), None)
    return PNorm.apply(a, float(p), axes, keepdim)


# ---- logical reductions (no gradient) --------------------------------------------------
def _logical(name, a, dim, keepdim, numpy_names):
    dim, keepdim = dim_args(dim, keepdim, numpy_names)
    axes = normalize_dims(dim, a.ndim)
    out = getattr(a.data.astype(bool), name)(axis=axes, keepdims=keepdim)
    return Tensor._make(array_module(a.data).asarray(out), None)


def any(a, dim=None, keepdim=False, **numpy_names):
    """True where any entry over ``dim`` is non-zero."""
    return _logical("any", a, dim, keepdim, numpy_names)


def all(a, dim=None, keepdim=False, **numpy_names):
    """True where every entry over ``dim`` is non-zero."""
    return _logical("all", a, dim, keepdim, numpy_names)


def count_nonzero(a, dim=None, **numpy_names):
    """The number of non-zero entries over ``dim`` (int64)."""
    dim, _ = dim_args(dim, False, numpy_names)
    axes = _axes(dim, a.ndim)
    out = (a.data != 0).sum(axis=axes).astype(numpy.int64)
    return Tensor._make(array_module(a.data).asarray(out), None)
