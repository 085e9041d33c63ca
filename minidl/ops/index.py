"""Indexing: ``a[index]`` with PyTorch's rules and assignment into it; ``where``, masks,
``nonzero``, ``one_hot``, and comparisons (boolean tensors outside the graph). Gather and
scatter along a dim are in :mod:`.gather`.

**Where advanced-index dimensions go.** PyTorch applies the basic items of an index
first (an integer removes its dimension, a slice keeps it, None and a Python bool add
one), then indexes what is left with the index tensors under NumPy's rule: their
broadcast shape replaces the indexed dimensions in place when those are adjacent, else
it goes first. NumPy instead counts integers as advanced indices too, so for ``y`` of
shape (2, 3, 4) ``y[0, :, [0, 1]]`` is (3, 2) in PyTorch and (2, 3) in NumPy.
:class:`Index` splits an index into those two steps, so minidl follows PyTorch.
"""

import numpy

from .. import backend
from ..autograd import Function, is_grad_enabled, note_in_place_write
from ..backend import array_module
from ..tensor import Tensor
from .base import operand, promote, result_type, unbroadcast
from .conversion import check_scalar


# ---- an index in PyTorch's two steps ---------------------------------------------------
class Index:
    """An index as ``(basic, advanced)``: ``a[index]`` is ``a[basic][advanced]``.

    ``basic`` holds the integers, slices, None and Ellipsis (a view); ``advanced`` the
    index arrays, with ``slice(None)`` for the dimensions they leave alone. Either may
    be None (not needed)."""

    __slots__ = ("basic", "advanced")

    def __init__(self, basic, advanced):
        self.basic, self.advanced = basic, advanced

    def take(self, a):
        if self.basic is not None:
            a = a[self.basic]
        return a if self.advanced is None else a[self.advanced]

    def target(self, out):
        """The view of ``out`` that the advanced step indexes (all of it if none)."""
        if self.basic is None:
            return out
        if self.advanced is None and Ellipsis not in self.basic:
            return out[self.basic + (Ellipsis,)]  # a 0-d view, not a scalar copy
        return out[self.basic]

    def add_into(self, out, g):
        """out[index] += g, repeated indices accumulating."""
        view = self.target(out)
        if self.advanced is None:
            view += g
        else:
            array_module(out).add.at(view, self.advanced, g)

    def put(self, out, value):
        """out[index] = value (in place)."""
        view = self.target(out)
        if self.advanced is None:
            view[...] = value
        else:
            view[self.advanced] = value


def _is_bool_scalar(item):
    return isinstance(item, (bool, numpy.bool_)) or (
        hasattr(item, "dtype") and item.ndim == 0 and item.dtype == bool
    )


def _as_index_item(item, device):
    """A Tensor, list or array in an index as an array on ``device``; other items as given."""
    if isinstance(item, Tensor):
        item = item.data
    elif isinstance(item, (list, tuple)):
        item = numpy.asarray(
            [i.item() if isinstance(i, Tensor) else i for i in item]
            if any(isinstance(i, Tensor) for i in item)
            else item
        )
        if item.dtype.kind not in "biu" and item.size:
            raise IndexError(
                "tensors used as indices must be long, int, byte or bool "
                f"tensors, got a list of {item.dtype}"
            )
        if not item.size:
            item = item.astype(numpy.int64)
    if hasattr(item, "dtype"):
        kind = item.dtype.kind  # int64, int32, bool; uint8 as integers (PyTorch: a mask)
        if kind != "b" and (kind != "i" or item.dtype.itemsize < 4) and item.dtype != numpy.uint8:
            raise IndexError(
                f"tensors used as indices must be long, int, byte or bool tensors, got {item.dtype}"
            )
        if item.ndim == 0 and item.dtype != bool:
            return int(item)  # a 0-d integer tensor selects, like an int
        if device == "gpu" and isinstance(item, numpy.ndarray):
            item = backend.to_device(item, device)
    return item


_BASIC_TYPES = frozenset((int, slice, type(None), type(Ellipsis)))  # not bool: it adds a dim


def torch_index(index, shape, device="cpu"):
    """``index`` (anything ``Tensor.__getitem__`` accepts) as an :class:`Index` with
    PyTorch's semantics for a tensor of ``shape``."""
    items = index if isinstance(index, tuple) else (index,)
    if all(type(i) in _BASIC_TYPES for i in items):  # the common case: a view, fast
        if any(type(i) is slice and i.step is not None and i.step <= 0 for i in items):
            raise ValueError("step must be greater than zero")
        return Index(items, None)
    items = [_as_index_item(i, device) for i in items]
    consumed = 0
    for item in items:
        if item is None or item is Ellipsis or _is_bool_scalar(item):
            continue
        consumed += item.ndim if getattr(item, "dtype", None) is numpy.dtype(bool) else 1
    if consumed > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)} (got {consumed})")
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    basic, advanced = [], []
    has_array = needs_basic = False
    for item in items:
        if isinstance(item, slice) and item.step is not None and item.step <= 0:
            raise ValueError("step must be greater than zero")
        if item is None or item is Ellipsis or isinstance(item, slice):
            basic.append(item)
            advanced.append(Ellipsis if item is Ellipsis else slice(None))
            needs_basic = needs_basic or item is None
        elif _is_bool_scalar(item):  # a new dimension of size 1, kept (True) or emptied
            basic.append(None)
            advanced.append(_as_index_item(numpy.array([bool(item)]), device))
            has_array = needs_basic = True
        elif isinstance(item, (int, numpy.integer)):
            basic.append(int(item))
            needs_basic = True
        elif hasattr(item, "dtype"):
            basic.extend([slice(None)] * (item.ndim if item.dtype == bool else 1))
            advanced.append(item)
            has_array = True
        else:
            raise IndexError(
                f"only integers, slices, None, Ellipsis, lists and integer or "
                f"boolean tensors are valid indices, got "
                f"{type(item).__name__}"
            )
    if not has_array:
        return Index(tuple(basic), None)
    if not needs_basic:  # only slices and arrays: NumPy's rule is PyTorch's
        return Index(None, tuple(items))
    return Index(tuple(basic), tuple(advanced))


class GetItem(Function):
    """out = a[index] ;  da = zeros with g added at index (repeated indices accumulate)"""

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        return index.take(a)

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
        index.add_into(out, g)
        return out

    @staticmethod
    def backward(ctx, out_grad):
        return GetItem.apply(out_grad, ctx.index), None, None


def getitem(a, index):
    """``a[index]`` with PyTorch's semantics (see the module docstring)."""
    return GetItem.apply(a, torch_index(index, a.shape, a.device))


class SetItem(Function):
    """out = a with value written at index (value broadcast to a[index]'s shape)
    da = g with zeros at index ;  dvalue = g[index] summed back to value's shape"""

    @staticmethod
    def forward(ctx, a, value, index, inplace):
        xp = array_module(a)
        out = a if inplace else a.copy()
        index.put(out, value)
        ctx.index, ctx.value_shape = index, getattr(value, "shape", ())
        written = xp.zeros(a.shape, dtype=bool)
        index.put(written, True)
        ctx.written = written  # a constant of the op
        return out

    @staticmethod
    def backward(ctx, g):
        need_a, need_value = ctx.needs_input_grad[:2]
        da = array_module(g).where(ctx.written, 0, g) if need_a else None
        dvalue = None
        if need_value:
            dvalue = unbroadcast(GetItem.apply(g, ctx.index), ctx.value_shape)
        return da, dvalue, None, None


def setitem(a, index, value):
    """``a[index] = value`` in place, as PyTorch: bumps ``a._version``; recorded in the
    graph when ``a`` or ``value`` requires grad (then ``a`` takes the new node); a leaf
    that requires grad may only be written under ``no_grad``."""
    index = torch_index(index, a.shape, a.device)
    if isinstance(value, Tensor):
        if value.device != a.device:
            raise RuntimeError(
                f"setitem: value is on {value.device} but the tensor is on {a.device}"
            )
        if value.dtype != a.dtype:
            value = value.to(dtype=a.dtype)
    else:  # a number: None, lists, strings and out-of-range numbers raise, as in PyTorch
        value = check_scalar(value, a.dtype, "setitem")
    recorded = is_grad_enabled() and (
        a.requires_grad or (isinstance(value, Tensor) and value.requires_grad)
    )
    if recorded and a.requires_grad and a._ctx is None:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation."
        )
    note_in_place_write(a)
    if not recorded:
        index.put(a.data, value.data if isinstance(value, Tensor) else value)
        a._bump_version()
        return a
    _refuse_write_into_a_view(a)
    before = Tensor._make(a.data, a._ctx)  # a's history up to now
    before.requires_grad = a.requires_grad
    out = SetItem.apply(before, value, index, True)
    a._ctx, a.requires_grad = out._ctx, True
    a._bump_version()
    return a


def _refuse_write_into_a_view(a):
    """Raise when ``a``'s memory is shared with an input of the op that made it (``a`` is
    a view such as ``y[0]``): the write would change that input behind the graph's back.
    PyTorch tracks views and rewrites the base's history; minidl does not."""
    node = a._ctx
    inputs = getattr(node, "inputs", None)
    if not isinstance(inputs, (tuple, list)):
        return
    may_share = getattr(array_module(a.data), "may_share_memory", numpy.may_share_memory)
    # the very same array is an in-place op's output (a second write), not a view
    if any(t is not None and t.data is not a.data and may_share(t.data, a.data) for t in inputs):
        raise RuntimeError(
            "setitem: this tensor is a view of another one (e.g. y[0] or y.reshape(...)), and "
            "writing into it while recording gradients would change that tensor without its "
            "gradient knowing; write into the base tensor (y[0, 1] = v), or make a copy first "
            "(r = y[0] * 1)"
        )


# ---- masks and conditions --------------------------------------------------------------
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
        return (
            None,
            unbroadcast(xp.where(cond, g, 0), ctx.shapes[0]) if need_x else None,
            unbroadcast(xp.where(cond, 0, g), ctx.shapes[1]) if need_y else None,
        )


def where(condition, input=None, other=None):
    """``input`` where ``condition`` holds, else ``other`` (broadcast together; either may
    be a Python number), in PyTorch's promoted dtype (``where(c, 1.0, 0.0)`` is float32).
    ``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    like = next((t for t in (condition, input, other) if isinstance(t, Tensor)), None)
    device = like.device if like is not None else None
    if not isinstance(condition, Tensor):
        condition = Tensor(condition, device=device)
    if condition.dtype != bool:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a "
            f"tensor with dtype {condition.dtype}"
        )
    input, other = operand(input, condition), operand(other, condition)  # arrays: tensors
    dtype = result_type(input, other)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = Tensor._make(array_module(condition.data).asarray(input, dtype=dtype), None)
    input, other = promote((input, other), dtype)
    try:
        return Where.apply(condition, input, other)
    except ValueError:
        raise RuntimeError(
            "where: condition, input and other of shapes "
            f"{', '.join(str(tuple(getattr(x, 'shape', ()))) for x in (condition, input, other))}"
            " do not broadcast together"
        ) from None


def masked_fill(input, mask, value):
    """``input`` with ``value`` (a number or a 0-d tensor) where ``mask`` is True."""
    mask = mask if isinstance(mask, Tensor) else Tensor(mask, device=input.device)
    if mask.dtype != bool:
        raise RuntimeError(
            f"masked_fill only supports boolean masks, but got mask with dtype {mask.dtype}"
        )
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                f"masked_fill only supports a 0-dimensional value tensor, but "
                f"got tensor with {value.ndim} dimension(s)"
            )
        value = value if value.dtype == input.dtype else value.to(dtype=input.dtype)
    else:
        value = check_scalar(value, input.dtype, "masked_fill")
        value = numpy.asarray(value).astype(input.dtype).item()
    try:
        return Where.apply(mask, value, input)  # broadcast together, as PyTorch
    except ValueError:
        raise RuntimeError(
            f"masked_fill: mask of shape {tuple(mask.shape)} does not "
            f"broadcast with the input's shape {tuple(input.shape)}"
        ) from None


def masked_select(input, mask):
    """The entries of ``input`` where ``mask`` is True, as a 1-D tensor (both broadcast)."""
    from .shape import broadcast_to

    mask = mask if isinstance(mask, Tensor) else Tensor(mask, device=input.device)
    if mask.dtype != bool:
        raise RuntimeError(f"masked_select: expected a boolean mask, got {mask.dtype}")
    shape = numpy.broadcast_shapes(input.shape, mask.shape)
    mask_data = array_module(mask.data).broadcast_to(mask.data, shape)
    return getitem(broadcast_to(input, shape), mask_data)


def nonzero(input, as_tuple=False):
    """Indices of the non-zero entries: an (n, ndim) int64 tensor, or with ``as_tuple`` one
    1-D tensor per dimension (not differentiable)."""
    xp = array_module(input.data)
    found = xp.nonzero(input.data if input.ndim else input.data.reshape(1))
    if as_tuple:
        return tuple(Tensor._make(i.astype(numpy.int64), None) for i in found)
    if input.ndim == 0:
        return Tensor._make(xp.zeros((int(found[0].size), 0), dtype=numpy.int64), None)
    return Tensor._make(xp.stack(found, axis=1).astype(numpy.int64), None)


def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape ``tensor.shape + (num_classes,)`` with a 1 at each class."""
    data = tensor.data if isinstance(tensor, Tensor) else numpy.asarray(tensor)
    if data.dtype.kind not in "iu":
        raise RuntimeError(
            f"one_hot is only applicable to index tensor of integer dtype, got {data.dtype}"
        )
    xp = array_module(data)
    if data.size and int(data.min()) < 0:
        raise RuntimeError("one_hot: Class values must be non-negative.")
    if num_classes == -1:
        if not data.size:
            raise RuntimeError("one_hot: Can not infer total number of classes from empty tensor.")
        num_classes = int(data.max()) + 1
    elif data.size and int(data.max()) >= num_classes:
        raise RuntimeError(
            f"one_hot: Class values must be smaller than num_classes "
            f"({num_classes}), got {int(data.max())}"
        )
    out = (data[..., None] == xp.arange(num_classes)).astype(numpy.int64)
    return Tensor._make(out, None)
