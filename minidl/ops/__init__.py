"""Differentiable primitives, by family; each :class:`~minidl.autograd.Function` has its
wrapper function right below it.

- :mod:`.elementwise`: arithmetic and math functions
- :mod:`.linalg`: matrix products
- :mod:`.reduce`: sums, means, max/min, softmax
- :mod:`.shape`: reshape, permute, broadcast, concatenate, stack
- :mod:`.index`: indexing, where, comparisons
- :mod:`.conversion`: device and dtype moves
- :mod:`.xp`: NumPy's names on Tensors, the vocabulary backward formulas are written in
- :mod:`.base`: what they share (undoing broadcasting, ``dim`` arguments, operands)

Adding a built-in op: write its Function and wrapper in the family's file, export the
wrapper here (and from ``minidl/__init__.py``), give Tensor a method if torch has one,
and add its gradcheck and gradgradcheck (see docs/extending.md).
"""
from . import xp  # noqa: F401
from .base import unbroadcast  # noqa: F401
from .conversion import Cast, ToDevice, cast, to_device  # noqa: F401
from .elementwise import (  # noqa: F401
    Abs, Add, Clamp, Div, Exp, Log, Maximum, Minimum, Mul, Neg, Pow, ReLU, Sigmoid, Sqrt,
    Sub, Tanh, abs, add, clamp, clip, div, exp, log, maximum, minimum, mul, neg, pow, relu,
    sigmoid, sqrt, sub, tanh,
)
from .index import GetItem, IndexAddZeros, Where, compare, getitem, where  # noqa: F401
from .linalg import MatMul, matmul  # noqa: F401
from .reduce import (  # noqa: F401
    Amax, Amin, LogSoftmax, Mean, MaxResult, Softmax, Sum, amax, amin, argmax, argmin,
    log_softmax, max, mean, min, softmax, sum,
)
from .shape import (  # noqa: F401
    BroadcastTo, Concatenate, Permute, Reshape, Stack, broadcast_to, cat, concat,
    concatenate, flatten, permute, reshape, squeeze, stack, swapaxes, swapdims, transpose,
    unsqueeze,
)
