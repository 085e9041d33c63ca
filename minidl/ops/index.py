"""Indexing, and comparisons (which give boolean tensors outside the graph)."""
import numpy

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import unbroadcast


class GetItem(Function):
    """out = a[index] ;  da = zeros with g added at index (repeated indices accumulate)"""
    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, g):
        return IndexAddZeros.apply(g, ctx.shape, ctx.index), None


class IndexAddZeros(Function):
    """out = zeros(shape) with g added at index: GetItem's backward, as an op of its own
    so that it too can be differentiated ;  dg = out_grad[index]"""
    @staticmethod
    def forward(ctx, g, shape, index):
        ctx.index = index
        out = array_module(g).zeros(shape, dtype=g.dtype)
        if _has_array(index):
            array_module(g).add.at(out, index, g)
        else:
            out[index] = g  # basic slicing never repeats an element
        return out

    @staticmethod
    def backward(ctx, out_grad):
        return GetItem.apply(out_grad, ctx.index), None, None


def _has_array(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "shape") or isinstance(i, (list, bool)) for i in items)


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


def compare(a, b, name):
    """Elementwise comparison (``equal``, ``less``, ...): a boolean tensor, no gradient."""
    xp = array_module(a.data)
    other = b.data if isinstance(b, Tensor) else b
    return Tensor._make(xp.asarray(getattr(xp, name)(a.data, other)), None)


class Where(Function):
    """out = x where cond else y ;  dx = g where cond (else 0), dy = g where not cond"""
    @staticmethod
    def forward(ctx, cond, x, y):
        xp = array_module(cond if hasattr(cond, "shape") else x)
        ctx.save_for_backward(cond)
        ctx.shapes = getattr(x, "shape", ()), getattr(y, "shape", ())
        return xp.where(cond, x, y)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        xp = array_module(g)
        _, need_x, need_y = ctx.needs_input_grad
        return (None,
                unbroadcast(xp.where(cond, g, 0), ctx.shapes[0]) if need_x else None,
                unbroadcast(xp.where(cond, 0, g), ctx.shapes[1]) if need_y else None)


def where(condition, input, other):
    """``input`` where ``condition`` holds, else ``other`` (broadcast together)."""
    if not isinstance(condition, Tensor):
        like = input if isinstance(input, Tensor) else other
        condition = Tensor(condition, device=like.device)
    return Where.apply(condition, input, other)
