"""Ops that move elements without changing them: reshape, permute, broadcast, join.
Each backward moves the gradient back the same way, so each is linear in ``g`` and
supports create_graph for free."""
import numpy

from ..autograd import Function
from ..backend import array_module
from .base import check_dim, normalize_dims, unbroadcast


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


def reshape(a, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(a, shape)


def flatten(a, start_dim=0, end_dim=-1):
    if a.ndim == 0:
        return reshape(a, 1)
    start, end = check_dim(start_dim, a.ndim), check_dim(end_dim, a.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for "
                         f"a tensor of shape {a.shape}")
    shape = a.shape[:start] + (-1,) + a.shape[end + 1:]
    return reshape(a, shape)


def unsqueeze(a, dim):
    shape = list(a.shape)
    shape.insert(check_dim(dim, a.ndim + 1), 1)
    return reshape(a, shape)


def squeeze(a, dim=None):
    if dim is None:
        shape = [n for n in a.shape if n != 1]
    else:
        axes = normalize_dims(dim, a.ndim)
        shape = [n for i, n in enumerate(a.shape) if i not in axes or n != 1]
    return reshape(a, shape)


class Permute(Function):
    """out = a with its axes reordered ;  da = g with the inverse order"""
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        inverse = tuple(numpy.argsort(ctx.dims).tolist())
        return array_module(g).transpose(g, inverse), None


def permute(a, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    axes = [check_dim(d, a.ndim) for d in dims]
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {a.ndim} axes of a "
                         f"tensor of shape {a.shape}")
    return Permute.apply(a, tuple(axes))


def transpose(a, dim0=0, dim1=1):
    """Swap two axes (PyTorch's meaning; for a full reordering use :func:`permute`)."""
    dims = list(range(a.ndim))
    d0, d1 = check_dim(dim0, a.ndim), check_dim(dim1, a.ndim)
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(a, tuple(dims))


swapaxes = swapdims = transpose


class BroadcastTo(Function):
    """out = a broadcast to a shape (a read-only view) ;  da = g summed back"""
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape), None


def broadcast_to(a, shape):
    shape = tuple(shape)
    return a if a.shape == shape else BroadcastTo.apply(a, shape)


class Concatenate(Function):
    """out = the inputs joined along an axis ;  each input gets its slice of g"""
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.splits = numpy.cumsum([x.shape[axis] for x in arrays])[:-1].tolist()
        return array_module(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(array_module(g).split(g, ctx.splits, axis=ctx.axis))


def cat(tensors, dim=0, **numpy_names):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    if "axis" in numpy_names:
        dim = numpy_names.pop("axis")
    if numpy_names:
        raise TypeError(f"cat: unexpected keyword arguments {sorted(numpy_names)}")
    ndim = tensors[0].ndim
    axis = check_dim(dim, ndim)
    for i, t in enumerate(tensors):
        if t.ndim != ndim or any(n != m for k, (n, m) in enumerate(
                zip(t.shape, tensors[0].shape)) if k != axis):
            raise RuntimeError(f"cat: sizes of tensors must match except in dimension {axis}"
                               f": tensor 0 has shape {tuple(tensors[0].shape)}, tensor {i} "
                               f"has shape {tuple(t.shape)}")
    return Concatenate.apply(*tensors, axis=axis)


concatenate = concat = cat


class Stack(Function):
    """out = the inputs stacked along a new axis ;  each input gets its index of g"""
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return array_module(arrays[0]).stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return tuple(xp.take(g, i, axis=ctx.axis) for i in range(g.shape[ctx.axis]))


def stack(tensors, dim=0, **numpy_names):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    if "axis" in numpy_names:
        dim = numpy_names.pop("axis")
    if numpy_names:
        raise TypeError(f"stack: unexpected keyword arguments {sorted(numpy_names)}")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{tuple(tensors[0].shape)} at entry 0 and {tuple(t.shape)} "
                               f"at entry {i}")
    return Stack.apply(*tensors, axis=check_dim(dim, tensors[0].ndim + 1))
