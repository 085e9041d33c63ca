"""Tensor: an array (NumPy or CuPy), its gradient, and the node that produced it.

A tensor is a leaf when the user made it (``_ctx is None``) and an interior node
when an op made it (``_ctx`` is that op's :class:`~minidl.autograd.Function`
instance). Arithmetic, indexing and the math methods are thin wrappers over the
differentiable ops in :mod:`minidl.ops`.
"""
import numpy

from . import backend

__all__ = ["Tensor", "tensor", "resolve_dtype"]

_DEFAULT_FLOAT = numpy.dtype(numpy.float32)


def resolve_dtype(dtype):
    """A NumPy dtype from None, a dtype, a type or a name ("float32"); None stays None."""
    return None if dtype is None else numpy.dtype(dtype)


def _is_array(x):
    """True for a NumPy or CuPy array (not for a Tensor, a list or a number)."""
    return isinstance(x, numpy.ndarray) or (
        not isinstance(x, Tensor) and backend.array_module(x) is not numpy)


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
    array = numpy.asarray(data, dtype=dtype)
    if dtype is None and array.dtype.kind == "f" and not isinstance(data, numpy.generic):
        array = array.astype(_DEFAULT_FLOAT)
    elif copy and array is data:
        array = array.copy()
    return backend.to_device(array, device)


class Tensor:
    """An n-dimensional array that records the ops applied to it for autograd.

    ``Tensor(data)`` wraps a backend array without copying it; ``minidl.tensor(data)``
    always copies. ``data``: the NumPy or CuPy array. ``grad``: a Tensor of the same
    shape once ``backward`` has reached this tensor, else None.
    """

    __slots__ = ("data", "_grad", "requires_grad", "_ctx", "_version", "_hooks", "__weakref__")
    __array_priority__ = 1000  # ndarray + Tensor dispatches to Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _to_array(data, dtype, device)
        self._grad = None
        self._ctx = None
        self._version = 0  # bumped by every in-place write; backward checks it
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
        t._hooks = None
        t.requires_grad = ctx is not None
        return t

    # ---- properties ---------------------------------------------------------------
    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got "
                                f"{type(value).__name__}; wrap arrays with minidl.tensor()")
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has shape {tuple(value.shape)}, but the "
                                   f"tensor has shape {tuple(self.shape)}")
            if value.dtype != self.dtype:
                raise RuntimeError(f"assigned grad has dtype {value.dtype}, but the tensor "
                                   f"has dtype {self.dtype}")
            if value.device != self.device:
                raise RuntimeError(f"assigned grad is on {value.device}, but the tensor is "
                                   f"on {self.device}")
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

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ---- conversion ---------------------------------------------------------------
    def numpy(self):
        """A host NumPy copy of the data."""
        return numpy.array(backend.to_device(self.data, "cpu"), copy=True)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a "
                             f"Python number, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """The same data, cut from the graph (shares memory, like PyTorch)."""
        return Tensor._make(self.data, None)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(f"only floating point tensors can require gradients, got dtype "
                            f"{self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def to(self, device=None, dtype=None):
        """This tensor on ``device`` ("cpu"/"gpu") and/or as ``dtype``; differentiable."""
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
        if self._ctx is None:
            return
        def keep(grad):
            self._grad = grad if self._grad is None else self._grad + grad
        autograd.register_tensor_hook(self, keep)

    def astype(self, dtype):
        """NumPy's spelling of ``to(dtype=...)``, so backward formulas read the same on
        arrays and Tensors."""
        return self.to(dtype=dtype)

    def zero_(self):
        self.data[...] = 0
        return self

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
            raise RuntimeError(f"the truth value of a tensor with shape {self.shape} is "
                               "ambiguous; use .any() or .all()")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        return int(self.item())

    # ---- arithmetic -----------------------------------------------------------------
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

    def __neg__(self):
        return ops.neg(self)

    def __pow__(self, exponent):
        return ops.pow(self, exponent)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __setitem__(self, index, value):
        ops.setitem(self, index, value)

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


from . import autograd, ops  # noqa: E402  (both need Tensor defined first)

# Tensor methods that simply forward to the op of the same name: ``x.name(*args, **kw)``
# is ``ops.name(x, *args, **kw)``. The op function itself is bound (no wrapper, no extra
# call). To give Tensor a method for a new op, add its name here.
_OP_METHODS = (
    # elementwise
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh",
    "sigmoid", "relu", "clamp", "clip", "maximum", "minimum",
    # linear algebra
    "matmul",
    # reductions
    "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "softmax",
    "log_softmax", "prod", "var", "std", "logsumexp", "norm", "any", "all", "count_nonzero",
    "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort", "topk",
    # shape
    "reshape", "transpose", "permute", "flatten", "unsqueeze", "squeeze",
    "expand", "expand_as", "repeat", "tile", "flip", "roll", "tril", "triu", "diagonal",
    "diag", "unfold", "split", "chunk", "narrow", "movedim", "moveaxis", "swapaxes",
    "swapdims", "view_as", "reshape_as", "broadcast_to", "unbind",
    # selection
    "masked_fill", "masked_select", "nonzero", "gather", "scatter", "scatter_add",
    "index_select", "take_along_dim",
)
for _name in _OP_METHODS:
    setattr(Tensor, _name, getattr(ops, _name))
Tensor.view = ops.reshape  # no strides here: every reshape is a view or a copy

Tensor._array_namespace = ops.xp  # backend.array_module(tensor): NumPy's names, differentiable
