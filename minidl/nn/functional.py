"""The functional forms of layers and losses (``minidl.nn.functional``, imported as F).

Layers that run once per step on big arrays (linear, cross-entropy, dropout) are fused
Functions: one forward and one backward each, a few array calls apiece, so that the
Python overhead per training step stays small next to the matrix products.
"""

import numpy

from ..autograd import Function
from ..backend import array_module
from ..random import generator
from ..tensor import Tensor, _in_place

__all__ = [
    "linear",
    "relu",
    "leaky_relu",
    "gelu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "relu6",
    "elu",
    "selu",
    "celu",
    "silu",
    "mish",
    "softplus",
    "softsign",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "logsigmoid",
    "glu",
    "prelu",
    "threshold",
    "dropout",
    "dropout2d",
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "binary_cross_entropy_with_logits",
]

from .activation import (
    celu,
    elu,
    gelu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    mish,
    prelu,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    tanh,
    threshold,
)


class Linear(Function):
    """y = x W^T + b, x of shape (..., in), W (out, in), b (out,)
    dx = g W ;  dW = g^T x ;  db = sum of g over the batch"""

    @staticmethod
    def forward(ctx, x, weight, bias):
        if x.shape[-1] != weight.shape[-1]:
            raise ValueError(
                f"linear: input has {x.shape[-1]} features (shape {x.shape})"
                f" but the weight expects {weight.shape[-1]} (shape {weight.shape})"
            )
        if x.dtype is not weight.dtype or (bias is not None and bias.dtype is not x.dtype):
            _check_same_dtype("linear", x, weight, bias)
        ctx.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = g @ weight if need_x else None
        if g.ndim != 2:  # a batch of more than one dimension: flatten it
            g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        dw = g.T @ x if need_w else None
        db = g.sum(axis=0) if need_b else None
        return dx, dw, db


def _check_same_dtype(name, x, weight, bias=None):
    """PyTorch's layers refuse an input, weight and bias of different dtypes (no
    promotion): raise naming them. Called only when a quick identity test of the dtypes
    fails, so that the common case pays one comparison."""
    dtypes = [x.dtype, weight.dtype] + ([] if bias is None else [bias.dtype])
    if any(d != dtypes[0] for d in dtypes):
        names = ("input", "weight", "bias")
        found = ", ".join(f"{n} {d}" for n, d in zip(names, dtypes))
        raise TypeError(f"{name}: expected the input, weight and bias in one dtype, got {found}")


def linear(input, weight, bias=None):
    return Linear.apply(input, weight, bias)


class Dropout(Function):
    """Inverted dropout: y = x * m / (1 - p), m ~ Bernoulli(1 - p) ;  dx = g * m / (1 - p)"""

    @staticmethod
    def forward(ctx, x, p):
        mask = _keep_mask(x.shape, p, x)
        ctx.mask = mask  # a constant of the op (an attribute, not a saved tensor)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask, None


def _keep_mask(shape, p, like):
    """m / (1 - p) with m ~ Bernoulli(1 - p) of ``shape``, in ``like``'s dtype and device."""
    xp = array_module(like)
    if xp is numpy:
        keep = generator().random(shape, dtype=numpy.float32) >= p
    else:
        keep = xp.random.random_sample(shape, dtype=xp.float32) >= p
    mask = keep.astype(like.dtype)
    mask *= 1 / (1 - p)
    return mask


def _check_dropout(p, training):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if training is not True and training is not False and not isinstance(training, numpy.bool_):
        raise TypeError(f"dropout: training must be a bool, got {training!r}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p) while training;
    identity otherwise. ``inplace=True`` writes the result into ``input``."""
    _check_dropout(p, training)
    if not training or p == 0:
        return input
    if inplace:
        return _in_place(input, dropout, p)
    if p == 1:
        return input * 0.0
    return Dropout.apply(input, p)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: each (sample, channel) plane of an (N, C, H, W) input (or row
    of an (N, C, L) one) is dropped with probability p, the rest scaled by 1/(1-p), while
    training; identity otherwise. ``inplace=True`` writes the result into ``input``."""
    _check_dropout(p, training)
    if input.ndim not in (3, 4):
        raise ValueError(
            f"dropout2d: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, "
            f"got shape {tuple(input.shape)}"
        )
    if not training or p == 0:
        return input
    if inplace:
        return _in_place(input, dropout2d, p)
    if p == 1:
        return input * 0.0
    mask = _keep_mask(tuple(input.shape[:2]) + (1,) * (input.ndim - 2), p, input.data)
    return input * Tensor._make(mask, None)


# ---- layers with a file of their own: re-exported here, torch's F namespace ----------
from .conv import conv1d, conv2d, conv_transpose2d  # noqa: E402
from .embedding import embedding  # noqa: E402
from .normalization import batch_norm, layer_norm  # noqa: E402
from .pooling import (  # noqa: E402
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)

__all__ += [
    "conv1d",
    "conv2d",
    "conv_transpose2d",
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "batch_norm",
    "layer_norm",
    "embedding",
]
from ..ops import one_hot  # noqa: E402
from .attention import scaled_dot_product_attention  # noqa: E402
from .distance import cosine_similarity, normalize  # noqa: E402
from .losses import (  # noqa: E402
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from .sampling import interpolate, pad  # noqa: E402

__all__ += [
    "binary_cross_entropy",
    "cosine_embedding_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "smooth_l1_loss",
    "pad",
    "interpolate",
    "normalize",
    "cosine_similarity",
    "scaled_dot_product_attention",
    "one_hot",
]
