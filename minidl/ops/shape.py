"""Ops that move elements without changing them: reshape, permute, broadcast, join.
Each backward moves the gradient back the same way, so each is linear in ``g`` and
supports create_graph for free."""

from operator import index as _int

import numpy

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import category, check_dim, normalize_dims, unbroadcast


class Reshape(Function):
    """out = a viewed with a new shape ;  da = g reshaped back"""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            out = a.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot view a tensor of shape {a.shape} "
                f"({a.size} elements) as shape {tuple(shape)}"
            ) from None
        except TypeError:
            raise TypeError(
                f"reshape/view: sizes must be ints, got {tuple(shape)} (view(dtype), "
                f"a reinterpretation of the bytes, is not supported)"
            ) from None
        # NumPy takes any one negative size as -1; checked only when the shape changed
        if out.shape != shape and -1 not in shape and shape and min(shape) < 0:
            raise RuntimeError(f"reshape: invalid shape dimension {min(shape)} in {tuple(shape)}")
        return out

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def reshape(a, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(a, shape)


def flatten(a, start_dim=0, end_dim=-1):
    start, end = check_dim(start_dim, a.ndim), check_dim(end_dim, a.ndim)
    if a.ndim == 0:
        return reshape(a, 1)
    if start > end:
        raise ValueError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for "
            f"a tensor of shape {a.shape}"
        )
    shape = a.shape[:start] + (-1,) + a.shape[end + 1 :]
    return reshape(a, shape)


def unsqueeze(a, dim=None, **numpy_names):
    dim = dim_alias(dim, numpy_names, "unsqueeze")
    d = check_dim(dim, a.ndim + 1)
    return reshape(a, a.shape[:d] + (1,) + a.shape[d:])


def squeeze(a, dim=None, **numpy_names):
    dim = dim_alias(dim, numpy_names, "squeeze")
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
    elif not dims:
        raise TypeError('permute() missing 1 required positional argument: "dims"')
    axes = [check_dim(d, a.ndim) for d in dims]
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(
            f"permute: {dims} is not a permutation of the {a.ndim} axes of a "
            f"tensor of shape {a.shape}"
        )
    return Permute.apply(a, tuple(axes))


def transpose(a, dim0=0, dim1=1):
    """Swap two axes (PyTorch's meaning; for a full reordering use :func:`permute`)."""
    d0, d1 = check_dim(dim0, a.ndim), check_dim(dim1, a.ndim)
    dims = list(range(a.ndim))
    if dims:  # a 0-d tensor: dims 0 and -1 are the tensor itself
        dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(a, tuple(dims))


swapaxes = swapdims = transpose


class BroadcastTo(Function):
    """out = a broadcast to a shape (a read-only view) ;  da = g summed back"""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        xp = array_module(a)
        try:
            return xp.broadcast_to(a, shape)
        except ValueError:  # PyTorch's error, or the -1s that keep a dim resolved
            return xp.broadcast_to(a, _expanded_shape(a.shape, shape))

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


def _tensor_list(tensors, name):
    """``tensors`` (a sequence of Tensors, not one Tensor) as a non-empty list."""
    if isinstance(tensors, Tensor):
        raise TypeError(f"{name}(): expected a sequence of tensors, got a single Tensor")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty sequence of tensors")
    return tensors


def _not_a_tensor(i, item, name):
    raise TypeError(f"{name}(): expected Tensor as element {i}, but got {type(item).__name__}")


def _joined(tensors):
    """``tensors`` cast to PyTorch's result dtype of joining them: the highest category
    (bool < integer < float) decides, so float32 with int64 stays float32."""
    top = max(category(t.dtype) for t in tensors)
    dtype = numpy.result_type(*[t.dtype for t in tensors if category(t.dtype) == top])
    return [t if t.dtype == dtype else t.to(dtype=dtype) for t in tensors]


def cat(tensors, dim=0, **numpy_names):
    tensors = _tensor_list(tensors, "cat")
    if "axis" in numpy_names:
        dim = numpy_names.pop("axis")
    if numpy_names:
        raise TypeError(f"cat: unexpected keyword arguments {sorted(numpy_names)}")
    first = tensors[0]
    if not isinstance(first, Tensor):
        _not_a_tensor(0, first, "cat")
    if first.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    ndim, shape, dtype = first.ndim, first.shape, first.dtype
    axis = check_dim(dim, ndim)
    mixed = False
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            _not_a_tensor(i, t, "cat")
        if t.ndim != ndim or any(
            n != m for k, (n, m) in enumerate(zip(t.shape, shape)) if k != axis
        ):
            if any(t.shape == (0,) for t in tensors):  # PyTorch skips 1-D empty tensors
                return cat([t for t in tensors if t.shape != (0,)] or tensors[:1], dim)
            raise RuntimeError(
                f"cat: sizes of tensors must match except in dimension {axis}"
                f": tensor 0 has shape {tuple(shape)}, tensor {i} "
                f"has shape {tuple(t.shape)}"
            )
        mixed = mixed or t.dtype != dtype
    if mixed:
        tensors = _joined(tensors)
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
    tensors = _tensor_list(tensors, "stack")
    if "axis" in numpy_names:
        dim = numpy_names.pop("axis")
    if numpy_names:
        raise TypeError(f"stack: unexpected keyword arguments {sorted(numpy_names)}")
    if not isinstance(tensors[0], Tensor):
        _not_a_tensor(0, tensors[0], "stack")
    shape, dtype = tensors[0].shape, tensors[0].dtype
    mixed = False
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            _not_a_tensor(i, t, "stack")
        if t.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got "
                f"{tuple(shape)} at entry 0 and {tuple(t.shape)} at entry {i}"
            )
        mixed = mixed or t.dtype != dtype
    if mixed:
        tensors = _joined(tensors)
    return Stack.apply(*tensors, axis=check_dim(dim, len(shape) + 1))


def dim_alias(dim, numpy_names, name):
    """PyTorch's ``axis=`` alias of a ``dim`` argument, for ops without ``keepdim``."""
    unknown = set(numpy_names) - {"axis"}
    if unknown:
        raise TypeError(f"{name}() got unexpected keyword arguments {sorted(unknown)}")
    return numpy_names.get("axis", dim)


def _sizes(sizes):
    """``f(2, 3)`` and ``f((2, 3))`` alike, as a tuple of ints (a float is a TypeError,
    as in PyTorch, not truncated)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = sizes[0]
    try:
        return tuple(_int(n) for n in sizes)
    except TypeError:
        raise TypeError(f"sizes must be a tuple of ints, got {tuple(sizes)}") from None


# ---- views made of the ops above (so each is differentiable to any order) --------------
def _expanded_shape(shape, sizes):
    """``shape`` expanded to ``sizes`` by PyTorch's rule (-1 keeps a dimension, new ones
    go in front), or PyTorch's error."""
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be "
            f"greater or equal to the number of dimensions in the tensor "
            f"({len(shape)})"
        )
    lead = len(sizes) - len(shape)
    out = []
    for d, n in enumerate(sizes):
        old = shape[d - lead] if d >= lead else None
        if n == -1:
            if old is None:
                raise RuntimeError(
                    f"expand: -1 is not allowed in a leading, non-existing dimension {d}"
                )
            n = old
        elif n < 0:
            raise RuntimeError(f"expand: invalid size {n} at dimension {d}")
        elif old is not None and old != 1 and old != n:
            raise RuntimeError(
                f"The expanded size of the tensor ({n}) must match the "
                f"existing size ({old}) at non-singleton dimension {d}.  "
                f"Target sizes: {list(sizes)}.  Tensor sizes: {list(shape)}"
            )
        out.append(n)
    return tuple(out)


def expand(a, *sizes):
    """``a`` broadcast to ``sizes``; -1 keeps a dimension, new ones go in front."""
    return broadcast_to(a, _expanded_shape(a.shape, _sizes(sizes)))


def expand_as(a, other):
    return expand(a, other.shape)


def view_as(a, other):
    return reshape(a, other.shape)


reshape_as = view_as


def repeat(a, *sizes):
    """``a`` repeated ``sizes[d]`` times along each dim d (PyTorch's repeat, NumPy's tile
    with at least ``a.ndim`` sizes)."""
    if not sizes:
        raise TypeError('repeat() missing 1 required positional argument: "repeats"')
    sizes = _sizes(sizes)
    if len(sizes) < a.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than "
            f"number of dimensions of tensor ({len(sizes)} < {a.ndim})"
        )
    if min(sizes, default=0) < 0:
        raise RuntimeError(f"repeat: negative repeat count in {sizes}")
    shape = (1,) * (len(sizes) - a.ndim) + tuple(a.shape)
    interleaved = [n for s in shape for n in (1, s)]
    tiled = [n for r, s in zip(sizes, shape) for n in (r, s)]
    out = broadcast_to(reshape(a, interleaved), tiled)
    return reshape(out, [r * s for r, s in zip(sizes, shape)])


def tile(a, dims):
    """NumPy's tile: like :func:`repeat`, with missing leading counts taken as 1."""
    dims = _sizes((dims,))  # an int or a sequence of ints
    return repeat(a, (1,) * (a.ndim - len(dims)) + dims)


def _slices(ndim, dim, item):
    return (slice(None),) * dim + (item,) + (slice(None),) * (ndim - dim - 1)


def _take(a, index):
    """``a[index]`` for an index built here (NumPy semantics: basic items and at most one
    run of adjacent arrays, where NumPy and PyTorch agree)."""
    from .index import GetItem, Index

    return GetItem.apply(a, Index(None, index))


def flip(a, dims):
    """``a`` with the order of its entries reversed along ``dims``."""
    dims = normalize_dims(dims, a.ndim) if a.ndim else ()
    index = tuple(slice(None, None, -1) if d in dims else slice(None) for d in range(a.ndim))
    return _take(a, index)


def roll(a, shifts, dims=None):
    """Entries shifted by ``shifts`` along ``dims``, wrapping around (without ``dims``:
    along the flattened tensor, shape kept)."""
    if isinstance(shifts, (tuple, list)) and not shifts:
        raise RuntimeError("roll: `shifts` required")
    if dims is None:
        if isinstance(shifts, (tuple, list)) and len(shifts) != 1:
            raise RuntimeError("roll: shifts without dims must be a single number")
        shift = shifts[0] if isinstance(shifts, (tuple, list)) else shifts
        return reshape(roll(reshape(a, -1), shift, 0), a.shape)
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims: {len(dims)}"
        )
    out = a
    for shift, dim in zip(shifts, dims):
        dim, shift = _dim_of_1d(dim, a, "roll"), _int(shift)
        n = a.shape[dim]
        if n == 0 or shift % n == 0:
            continue
        cut = n - shift % n
        out = cat(
            [
                _take(out, _slices(a.ndim, dim, slice(cut, None))),
                _take(out, _slices(a.ndim, dim, slice(None, cut))),
            ],
            dim,
        )
    return out


def _triangle(a, diagonal, lower):
    from .index import Where

    if a.ndim < 2:
        raise RuntimeError(
            f"{'tril' if lower else 'triu'}: input tensor must have at least "
            f"2 dimensions, got shape {tuple(a.shape)}"
        )
    xp = array_module(a.data)
    rows, cols = a.shape[-2:]
    diagonal = _int(diagonal)
    keep = xp.tri(rows, cols, diagonal, dtype=bool)
    if not lower:
        keep = ~xp.tri(rows, cols, diagonal - 1, dtype=bool)
    return Where.apply(keep, a, a.data.dtype.type(0))  # a zero of a's dtype: bool stays bool


def tril(a, diagonal=0):
    """The lower triangle of the last two dims (entries with col - row <= diagonal)."""
    return _triangle(a, diagonal, True)


def triu(a, diagonal=0):
    """The upper triangle of the last two dims (entries with col - row >= diagonal)."""
    return _triangle(a, diagonal, False)


def diagonal(a, offset=0, dim1=0, dim2=1):
    """The entries ``a[..., i, i + offset]`` of the plane (dim1, dim2), as a new last dim."""
    if a.ndim < 2:
        raise RuntimeError(
            f"diagonal: expected a tensor with at least 2 dimensions, got shape {tuple(a.shape)}"
        )
    d1, d2 = check_dim(dim1, a.ndim), check_dim(dim2, a.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    rest = [d for d in range(a.ndim) if d not in (d1, d2)]
    moved = permute(a, rest + [d1, d2])
    rows, cols = a.shape[d1], a.shape[d2]
    xp = array_module(a.data)
    start_row, start_col = max(-offset, 0), max(offset, 0)
    length = max(min(rows - start_row, cols - start_col), 0)
    i = xp.arange(length)
    return _take(moved, (Ellipsis, i + start_row, i + start_col))


_diagonal = diagonal


def diag(a, diagonal=0):
    """1-D ``a``: the square matrix with ``a`` on its ``diagonal``-th diagonal;
    2-D ``a``: that diagonal of ``a`` as a 1-D tensor."""
    from .index import Index, IndexAddZeros

    if a.ndim == 2:
        return _diagonal(a, diagonal)
    if a.ndim != 1:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {a.ndim}D")
    n = a.shape[0] + abs(diagonal)
    i = array_module(a.data).arange(a.shape[0])
    index = Index(None, (i + max(-diagonal, 0), i + max(diagonal, 0)))
    return IndexAddZeros.apply(a, (n, n), index)


def unfold(a, dimension, size, step):
    """Every slice of length ``size`` along ``dimension``, ``step`` apart: that dim
    becomes the number of windows and a new last dim of length ``size`` is added."""
    dim = check_dim(dimension, a.ndim)
    length = a.shape[dim] if a.ndim else 1
    if size > length:
        raise RuntimeError(
            f"maximum size for tensor at dimension {dim} is {length} but size is {size}"
        )
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if a.ndim == 0:
        return reshape(a, (1,))
    xp = array_module(a.data)
    windows = xp.arange((length - size) // step + 1)[:, None] * step + xp.arange(size)
    out = _take(a, (slice(None),) * dim + (windows,))
    return movedim(out, dim + 1, -1)


def movedim(a, source, destination):
    """``a`` with the dims ``source`` moved to the positions ``destination``."""
    source = source if isinstance(source, (tuple, list)) else (source,)
    destination = destination if isinstance(destination, (tuple, list)) else (destination,)
    if len(source) != len(destination):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({source} "
            f"dims) should contain the same number of dims as destination "
            f"({destination} dims)"
        )
    src = [check_dim(d, a.ndim) for d in source]
    dst = [check_dim(d, a.ndim) for d in destination]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in source {source} or destination {destination}")
    if a.ndim == 0:
        return a
    order = [None] * a.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(a.ndim) if d not in src)
    order = [next(rest) if o is None else o for o in order]
    return permute(a, order)


moveaxis = movedim


def narrow(a, dim=None, start=None, length=None, **numpy_names):
    """The entries ``start`` to ``start + length`` along ``dim`` (a view)."""
    dim = dim_alias(dim, numpy_names, "narrow")
    if dim is None or start is None or length is None:
        raise TypeError("narrow() needs dim, start and length")
    if a.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    dim, start, length = check_dim(dim, a.ndim), _int(start), _int(length)
    n = a.shape[dim]
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if not -n <= start <= n:
        raise IndexError(
            f"start out of range (expected to be in range of [{-n}, {n}], but got {start})"
        )
    start %= n if n else 1
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return _take(a, _slices(a.ndim, dim, slice(start, start + length)))


def split(a, split_size_or_sections, dim=0, **numpy_names):
    """Pieces of ``a`` along ``dim``: of ``split_size`` each (the last may be smaller), or
    of the given list of sizes (which must add up to the dim's length)."""
    dim = _dim_of_1d(dim_alias(dim, numpy_names, "split"), a, "split")
    n = a.shape[dim]
    if isinstance(split_size_or_sections, (tuple, list)):
        sizes = list(_sizes((split_size_or_sections,)))
        if any(s < 0 for s in sizes):
            raise RuntimeError(
                f"split_with_sizes expects split_sizes have only non-negative entries, "
                f"but got split_sizes={sizes}"
            )
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} "
                f"(input tensor's size at dimension {dim}), but got "
                f"split_sizes={sizes}"
            )
    else:
        size = _int(split_size_or_sections)
        if size <= 0 and not (size == 0 and n == 0):
            raise RuntimeError(
                f"split expects split_size be non-negative, but got split_size={size}"
            )
        sizes = [min(size, n - i) for i in range(0, n, size)] if n else [0]
    bounds = numpy.cumsum([0] + sizes).tolist()
    return tuple(
        _take(a, _slices(a.ndim, dim, slice(lo, hi))) for lo, hi in zip(bounds, bounds[1:])
    )


def chunk(a, chunks, dim=0, **numpy_names):
    """``a`` split into at most ``chunks`` pieces of ceil(n / chunks) along ``dim`` (an
    empty dim: ``chunks`` empty pieces)."""
    if _int(chunks) <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    dim = _dim_of_1d(dim_alias(dim, numpy_names, "chunk"), a, "chunk")
    n = a.shape[dim]
    if n == 0:  # PyTorch: ``chunks`` empty pieces
        return split(a, [0] * chunks, dim)
    return split(a, -(-n // chunks), dim)


def unbind(a, dim=0, **numpy_names):
    """The slices of ``a`` along ``dim``, that dim removed."""
    dim = _dim_of_1d(dim_alias(dim, numpy_names, "unbind"), a, "unbind")
    return tuple(_take(a, _slices(a.ndim, dim, i)) for i in range(a.shape[dim]))


def _dim_of_1d(dim, a, name):
    """``dim`` checked as a dim of ``a``, which must have at least one dimension (a 0-d
    tensor's dim 0 is itself, and ``name`` cannot cut it)."""
    dim = check_dim(dim, a.ndim)
    if a.ndim == 0:
        raise IndexError(f"{name}: dimension specified as {dim} but tensor has no dimensions")
    return dim
