"""Differentiable primitives. Each is a :class:`~minidl.autograd.Function`: the forward
math, then its backward (the vector-Jacobian product) right below it.

Notation in the docstrings: ``g`` is the gradient of the loss with respect to the
op's output; each backward returns the gradient with respect to each input.
Binary ops broadcast like NumPy; their backward sums ``g`` over the broadcast axes
(:func:`unbroadcast`) so every gradient has its input's shape.
"""
from collections import namedtuple

import numpy

from . import backend
from .autograd import Function
from .tensor import Tensor

xpof = backend.array_module


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _shape(x):
    return x.shape if hasattr(x, "shape") else ()


def _xp2(a, b):
    """The array module of a binary op whose first operand may be a Python number."""
    return xpof(b if isinstance(a, (int, float)) else a)


# ---- elementwise arithmetic ------------------------------------------------------------
class Add(Function):
    """out = a + b ;  da = g, db = g"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = _shape(a), _shape(b)
        return a + b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g, ctx.shapes[0]) if need_a else None,
                unbroadcast(g, ctx.shapes[1]) if need_b else None)


class Sub(Function):
    """out = a - b ;  da = g, db = -g"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = _shape(a), _shape(b)
        return a - b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g, ctx.shapes[0]) if need_a else None,
                unbroadcast(-g, ctx.shapes[1]) if need_b else None)


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
        return (unbroadcast(g * b, _shape(a)) if need_a else None,
                unbroadcast(g * a, _shape(b)) if need_b else None)


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
        return (unbroadcast(g / b, _shape(a)) if need_a else None,
                unbroadcast(-g * a / (b * b), _shape(b)) if need_b else None)


class Neg(Function):
    """out = -a ;  da = -g"""
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


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
            return xpof(g).zeros_like(a), None
        return g * (p * a ** (p - 1)), None


class MatMul(Function):
    """out = a @ b (1-D, 2-D and batched, like numpy.matmul)
    da = g @ b^T, db = a^T @ g, summed over broadcast batch axes."""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError as exc:
            raise ValueError(f"matmul: shapes {tuple(_shape(a))} and {tuple(_shape(b))} "
                             f"cannot be multiplied ({exc})") from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = xpof(g)
        # Treat 1-D operands as a row (a) or a column (b), as matmul itself does
        # (b first: for 1-D @ 1-D, g is 0-d and becomes (1,) then (1, 1)).
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        need_a, need_b = ctx.needs_input_grad
        da = db = None
        if need_a:
            da = unbroadcast(g @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            db = unbroadcast(xp.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)
        return da, db


# ---- elementwise math ---------------------------------------------------------------
class Exp(Function):
    """out = exp(a) ;  da = g * out"""
    @staticmethod
    def forward(ctx, a):
        out = xpof(a).exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


class Log(Function):
    """out = log(a) ;  da = g / a"""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xpof(a).log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


class Sqrt(Function):
    """out = sqrt(a) ;  da = g / (2 out)"""
    @staticmethod
    def forward(ctx, a):
        out = xpof(a).sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.saved_tensors[0])


class Abs(Function):
    """out = |a| ;  da = g * sign(a)"""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xpof(a).abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * xpof(g).sign(ctx.saved_tensors[0])


class Tanh(Function):
    """out = tanh(a) ;  da = g * (1 - out^2)"""
    @staticmethod
    def forward(ctx, a):
        out = xpof(a).tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return g * (1 - out * out)


class Sigmoid(Function):
    """out = 1 / (1 + exp(-a)) ;  da = g * out * (1 - out)
    With e = exp(-|a|), which never overflows: out = 1 / (1 + e) for a >= 0 and
    e / (1 + e) for a < 0, so tiny outputs (a << 0) keep their relative precision."""
    @staticmethod
    def forward(ctx, a):
        xp = xpof(a)
        e = xp.exp(-xp.abs(a))
        out = 1 / (1 + e)
        out = xp.where(a >= 0, out, e * out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return g * out * (1 - out)


class ReLU(Function):
    """out = max(a, 0) ;  da = g where a > 0, else 0"""
    @staticmethod
    def forward(ctx, a):
        out = xpof(a).maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * (ctx.saved_tensors[0] > 0)


class Clamp(Function):
    """out = min(max(a, low), high) ;  da = g where low <= a <= high, else 0"""
    @staticmethod
    def forward(ctx, a, low, high):
        ctx.save_for_backward(a)
        ctx.bounds = low, high
        return xpof(a).clip(a, low, high)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = xpof(a).ones_like(a, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        return g * inside, None, None


class Maximum(Function):
    """out = max(a, b) elementwise ;  g goes to the larger input (to a on ties)"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _xp2(a, b).maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a_wins = a >= b
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g * a_wins, _shape(a)) if need_a else None,
                unbroadcast(g * ~a_wins, _shape(b)) if need_b else None)


class Minimum(Function):
    """out = min(a, b) elementwise ;  g goes to the smaller input (to a on ties)"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _xp2(a, b).minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a_wins = a <= b
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g * a_wins, _shape(a)) if need_a else None,
                unbroadcast(g * ~a_wins, _shape(b)) if need_b else None)


# ---- reductions ---------------------------------------------------------------------
def _axes(dim, ndim):
    """``dim`` (None, an int or a sequence, negative counts from the end) as sorted axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if ndim == 0 and all(d in (0, -1) for d in dims):
        return ()  # like PyTorch, dim 0 / -1 of a 0-d tensor is the tensor itself
    if not all(-ndim <= d < ndim for d in dims):
        raise IndexError(f"dim {dim} is out of range for a tensor with {ndim} dimensions")
    axes = sorted(d % ndim for d in dims)
    if len(set(axes)) != len(axes):
        raise ValueError(f"dim {dim} repeats an axis")
    return tuple(axes)


def _expand_to(g, axes, keepdim, shape):
    """Broadcast a reduced gradient back to the input's shape (a read-only view)."""
    xp = xpof(g)
    if not keepdim and axes:
        g = xp.expand_dims(g, axes)
    return xp.broadcast_to(g, shape)


class Sum(Function):
    """out = sum of a over axes ;  da = g broadcast back over those axes"""
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _expand_to(g, ctx.axes, ctx.keepdim, ctx.shape), None, None


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
        return _expand_to(g / count, ctx.axes, ctx.keepdim, ctx.shape), None, None


class Amax(Function):
    """out = max of a over axes ;  g is shared equally by the elements equal to the max"""
    reduce = "max"

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        kept = getattr(a, ctx.reduce)(axis=axes, keepdims=True)
        ctx.save_for_backward(a, kept)
        ctx.axes, ctx.keepdim = axes, keepdim
        return kept if keepdim else kept.reshape(
            [n for i, n in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        a, kept = ctx.saved_tensors
        share = (a == kept).astype(a.dtype)
        share /= share.sum(axis=ctx.axes, keepdims=True)
        g = g if ctx.keepdim else xpof(g).expand_dims(g, ctx.axes)
        return g * share, None, None


class Amin(Amax):
    """out = min of a over axes ;  g is shared equally by the elements equal to the min"""
    reduce = "min"


# ---- shape ops --------------------------------------------------------------------
class Reshape(Function):
    """out = a viewed with a new shape ;  da = g reshaped back"""
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot view a tensor of shape {a.shape} "
                             f"({a.size} elements) as shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    """out = a with its axes reordered ;  da = g with the inverse order"""
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(tuple(numpy.argsort(ctx.dims).tolist())), None


class GetItem(Function):
    """out = a[index] ;  da = zeros with g added at index (repeated indices accumulate)"""
    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return a[index]

    @staticmethod
    def backward(ctx, g):
        xp = xpof(g)
        grad = xp.zeros(ctx.shape, dtype=ctx.dtype)
        if _has_array(ctx.index):
            xp.add.at(grad, ctx.index, g)
        else:
            grad[ctx.index] = g  # basic slicing never repeats an element
        return grad, None


def _has_array(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "shape") or isinstance(i, (list, bool)) for i in items)


class Concatenate(Function):
    """out = the inputs joined along an axis ;  each input gets its slice of g"""
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.splits = numpy.cumsum([x.shape[axis] for x in arrays])[:-1].tolist()
        return xpof(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(xpof(g).split(g, ctx.splits, axis=ctx.axis))


class Stack(Function):
    """out = the inputs stacked along a new axis ;  each input gets its index of g"""
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return xpof(arrays[0]).stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        xp = xpof(g)
        return tuple(xp.take(g, i, axis=ctx.axis) for i in range(g.shape[ctx.axis]))


# ---- softmax ---------------------------------------------------------------------
class LogSoftmax(Function):
    """out = a - logsumexp(a) along an axis (shifted by the max, so it never overflows)
    da = g - softmax(a) * sum(g)"""
    @staticmethod
    def forward(ctx, a, axis):
        xp = xpof(a)
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return g - xpof(g).exp(out) * g.sum(axis=ctx.axis, keepdims=True), None


class Softmax(Function):
    """out = exp(a) / sum(exp(a)) along an axis ;  da = out * (g - sum(g * out))"""
    @staticmethod
    def forward(ctx, a, axis):
        xp = xpof(a)
        out = xp.exp(a - a.max(axis=axis, keepdims=True))
        out /= out.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return out * (g - (g * out).sum(axis=ctx.axis, keepdims=True)), None


# ---- device and dtype ------------------------------------------------------------
class ToDevice(Function):
    """out = a copied to another device ;  da = g copied back"""
    @staticmethod
    def forward(ctx, a, device):
        ctx.device = backend.device_of(a)
        return backend.to_device(a, device)

    @staticmethod
    def backward(ctx, g):
        return backend.to_device(g, ctx.device), None


class Cast(Function):
    """out = a as another dtype ;  da = g cast back"""
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


# ---- the functional interface ----------------------------------------------------
def _operand(x, like):
    """Tensors and Python numbers pass through (a Python number keeps the tensor's dtype,
    NumPy's NEP 50 rule; NumPy scalars are treated as Python numbers so that they do not
    upcast float32 either); arrays and lists become constant tensors on ``like``'s device."""
    if isinstance(x, numpy.generic) and x.dtype.kind in "biuf":
        x = x.item()
    if isinstance(x, (Tensor, int, float, bool)):
        return x
    return Tensor(x, device=like.device)


def _binary(fn, a, b):
    if isinstance(a, Tensor):
        return fn.apply(a, _operand(b, a))
    return fn.apply(_operand(a, b), b)


def add(a, b):
    return _binary(Add, a, b)


def sub(a, b):
    return _binary(Sub, a, b)


def mul(a, b):
    return _binary(Mul, a, b)


def div(a, b):
    return _binary(Div, a, b)


def neg(a):
    return Neg.apply(a)


def pow(a, exponent):
    if isinstance(exponent, Tensor):
        raise TypeError("pow: only a constant (Python number) exponent is supported; "
                        "for a tensor exponent use exp(b * log(a))")
    return Pow.apply(a, exponent)


def matmul(a, b):
    if not isinstance(a, Tensor):
        a = _operand(a, b)
    return MatMul.apply(a, _operand(b, a))


def exp(a):
    return Exp.apply(a)


def log(a):
    return Log.apply(a)


def sqrt(a):
    return Sqrt.apply(a)


def abs(a):
    return Abs.apply(a)


def tanh(a):
    return Tanh.apply(a)


def sigmoid(a):
    return Sigmoid.apply(a)


def relu(a):
    return ReLU.apply(a)


def clamp(a, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(a, min, max)


clip = clamp


def maximum(a, b):
    return _binary(Maximum, a, b)


def minimum(a, b):
    return _binary(Minimum, a, b)


def _dim_args(dim, keepdim, numpy_names):
    """Accept NumPy's ``axis``/``keepdims`` as aliases of PyTorch's ``dim``/``keepdim``."""
    unknown = set(numpy_names) - {"axis", "keepdims"}
    if unknown:
        raise TypeError(f"unexpected keyword arguments {sorted(unknown)}")
    dim = numpy_names.get("axis", dim)
    keepdim = numpy_names.get("keepdims", keepdim)
    return dim, bool(keepdim)


def sum(a, dim=None, keepdim=False, **numpy_names):
    dim, keepdim = _dim_args(dim, keepdim, numpy_names)
    return Sum.apply(a, _axes(dim, a.ndim), keepdim)


def mean(a, dim=None, keepdim=False, **numpy_names):
    dim, keepdim = _dim_args(dim, keepdim, numpy_names)
    return Mean.apply(a, _axes(dim, a.ndim), keepdim)


def amax(a, dim=None, keepdim=False, **numpy_names):
    dim, keepdim = _dim_args(dim, keepdim, numpy_names)
    return Amax.apply(a, _axes(dim, a.ndim), keepdim)


def amin(a, dim=None, keepdim=False, **numpy_names):
    dim, keepdim = _dim_args(dim, keepdim, numpy_names)
    return Amin.apply(a, _axes(dim, a.ndim), keepdim)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def max(a, dim=None, keepdim=False, **numpy_names):
    """Like torch.max: the overall max as a 0-d tensor, or with ``dim`` the pair
    ``(values, indices)``. For the values alone along an axis use :func:`amax`."""
    dim, keepdim = _dim_args(dim, keepdim, numpy_names)
    if dim is None:
        return amax(a)
    return MaxResult(amax(a, dim, keepdim), argmax(a, dim, keepdim))


def min(a, dim=None, keepdim=False, **numpy_names):
    """Like torch.min; see :func:`max`."""
    dim, keepdim = _dim_args(dim, keepdim, numpy_names)
    if dim is None:
        return amin(a)
    return MaxResult(amin(a, dim, keepdim), argmin(a, dim, keepdim))


def argmax(a, dim=None, keepdim=False):
    """Indices of the maxima (not differentiable)."""
    out = a.data.argmax(axis=dim, keepdims=keepdim if dim is not None else False)
    return Tensor(xpof(a.data).asarray(out))


def argmin(a, dim=None, keepdim=False):
    out = a.data.argmin(axis=dim, keepdims=keepdim if dim is not None else False)
    return Tensor(xpof(a.data).asarray(out))


def reshape(a, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(a, shape)


def permute(a, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if sorted(d % a.ndim for d in dims) != list(range(a.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {a.ndim} axes of a "
                         f"tensor of shape {a.shape}")
    return Permute.apply(a, tuple(d % a.ndim for d in dims))


def transpose(a, dim0=0, dim1=1):
    """Swap two axes (PyTorch's meaning; for a full reordering use :func:`permute`)."""
    dims = list(range(a.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(a, tuple(dims))


def flatten(a, start_dim=0, end_dim=-1):
    if a.ndim == 0:
        return reshape(a, 1)
    (start,), (end,) = _axes(start_dim, a.ndim), _axes(end_dim, a.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for "
                         f"a tensor of shape {a.shape}")
    shape = a.shape[:start] + (-1,) + a.shape[end + 1:]
    return reshape(a, shape)


def unsqueeze(a, dim):
    shape = list(a.shape)
    shape.insert(dim % (a.ndim + 1), 1)
    return reshape(a, shape)


def squeeze(a, dim=None):
    if dim is None:
        shape = [n for n in a.shape if n != 1]
    else:
        shape = [n for i, n in enumerate(a.shape) if i != dim % a.ndim or n != 1]
    return reshape(a, shape)


def _index_array(i, device):
    """Tensor indices as arrays; integer/boolean arrays and lists on ``device``."""
    if isinstance(i, Tensor):
        i = i.data
    if device == "gpu" and isinstance(i, (list, numpy.ndarray)):
        i = backend.to_device(numpy.asarray(i), device)
    return i


def getitem(a, index):
    device = a.device
    if isinstance(index, tuple):
        index = tuple(_index_array(i, device) for i in index)
    else:
        index = _index_array(index, device)
    return GetItem.apply(a, index)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return Concatenate.apply(*tensors, axis=dim)


concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    return Stack.apply(*tensors, axis=dim)


def log_softmax(a, dim=-1):
    return LogSoftmax.apply(a, dim)


def softmax(a, dim=-1):
    return Softmax.apply(a, dim)


def to_device(a, device):
    return ToDevice.apply(a, device)


def cast(a, dtype):
    """``a`` as ``dtype``; a cast to an integer or boolean dtype leaves the graph."""
    if a.requires_grad and numpy.dtype(dtype).kind in "fc":
        return Cast.apply(a, dtype)
    return Tensor._make(a.data.astype(dtype), None)


def compare(a, b, name):
    """Elementwise comparison (``equal``, ``less``, ...): a boolean tensor, no gradient."""
    xp = xpof(a.data)
    other = b.data if isinstance(b, Tensor) else b
    return Tensor._make(xp.asarray(getattr(xp, name)(a.data, other)), None)

