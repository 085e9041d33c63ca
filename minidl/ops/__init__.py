"""Differentiable primitives, by family; each :class:`~minidl.autograd.Function` has its
wrapper function right below it.

- :mod:`.elementwise`: arithmetic with PyTorch's type promotion
- :mod:`.math`: math functions (exp, log, trigonometric, erf, rounding, atan2, ...)
- :mod:`.logical`: tests, comparisons, logical and bitwise ops (constants)
- :mod:`.linalg`: matrix products, einsum
- :mod:`.reduce`: sums, means, max/min, softmax, prod, var/std, norms, any/all
- :mod:`.scan`: cumsum, cumprod, cummax/cummin, logcumsumexp
- :mod:`.sort`: sort, argsort, topk
- :mod:`.shape`: reshape, permute, broadcast, join, split, flip, roll, diagonals, unfold
- :mod:`.index`: indexing (PyTorch's rules), assignment, where, masks
- :mod:`.gather`: gather, scatter, scatter_add, take_along_dim, index_select
- :mod:`.conversion`: device and dtype moves
- :mod:`.xp`: NumPy's names on Tensors, the vocabulary backward formulas are written in
- :mod:`.base`: what they share (undoing broadcasting, ``dim`` arguments, operands)

Adding a built-in op: write its Function and wrapper in the family's file, export the
wrapper here (and from ``minidl/__init__.py``), give Tensor a method if torch has one,
and add its gradcheck and gradgradcheck (see docs/extending.md).
"""
from . import xp
from .base import unbroadcast
from .conversion import Cast, ToDevice, cast, to_device
from .elementwise import (
    Add, Clamp, Clone, Div, Maximum, Minimum, Mul, NanToNum, Neg, Pow, Sub, add, addcdiv,
    addcmul, clamp, clamp_max, clamp_min, clip, clone, div, divide, lerp, maximum, minimum,
    mul, multiply, nan_to_num, neg, negative, pow, sub, subtract, true_divide,
)
from .math import (
    Abs, Exp, Log, ReLU, Sigmoid, Sqrt, Tanh, Unary, abs, acos, acosh, arctan2, asin, asinh,
    atan, atan2, atanh, ceil, copysign, cos, cosh, erf, erfc, exp, exp2, expm1, fix, floor,
    floor_divide, fmod, frac, hypot, log, log1p, log2, log10, logaddexp, reciprocal,
    relu, remainder, round, rsqrt, sigmoid, sign, sin, sinh, sqrt, square, tan, tanh, trunc,
)
from .logical import (
    allclose, bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift,
    bitwise_xor, equal, isclose, isfinite, isinf, isnan, isneginf, isposinf, logical_and,
    logical_not, logical_or, logical_xor,
)
from .index import (
    GetItem, IndexAddZeros, SetItem, Where, compare, getitem, masked_fill, masked_select,
    nonzero, one_hot, setitem, where,
)
from .gather import (
    Gather, Scatter, ScatterAdd, gather, index_select, scatter, scatter_add, take_along_dim,
)
from .linalg import (
    Einsum, MatMul, bmm, dot, einsum, matmul, mm, mv, outer, trace,
)
from .reduce import (
    Amax, Amin, LogSoftmax, Mean, MaxResult, PNorm, Prod, Softmax, Sum, all, amax, amin,
    any, argmax, argmin, count_nonzero, log_softmax, logsumexp, max, mean, min, norm, prod,
    softmax, std, std_mean, sum, var, var_mean,
)
from .scan import (
    CumProd, CumSum, LogCumSumExp, cummax, cummin, cumprod, cumsum, logcumsumexp,
)
from .shape import (
    BroadcastTo, Concatenate, Permute, Reshape, Stack, broadcast_to, cat, chunk, concat,
    concatenate, diag, diagonal, expand, expand_as, flatten, flip, moveaxis, movedim,
    narrow, permute, repeat, reshape, reshape_as, roll, split, squeeze, stack, swapaxes,
    swapdims, tile, transpose, tril, triu, unbind, unfold, unsqueeze, view_as,
)
from .sort import argsort, sort, topk
