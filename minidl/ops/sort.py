"""Sorting and selecting the k largest: the order is found on the data (not
differentiable) and the values are gathered with it, so gradients flow back to the
entries each value came from."""

from collections import namedtuple

import numpy

from ..backend import array_module
from ..tensor import Tensor
from .base import check_dim
from .elementwise import clone
from .gather import Gather
from .shape import dim_alias

SortResult = namedtuple("SortResult", ["values", "indices"])
TopKResult = namedtuple("TopKResult", ["values", "indices"])


def _order(data, axis, descending):
    """Stable argsort along ``axis``; descending keeps equal entries in their order."""
    xp = array_module(data)
    if not descending:
        return xp.argsort(data, axis=axis, kind="stable")
    reversed_order = xp.argsort(xp.flip(data, axis), axis=axis, kind="stable")
    return data.shape[axis] - 1 - xp.flip(reversed_order, axis)


def argsort(a, dim=-1, descending=False, stable=False, **numpy_names):
    """Indices that sort ``a`` along ``dim`` (int64; equal entries keep their order)."""
    axis = check_dim(dim_alias(dim, numpy_names, "argsort"), a.ndim)
    if a.ndim == 0:
        return Tensor._make(array_module(a.data).zeros((), dtype=numpy.int64), None)
    return Tensor._make(_order(a.data, axis, descending).astype(numpy.int64), None)


def sort(a, dim=-1, descending=False, stable=False, **numpy_names):
    """``(values, indices)`` of ``a`` sorted along ``dim``; values are differentiable."""
    indices = argsort(a, dim, descending, stable, **numpy_names)
    if a.ndim == 0:
        return SortResult(clone(a), indices)
    axis = check_dim(dim_alias(dim, numpy_names, "sort"), a.ndim)
    return SortResult(Gather.apply(a, axis, indices.data), indices)


def topk(a, k, dim=-1, largest=True, sorted=True, **numpy_names):
    """``(values, indices)`` of the ``k`` largest (or smallest) entries along ``dim``,
    in order; values are differentiable."""
    axis = check_dim(dim_alias(dim, numpy_names, "topk"), a.ndim)
    if a.dtype == numpy.bool_:
        raise RuntimeError("topk does not support bool dtypes")
    n = a.shape[axis] if a.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: selected index k ({k}) out of range for a dimension of size {n}")
    if a.ndim == 0:
        return TopKResult(
            clone(a), Tensor._make(array_module(a.data).zeros((), dtype=numpy.int64), None)
        )
    order = _order(a.data, axis, largest)
    index = (slice(None),) * axis + (slice(0, k),)
    indices = order[index].astype(numpy.int64)
    return TopKResult(Gather.apply(a, axis, indices), Tensor._make(indices, None))
