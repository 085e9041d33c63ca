"""minidl: a small deep-learning framework, from scratch, on NumPy (CPU) or CuPy (GPU).

The public surface follows PyTorch's names: ``minidl.tensor``, ``Tensor.backward``,
``minidl.no_grad``, ``minidl.nn``, ``minidl.optim``, ``minidl.data``.
"""
from .tensor import Tensor, tensor  # first: autograd and ops need Tensor
from . import backend
from .autograd import Function, no_grad, enable_grad, is_grad_enabled, set_grad_enabled
from .ops import (
    add, sub, mul, div, neg, pow, matmul, exp, log, sqrt, abs, tanh, sigmoid, relu,
    clamp, clip, maximum, minimum, lerp, subtract, multiply, divide, true_divide, negative,
    clamp_min, clamp_max, addcmul, addcdiv, clone, nan_to_num,
    sin, cos, tan, asin, acos, atan, atan2, arctan2, sinh, cosh, asinh, acosh, atanh, erf,
    erfc, exp2, expm1, log2, log10, log1p, rsqrt, reciprocal, square, sign, floor, ceil,
    round, trunc, fix, frac, fmod, remainder, copysign, hypot, logaddexp, floor_divide,
    isnan, isinf, isfinite, isposinf, isneginf, isclose, allclose, equal, logical_not,
    logical_and, logical_or, logical_xor, bitwise_not, bitwise_and, bitwise_or, bitwise_xor,
    bitwise_left_shift, bitwise_right_shift, sum, mean, max, min, amax, amin, argmax, argmin,
    reshape, transpose, permute, flatten, unsqueeze, squeeze, cat, concatenate, stack,
    log_softmax, softmax, where, broadcast_to, swapaxes, swapdims, concat,
    # shape, selection, reductions, scans, sorting, einsum
    expand, expand_as, repeat, tile, flip, roll, tril, triu, diagonal, diag, unfold, split,
    chunk, narrow, movedim, moveaxis, view_as, reshape_as, unbind, masked_fill,
    masked_select, nonzero, gather, scatter, scatter_add, index_select, take_along_dim,
    prod, var, std, var_mean, std_mean, logsumexp, norm, any, all, count_nonzero, cumsum,
    cumprod, cummax, cummin, logcumsumexp, sort, argsort, topk, einsum, mm, bmm, mv,
    dot, outer, trace,
)
from .creation import (
    zeros, ones, full, empty, eye, zeros_like, ones_like, full_like, empty_like, arange,
    linspace, logspace, rand, randn, randint, randperm, rand_like, randn_like,
)
from .random import manual_seed
from .gradcheck import gradcheck, gradgradcheck, GradcheckError

import numpy as _numpy

float16, float32, float64 = _numpy.float16, _numpy.float32, _numpy.float64
int32, int64, bool_ = _numpy.int32, _numpy.int64, _numpy.bool_

__version__ = "0.1.0"

from .serialization import save, load, CheckpointError
from . import nn
from . import optim, data
from . import viz, profiler
from . import utils
