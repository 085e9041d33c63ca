"""Tensor: an array (NumPy or CuPy), its gradient, and the node that produced it.

A tensor is a leaf when the user made it (``_ctx is None``) and an interior node
when an op made it (``_ctx`` is that op's :class:`~minidl.autograd.Function`
instance). Arithmetic, indexing and the math methods are thin wrappers over the
differentiable ops in :mod:`minidl.ops`.
"""

import weakref

import numpy

from . import backend

__all__ = ["Tensor", "tensor", "resolve_dtype"]

_DEFAULT_FLOAT = numpy.dtype(numpy.float32)


def resolve_dtype(dtype):
    """A NumPy dtype from None, a dtype, a type or a name ("float32"); None stays None."""
    return None if dtype is None else numpy.dtype(dtype)


def _is_dtype_name(name):
    """True for a string NumPy reads as a dtype ("float64", "int32"), False for "cpu"."""
    try:
        numpy.dtype(name)
    except TypeError:
        return False
    return True


def _is_array(x):
    """True for a NumPy or CuPy array (not for a Tensor, a list or a number)."""
    return isinstance(x, numpy.ndarray) or (
        not isinstance(x, Tensor) and backend.array_module(x) is not numpy
    )


def _to_array(data, dtype=None, device=None, copy=False):
    """Backend array from array-likes; Python floats become float32, arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    dtype = resolve_dtype(dtype)
    if _is_array(data):
        array = data
        if device is not None:
            array = backend.to_device(array, device)
        if dtype is not None and array.dtype != dtype:
            return array.astype(dtype)
        return array.copy() if copy and array is data else array
    if isinstance(data, (list, tuple)):
        data = _unwrap_tensors(data)
    array = numpy.asarray(data)
    if array.dtype.kind not in "biufc":
        raise TypeError(
            f"tensor(): could not infer a numeric dtype from data of type "
            f"{_describe(data)}; expected numbers, nested lists of numbers, "
            "arrays or tensors"
        )
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    elif array.dtype.kind == "f" and not isinstance(data, numpy.generic):
        array = array.astype(_DEFAULT_FLOAT, copy=False)
    if copy and array is data:
        array = array.copy()
    return backend.to_device(array, device)


def _unwrap_tensors(data):
    """Nested lists with one-element Tensors in them as nested lists of numbers (NumPy
    would otherwise build an array of objects)."""
    items = []
    for item in data:
        if isinstance(item, Tensor):
            if item.data.size != 1:
                raise ValueError(
                    f"tensor(): only one-element tensors can be converted to "
                    f"Python scalars, got a tensor of shape {tuple(item.shape)} "
                    "inside the list; use minidl.stack to join tensors"
                )
            item = item.item()
        elif isinstance(item, (list, tuple)):
            item = _unwrap_tensors(item)
        items.append(item)
    return items


def _describe(data):
    """The type of the first non-numeric element of ``data`` (for the error message)."""
    while isinstance(data, (list, tuple)) and data:
        bad = [x for x in data if not isinstance(x, (int, float, bool, complex, numpy.number))]
        data = bad[0] if bad else data[0]
    return type(data).__name__


class Tensor:
    """An n-dimensional array that records the ops applied to it for autograd.

    ``Tensor(data)`` wraps a backend array without copying it; ``minidl.tensor(data)``
    always copies. ``data``: the NumPy or CuPy array. ``grad``: a Tensor of the same
    shape once ``backward`` has reached this tensor, else None.
    """

    __slots__ = (
        "data",
        "_grad",
        "requires_grad",
        "_ctx",
        "_version",
        "_shared",
        "_hooks",
        "__weakref__",
    )
    __array_priority__ = 1000  # ndarray + Tensor dispatches to Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _to_array(data, dtype, device)
        self._grad = None
        self._ctx = None
        self._version = 0  # bumped by every in-place write; backward checks it
        self._shared = None  # the tensors sharing this one's memory, see share_versions
        self._hooks = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(data, ctx):
        """Fast constructor used by ops: no conversion, ``ctx`` is the producing node."""
        t = object.__new__(Tensor)
        t.data = data
        t._grad = None
        t._ctx = ctx
        t._version = 0
        t._shared = None
        t._hooks = None
        t.requires_grad = ctx is not None
        return t

    def _bump_version(self):
        """Count an in-place write into this tensor's memory: its version goes up, and so
        does that of every tensor sharing the memory (views, ``detach()``), so a backward
        that saved any of them refuses to run (PyTorch's shared version counter)."""
        if self._shared is None:
            self._version += 1
            return
        for ref in self._shared:
            tensor = ref()
            if tensor is not None:
                tensor._version += 1
                if tensor is not self:
                    autograd.note_in_place_write(tensor)

    # ---- properties ---------------------------------------------------------------
    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got "
                    f"{type(value).__name__}; wrap arrays with minidl.tensor()"
                )
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has shape {tuple(value.shape)}, but the "
                    f"tensor has shape {tuple(self.shape)}"
                )
            if value.dtype != self.dtype:
                raise RuntimeError(
                    f"assigned grad has dtype {value.dtype}, but the tensor has dtype {self.dtype}"
                )
            if value.device != self.device:
                raise RuntimeError(
                    f"assigned grad is on {value.device}, but the tensor is on {self.device}"
                )
        self._grad = value

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def T(self):
        return ops.permute(self, tuple(reversed(range(self.ndim))))

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.data.size)

    def dim(self):
        return self.ndim

    ndimension = dim
    nelement = numel

    def element_size(self):
        return self.data.itemsize

    def is_floating_point(self):
        return self.dtype.kind == "f"

    def is_contiguous(self):
        return bool(self.data.flags.c_contiguous)

    def contiguous(self):
        """This tensor if its memory is C-contiguous, else a contiguous copy."""
        return self if self.is_contiguous() else ops.clone(self)

    def t(self):
        """The transpose of a tensor of at most 2 dimensions."""
        if self.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D"
            )
        return self if self.ndim < 2 else ops.transpose(self, 0, 1)

    # ---- new tensors like this one (dtype and device) --------------------------------
    def new_tensor(self, data, dtype=None, requires_grad=False):
        return tensor(
            data, dtype=dtype or self.dtype, device=self.device, requires_grad=requires_grad
        )

    def new_full(self, size, fill_value, dtype=None, requires_grad=False):
        return creation.full(
            size,
            fill_value,
            dtype=dtype or self.dtype,
            device=self.device,
            requires_grad=requires_grad,
        )

    def new_zeros(self, *size, dtype=None, requires_grad=False):
        return creation.zeros(
            *size, dtype=dtype or self.dtype, device=self.device, requires_grad=requires_grad
        )

    def new_ones(self, *size, dtype=None, requires_grad=False):
        return creation.ones(
            *size, dtype=dtype or self.dtype, device=self.device, requires_grad=requires_grad
        )

    new_empty = new_zeros

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __contains__(self, element):
        """``element in t``: whether any element of ``t`` equals ``element`` (PyTorch's
        meaning, for any number of dimensions)."""
        if not isinstance(element, (Tensor, int, float, bool, numpy.number)):
            raise RuntimeError(
                f"Tensor.__contains__ only supports Tensor or scalar, but you "
                f"passed in a {type(element).__name__}."
            )
        other = element.data if isinstance(element, Tensor) else element
        return bool((self.data == other).any())

    def __iter__(self):
        """The rows (sub-tensors along dim 0), as PyTorch iterates."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    # ---- conversion ---------------------------------------------------------------
    def numpy(self):
        """A host NumPy copy of the data."""
        return numpy.array(backend.to_device(self.data, "cpu"), copy=True)

    def item(self):
        if self.data.size != 1:
            raise ValueError(
                f"item(): only one-element tensors can be converted to a "
                f"Python number, this one has shape {self.shape}"
            )
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """The same data, cut from the graph (shares memory and its version, like PyTorch)."""
        return share_versions(Tensor._make(self.data, None), self)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(
                f"only floating point tensors can require gradients, got dtype {self.dtype}"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def to(self, device=None, dtype=None):
        """This tensor on ``device`` ("cpu"/"gpu") and/or as ``dtype``; differentiable.
        As in PyTorch, the first argument may also be a dtype (``x.to(numpy.float64)``)
        or a Tensor, whose device and dtype are taken (``x.to(other)``)."""
        if isinstance(device, Tensor):
            device, dtype = device.device, device.dtype if dtype is None else dtype
        elif device is not None and (not isinstance(device, str) or _is_dtype_name(device)):
            device, dtype = None, device if dtype is None else dtype  # a dtype, a type, a name
        out = self
        if device is not None and backend.normalize_device(device) != self.device:
            out = ops.to_device(out, backend.normalize_device(device))
        if dtype is not None and resolve_dtype(dtype) != self.dtype:
            out = ops.cast(out, resolve_dtype(dtype))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("gpu")

    def float(self):
        return self.to(dtype=numpy.float32)

    def double(self):
        return self.to(dtype=numpy.float64)

    def long(self):
        return self.to(dtype=numpy.int64)

    def int(self):
        return self.to(dtype=numpy.int32)

    def half(self):
        return self.to(dtype=numpy.float16)

    def bool(self):
        return self.to(dtype=numpy.bool_)

    def type_as(self, other):
        return self.to(dtype=other.dtype)

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate gradients of this tensor into ``.grad`` of the leaves of its graph.

        ``create_graph=True`` records the graph of the gradients themselves, so that
        they can be differentiated again (``retain_graph`` then defaults to True)."""
        autograd.backward(self, gradient, retain_graph, create_graph)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when backward has computed the gradient with respect to
        this tensor; a returned Tensor replaces it. Returns a handle with ``remove()``."""
        return autograd.register_tensor_hook(self, hook)

    def retain_grad(self):
        """Keep the gradient of this non-leaf tensor in ``.grad`` (leaves always do)."""
        autograd.retain_grad(self)

    def astype(self, dtype):
        """NumPy's spelling of ``to(dtype=...)``, so backward formulas read the same on
        arrays and Tensors."""
        return self.to(dtype=dtype)

    def __repr__(self):
        body = numpy.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self.dtype != _DEFAULT_FLOAT and self.dtype != numpy.int64:
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __hash__ = object.__hash__

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with shape {self.shape} is "
                "ambiguous; use .any() or .all()"
            )
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iub":
            raise TypeError(
                f"only integer tensors of a single element can be converted to an index, "
                f"got a {self.dtype} tensor"
            )
        return int(self.item())

    # ---- operators (PyTorch's type promotion: see minidl.ops.base.result_type) ---------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __floordiv__(self, other):
        return ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return ops.floor_divide(other, self)

    def __mod__(self, other):
        return ops.remainder(self, other)

    def __rmod__(self, other):
        return ops.remainder(other, self)

    def __pow__(self, exponent):
        return ops.pow(self, exponent)

    def __rpow__(self, base):
        return ops.pow(base, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __invert__(self):
        return ops.bitwise_not(self)

    def __and__(self, other):
        return ops.bitwise_and(self, other)

    def __rand__(self, other):
        return ops.bitwise_and(other, self)

    def __or__(self, other):
        return ops.bitwise_or(self, other)

    def __ror__(self, other):
        return ops.bitwise_or(other, self)

    def __xor__(self, other):
        return ops.bitwise_xor(self, other)

    def __rxor__(self, other):
        return ops.bitwise_xor(other, self)

    def __lshift__(self, other):
        return ops.bitwise_left_shift(self, other)

    def __rlshift__(self, other):
        return ops.bitwise_left_shift(other, self)

    def __rshift__(self, other):
        return ops.bitwise_right_shift(self, other)

    def __rrshift__(self, other):
        return ops.bitwise_right_shift(other, self)

    # x += y is in place, as in PyTorch (so `with no_grad(): w -= lr * w.grad` updates w)
    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __ifloordiv__(self, other):
        return _in_place(self, ops.floor_divide, other)

    def __imod__(self, other):
        return self.remainder_(other)

    def __ipow__(self, exponent):
        return self.pow_(exponent)

    def __iand__(self, other):
        return _in_place(self, ops.bitwise_and, other)

    def __ior__(self, other):
        return _in_place(self, ops.bitwise_or, other)

    def __ixor__(self, other):
        return _in_place(self, ops.bitwise_xor, other)

    def __ilshift__(self, other):
        return _in_place(self, ops.bitwise_left_shift, other)

    def __irshift__(self, other):
        return _in_place(self, ops.bitwise_right_shift, other)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __setitem__(self, index, value):
        ops.setitem(self, index, value)

    # ---- in place (each bumps _version; see _in_place) -----------------------------------
    def fill_(self, value):
        """Every element set to ``value`` (a number or a 0-d tensor), cast to this dtype."""
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor "
                f"with {value.ndim} dimensions."
            )
        if not isinstance(value, (Tensor, int, float, bool, complex, numpy.number, numpy.bool_)):
            raise TypeError(
                f"fill_: value must be a number or a 0-d tensor, got {type(value).__name__}"
            )
        if not isinstance(value, Tensor):
            value = ops.conversion.check_scalar(value, self.dtype, "fill_")
            value = Tensor._make(numpy.asarray(value), None)
        return self.copy_(value)

    def zero_(self):
        return self.fill_(0)

    def uniform_(self, from_=0.0, to=1.0):
        """Every element drawn from U(from_, to) (minidl's seeded generator)."""
        return self.copy_(
            creation.rand(self.shape, dtype=_float_dtype(self, "uniform_"), device=self.device)
            * (to - from_)
            + from_
        )

    def normal_(self, mean=0.0, std=1.0):
        """Every element drawn from N(mean, std^2) (minidl's seeded generator)."""
        return self.copy_(
            creation.randn(self.shape, dtype=_float_dtype(self, "normal_"), device=self.device)
            * std
            + mean
        )

    def copy_(self, src):
        """This tensor's elements set to ``src``'s (broadcast to this shape, cast to this
        dtype); differentiable with respect to ``src``."""
        if not isinstance(src, Tensor):
            src = tensor(src, device=self.device)
        return _in_place(self, _broadcast_cast, src, check_dtype=False)

    # comparisons give boolean tensors outside the graph
    def __eq__(self, other):
        return ops.compare(self, other, "equal")

    def __ne__(self, other):
        return ops.compare(self, other, "not_equal")

    def __lt__(self, other):
        return ops.compare(self, other, "less")

    def __le__(self, other):
        return ops.compare(self, other, "less_equal")

    def __gt__(self, other):
        return ops.compare(self, other, "greater")

    def __ge__(self, other):
        return ops.compare(self, other, "greater_equal")


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new leaf tensor holding a copy of ``data`` (list, number, NumPy/CuPy array, Tensor).

    Python floats become float32 (minidl's default); NumPy arrays keep their dtype, so
    float64 stays float64. ``device`` defaults to the current backend's.
    """
    if device is None and not _is_array(data) and not isinstance(data, Tensor):
        device = backend.default_device()
    return Tensor(_to_array(data, dtype, device, copy=True), requires_grad=requires_grad)


def share_versions(view, base):
    """Record that ``view`` uses ``base``'s memory (a view op's output, ``detach()``):
    from now on an in-place write into either counts as a write into both. Returns
    ``view``. The members of a group hold weak references to each other."""
    group = base._shared
    if group is None:
        group = base._shared = [weakref.ref(base)]
    elif len(group) > 16:  # views made every step: drop the dead ones
        group[:] = [ref for ref in group if ref() is not None]
    group.append(weakref.ref(view))
    view._shared = group
    return view


from . import autograd, creation, ops  # noqa: E402  (they need Tensor defined first)
from .ops.base import category  # noqa: E402

# Tensor methods that simply forward to the op of the same name: ``x.name(*args, **kw)``
# is ``ops.name(x, *args, **kw)``. The op function itself is bound (no wrapper, no extra
# call). To give Tensor a method for a new op, add its name here.
# fmt: off
_OP_METHODS = (
    # elementwise
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
    "relu", "clamp", "clip", "maximum", "minimum", "lerp", "subtract", "multiply", "divide",
    "true_divide", "negative", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "arctan2",
    "sinh", "cosh", "asinh", "acosh", "atanh", "erf", "erfc", "exp2", "expm1", "log2", "log10",
    "log1p", "rsqrt", "reciprocal", "square", "sign", "floor", "ceil", "round", "trunc", "fix",
    "frac", "fmod", "remainder", "copysign", "hypot", "logaddexp", "floor_divide", "clamp_min",
    "clamp_max", "addcmul", "addcdiv", "clone", "nan_to_num",
    # tests, logical and bitwise
    "isnan", "isinf", "isfinite", "isposinf", "isneginf", "isclose", "allclose", "equal",
    "logical_not", "logical_and", "logical_or", "logical_xor", "bitwise_not", "bitwise_and",
    "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift",
    # linear algebra
    "matmul", "mm", "bmm", "mv", "dot", "outer", "trace",
    # reductions
    "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "softmax", "log_softmax",
    "prod", "var", "std", "logsumexp", "norm", "any", "all", "count_nonzero", "cumsum",
    "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort", "topk",
    # shape
    "reshape", "transpose", "permute", "flatten", "unsqueeze", "squeeze", "expand", "expand_as",
    "repeat", "tile", "flip", "roll", "tril", "triu", "diagonal", "diag", "unfold", "split",
    "chunk", "narrow", "movedim", "moveaxis", "swapaxes", "swapdims", "view_as", "reshape_as",
    "broadcast_to", "unbind",
    # selection
    "masked_fill", "masked_select", "nonzero", "gather", "scatter", "scatter_add",
    "index_select", "take_along_dim",
)
# fmt: on
for _name in _OP_METHODS:
    setattr(Tensor, _name, getattr(ops, _name))
Tensor.view = ops.reshape  # no strides here: every reshape is a view or a copy


# ---- in-place ops ---------------------------------------------------------------------


def _in_place(self, op, *args, check_dtype=True, **kwargs):
    """``self`` made to hold ``op(self, *args, **kwargs)``, as PyTorch's ``x.op_(...)``.

    Under no_grad (or when nothing requires grad) the result is written into
    ``self.data``'s memory, so references to it (``p.data``, views) see the change. When
    the op is recorded, ``self`` becomes the output of the new node; its old history
    continues through a copy of its old values (which the new node may have saved). A
    leaf that requires grad may only be modified under no_grad, as in PyTorch. The
    result must fit this dtype (no float into an integer tensor) and this shape (no
    broadcasting of ``self``). Every write bumps ``self._version`` (and the version of
    every tensor sharing its memory): a backward that saved the old values then refuses
    to run."""
    recorded = autograd.is_grad_enabled() and (
        self.requires_grad
        or any(isinstance(a, Tensor) and a.requires_grad for a in (*args, *kwargs.values()))
    )
    if recorded:
        if self._ctx is None and self.requires_grad:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        before = Tensor._make(self.data.copy(), self._ctx)
        before.requires_grad = self.requires_grad
        out = op(before, *args, **kwargs)
    else:
        with autograd.no_grad():
            out = op(self, *args, **kwargs)
    if out.shape != self.shape:
        raise RuntimeError(
            f"output with shape {list(self.shape)} doesn't match the "
            f"broadcast shape {list(out.shape)}"
        )
    if check_dtype and category(out.dtype) > category(self.dtype):
        raise RuntimeError(
            f"result type {out.dtype} can't be cast to the desired output type {self.dtype}"
        )
    autograd.note_in_place_write(self)
    if recorded:
        out = out.to(dtype=self.dtype)
        self._ctx, self.requires_grad = out._ctx, out.requires_grad
    self.data[...] = out.data
    self._bump_version()
    return self


def _float_dtype(t, name):
    if t.dtype.kind != "f":
        raise TypeError(
            f"{name}: only floating point tensors can be filled with random floats, got {t.dtype}"
        )
    return t.dtype


def _broadcast_cast(self, src):
    """``src`` as ``self``'s dtype, broadcast to ``self``'s shape (what copy_ writes)."""
    if not _broadcasts_to(src.shape, self.shape):
        raise RuntimeError(
            f"copy_: the source's shape {tuple(src.shape)} cannot be broadcast "
            f"to the tensor's shape {tuple(self.shape)}"
        )
    return ops.broadcast_to(src.to(dtype=self.dtype), self.shape)


def _broadcasts_to(shape, target):
    return len(shape) <= len(target) and all(
        n in (1, m) for n, m in zip(reversed(shape), reversed(target))
    )


def _in_place_method(op):
    def method(self, *args, **kwargs):
        return _in_place(self, op, *args, **kwargs)

    method.__name__ = method.__qualname__ = op.__name__ + "_"
    method.__doc__ = f"In-place :func:`minidl.{op.__name__}` (see ``_in_place``)."
    return method


# ``x.name_(...)``: the in-place form of the op ``name``.
# fmt: off
_IN_PLACE_METHODS = (
    "add", "sub", "mul", "div", "pow", "neg", "abs", "clamp", "clip", "exp", "log", "sqrt",
    "tanh", "sigmoid", "relu", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh",
    "cosh", "asinh", "acosh", "atanh", "erf", "erfc", "exp2", "expm1", "log2", "log10", "log1p",
    "rsqrt", "reciprocal", "square", "sign", "floor", "ceil", "round", "trunc", "frac", "fmod",
    "remainder", "copysign", "hypot", "lerp", "floor_divide", "clamp_min", "clamp_max",
    "addcmul", "addcdiv", "nan_to_num", "masked_fill", "scatter", "scatter_add", "tril", "triu",
)
# fmt: on
for _name in _IN_PLACE_METHODS:
    setattr(Tensor, _name + "_", _in_place_method(getattr(ops, _name)))

Tensor._array_namespace = ops.xp  # backend.array_module(tensor): NumPy's names, differentiable
