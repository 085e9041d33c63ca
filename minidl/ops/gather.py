"""Gather and scatter along one dim: ``gather``, ``scatter``, ``scatter_add``,
``take_along_dim``, ``index_select``. Gather's backward is a scatter-add of the gradient
and scatter-add's is a gather, so each differentiates the other, to any order.
"""

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import category, check_dim
from .conversion import check_scalar
from .index import getitem
from .shape import broadcast_to, reshape


def _along(index, dim):
    """The NumPy index that pairs ``index`` (an integer array) with ``dim``: position
    ``(i_0, ..., i_n)`` of ``index`` addresses ``(i_0, ..., index[i], ..., i_n)``."""
    xp = array_module(index)
    mesh = []
    for d, n in enumerate(index.shape):
        if d == dim:
            mesh.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            mesh.append(xp.arange(n).reshape(shape))
    return tuple(mesh)


class Gather(Function):
    """out[i..] = a[i.. with index[i..] at dim] ;  da = zeros with g added there"""

    @staticmethod
    def forward(ctx, a, dim, index):
        ctx.shape, ctx.dim, ctx.index = a.shape, dim, index
        return a[_along(index, dim)]

    @staticmethod
    def backward(ctx, g):
        zeros = array_module(ctx.index).zeros(ctx.shape, dtype=g.dtype)
        return ScatterAdd.apply(zeros, g, ctx.dim, ctx.index), None, None


class ScatterAdd(Function):
    """out = a with src[i..] added at (i.. with index[i..] at dim), repeats accumulating
    da = g ;  dsrc = g gathered at the same places"""

    @staticmethod
    def forward(ctx, a, src, dim, index):
        ctx.dim, ctx.index = dim, index
        out = a.copy()
        array_module(a).add.at(out, _along(index, dim), src)
        return out

    @staticmethod
    def backward(ctx, g):
        need_a, need_src = ctx.needs_input_grad[:2]
        return (
            g if need_a else None,
            Gather.apply(g, ctx.dim, ctx.index) if need_src else None,
            None,
            None,
        )


class Scatter(Function):
    """out = a with src[i..] written at (i.. with index[i..] at dim)
    da = g with zeros where written ;  dsrc = g gathered at those places"""

    @staticmethod
    def forward(ctx, a, src, dim, index):
        xp = array_module(a)
        where = _along(index, dim)
        out = a.copy()
        out[where] = src
        written = xp.zeros(a.shape, dtype=bool)
        written[where] = True
        ctx.dim, ctx.index, ctx.written = dim, index, written
        return out

    @staticmethod
    def backward(ctx, g):
        need_a, need_src = ctx.needs_input_grad[:2]
        return (
            array_module(g).where(ctx.written, 0, g) if need_a else None,
            Gather.apply(g, ctx.dim, ctx.index) if need_src else None,
            None,
            None,
        )


def _index_array(index, like, name):
    data = index.data if isinstance(index, Tensor) else index
    if not hasattr(data, "dtype"):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if data.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int64 for index, got {data.dtype}")
    return backend.to_device(data, like.device) if like.device != "cpu" else data


def _check_along(a, dim, index, name, src=None):
    """PyTorch's shape rules for gather/scatter: same ndim, index no larger than ``a``
    (and than ``src``) in every dim but ``dim``; values in [0, size) (no negative
    indices, unlike NumPy)."""
    dim = check_dim(dim, a.ndim)
    if index.ndim != max(a.ndim, 1) and not (a.ndim == 0 and index.ndim == 0):
        raise RuntimeError(
            f"{name}(): Index tensor must have the same number of dimensions "
            f"as input tensor ({index.ndim} vs {a.ndim})"
        )
    for d, n in enumerate(index.shape):
        if d != dim and n > a.shape[d]:
            raise RuntimeError(
                f"{name}(): Size does not match at dimension {d}: index "
                f"{tuple(index.shape)} is larger than input "
                f"{tuple(a.shape)} apart from dimension {dim}"
            )
        if src is not None and n > src.shape[d]:
            raise RuntimeError(
                f"{name}(): index {tuple(index.shape)} is larger than src "
                f"{tuple(src.shape)} at dimension {d}"
            )
    _check_range(index, a.shape[dim], dim, name)
    return dim


def _check_range(index, n, dim, name):
    if index.size:
        low, high = int(index.min()), int(index.max())
        if low < 0 or high >= n:
            raise RuntimeError(
                f"{name}(): index {low if low < 0 else high} is out of bounds for "
                f"dimension {dim} with size {n}"
            )


def gather(input, dim, index):
    """out[i][j][k] = input[index[i][j][k]][j][k] for dim 0 (and so on for other dims)."""
    index = _index_array(index, input, "gather")
    if input.ndim == 0 and index.ndim <= 1:  # a 0-d input is its own dim 0
        check_dim(dim, 0)
        return reshape(gather(reshape(input, 1), 0, index.reshape(-1)), index.shape)
    dim = _check_along(input, dim, index, "gather")
    return Gather.apply(input, dim, index)


def _scatter(op, name, input, dim, index, src):
    index = _index_array(index, input, name)
    dim = _check_along(input, dim, index, name, src if isinstance(src, Tensor) else None)
    if isinstance(src, Tensor):
        if src.dtype != input.dtype:
            if category(src.dtype) > category(input.dtype):  # float into int: truncated
                raise RuntimeError(
                    f"{name}(): Expected self.dtype to be equal to src.dtype "
                    f"({input.dtype} vs {src.dtype})"
                )
            src = src.to(dtype=input.dtype)  # PyTorch raises; minidl casts within a category
        if src.shape != index.shape:
            src = getitem(src, tuple(slice(0, n) for n in index.shape))
    else:
        src = check_scalar(src, input.dtype, name)
    return op.apply(input, src, dim, index)


def scatter(input, dim, index, src=None, value=None):
    """A copy of ``input`` with ``src`` (a tensor, or the number ``value``) written at
    the places :func:`gather` would read from."""
    if (src is None) == (value is None):
        raise TypeError("scatter(): give exactly one of src and value")
    return _scatter(Scatter, "scatter", input, dim, index, value if src is None else src)


def scatter_add(input, dim, index, src):
    """A copy of ``input`` with ``src`` added at the places :func:`gather` would read
    from; repeated places accumulate."""
    if not isinstance(src, Tensor):
        raise TypeError("scatter_add(): src must be a Tensor")
    return _scatter(ScatterAdd, "scatter_add", input, dim, index, src)


def take_along_dim(input, indices, dim=None):
    """``gather`` with ``indices`` broadcast against ``input`` (all dims but ``dim``);
    without ``dim`` both are flattened first (NumPy's take_along_axis)."""
    index = _index_array(indices, input, "take_along_dim")
    if dim is None:
        return gather(reshape(input, -1), 0, index.reshape(-1))
    dim = check_dim(dim, input.ndim)
    if index.ndim != input.ndim:
        raise RuntimeError(
            f"take_along_dim(): input and indices should have the same number "
            f"of dimensions, but got {input.ndim} and {index.ndim}"
        )
    xp = array_module(index)
    try:
        shape = list(
            xp.broadcast_shapes(
                input.shape[:dim] + input.shape[dim + 1 :],
                index.shape[:dim] + index.shape[dim + 1 :],
            )
        )
    except ValueError:
        raise RuntimeError(
            f"take_along_dim(): input {tuple(input.shape)} and indices "
            f"{tuple(index.shape)} do not broadcast apart from dimension {dim}"
        ) from None
    input = broadcast_to(input, shape[:dim] + [input.shape[dim]] + shape[dim:])
    index = xp.broadcast_to(index, shape[:dim] + [index.shape[dim]] + shape[dim:])
    if index.size and int(index.min()) < 0:  # PyTorch's take_along_dim counts from the end
        index = index + (index < 0) * input.shape[dim]
    return gather(input, dim, index)


def index_select(input, dim, index):
    """The entries of ``input`` along ``dim`` at the (1-D) ``index``."""
    index = _index_array(index, input, "index_select")
    if index.ndim > 1:
        raise IndexError(
            f"index_select(): Index is supposed to be a vector, got shape {tuple(index.shape)}"
        )
    dim = check_dim(dim, input.ndim)
    _check_range(index, input.shape[dim] if input.ndim else 1, dim, "index_select")
    if input.ndim == 0:
        return getitem(input.reshape(1), index.reshape(-1)).reshape(())
    return getitem(input, (slice(None),) * dim + (index.reshape(-1),))
