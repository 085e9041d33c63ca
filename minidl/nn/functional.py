"""The functional forms of layers and losses (``minidl.nn.functional``, imported as F).

Layers that run once per step on big arrays (linear, cross-entropy, dropout) are fused
Functions: one forward and one backward each, a few array calls apiece, so that the
Python overhead per training step stays small next to the matrix products.
"""
import math

import numpy

from .. import ops
from ..autograd import Function
from ..backend import array_module, device_of, to_device
from ..random import generator
from ..tensor import Tensor

__all__ = [
    "linear", "relu", "leaky_relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
    "dropout", "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits",
]

relu, sigmoid, tanh = ops.relu, ops.sigmoid, ops.tanh
softmax, log_softmax = ops.softmax, ops.log_softmax


class Linear(Function):
    """y = x W^T + b, x of shape (..., in), W (out, in), b (out,)
    dx = g W ;  dW = g^T x ;  db = sum of g over the batch"""
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        dx = g @ weight if need_x else None
        dw = g2.T @ x.reshape(-1, x.shape[-1]) if need_w else None
        db = g2.sum(axis=0) if need_b else None
        return dx, dw, db


def linear(input, weight, bias=None):
    if input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input has {input.shape[-1]} features (shape {input.shape})"
                         f" but the weight expects {weight.shape[-1]} (shape {weight.shape})")
    return Linear.apply(input, weight, bias)


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x ;  dx = g if x > 0 else slope * g"""
    @staticmethod
    def forward(ctx, x, slope):
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.slope = slope
        return array_module(x).where(positive, x, x * slope)

    @staticmethod
    def backward(ctx, g):
        (positive,) = ctx.saved_tensors
        return array_module(g).where(positive, g, g * ctx.slope), None


def leaky_relu(input, negative_slope=0.01):
    return LeakyReLU.apply(input, negative_slope)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _erf(x):
    """erf(x) to 1.5e-7 (Abramowitz & Stegun 7.1.26); NumPy has no erf and SciPy is no
    dependency. Enough for float32, where one ulp near 1 is 6e-8."""
    xp = array_module(x)
    t = 1 / (1 + 0.3275911 * xp.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    return xp.sign(x) * (1 - poly * xp.exp(-x * x))


class GELU(Function):
    """y = x Phi(x), Phi the standard normal CDF ;  dy/dx = Phi(x) + x phi(x)
    With approximate="tanh": Phi(x) ~ (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3)."""
    @staticmethod
    def forward(ctx, x, approximate):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            cdf = 0.5 * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
        else:
            cdf = 0.5 * (1 + _erf(x * (1 / math.sqrt(2))))
        return x * cdf

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        if ctx.approximate == "tanh":
            th = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            slope = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du
        else:
            pdf = xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
            slope = 0.5 * (1 + _erf(x * (1 / math.sqrt(2)))) + x * pdf
        return g * slope, None


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(input, approximate)


class Dropout(Function):
    """Inverted dropout: y = x * m / (1 - p), m ~ Bernoulli(1 - p) ;  dx = g * m / (1 - p)"""
    @staticmethod
    def forward(ctx, x, p):
        xp = array_module(x)
        if xp is numpy:
            keep = generator().random(x.shape, dtype=numpy.float32) >= p
        else:
            keep = xp.random.random_sample(x.shape, dtype=xp.float32) >= p
        mask = keep.astype(x.dtype)
        mask *= 1 / (1 - p)
        ctx.mask = mask  # a constant of the op (an attribute, not a saved tensor)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask, None


def dropout(input, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) while training;
    identity otherwise."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    return Dropout.apply(input, p)


# ---- losses -------------------------------------------------------------------------
_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _check_class_targets(input, target, name):
    if input.ndim != 2:
        raise ValueError(f"{name}: input must have shape (batch, classes), got {input.shape}")
    if target.ndim != 1 or target.shape[0] != input.shape[0]:
        raise ValueError(f"{name}: target must have shape ({input.shape[0]},) to match input "
                         f"{input.shape}, got {target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype "
                        f"{target.dtype}")
    if target.size and (int(target.min()) < 0 or int(target.max()) >= input.shape[1]):
        raise ValueError(f"{name}: target values must be in [0, {input.shape[1] - 1}], got "
                         f"min {int(target.min())}, max {int(target.max())}")


def _as_array(target, like):
    """Class indices (Tensor, array or list) as an array on ``like``'s device."""
    target = target.data if isinstance(target, Tensor) else target
    if not hasattr(target, "dtype"):
        target = numpy.asarray(target)
    return to_device(target, device_of(like.data if isinstance(like, Tensor) else like))


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood over classes c for each row i:

        loss_i = -(1 - s) * log p_i[t_i] - (s / C) * sum_c log p_i[c],
        log p_i = z_i - max(z_i) - log sum_c exp(z_i[c] - max(z_i))   (stable for any z)
        d loss_i / d z_i = p_i - (1 - s) * onehot(t_i) - s / C

    s is the label smoothing, C the number of classes.
    """
    @staticmethod
    def forward(ctx, logits, target, reduction, smoothing):
        xp = array_module(logits)
        n, classes = logits.shape
        rows = xp.arange(n)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        log_norm = xp.log(sum_exp)[:, 0]
        losses = (log_norm - shifted[rows, target]) * (1 - smoothing)
        if smoothing:
            losses += smoothing * (log_norm - shifted.mean(axis=1))
        exp /= sum_exp  # now the softmax probabilities
        ctx.save_for_backward(exp, target)
        ctx.reduction, ctx.smoothing = reduction, smoothing
        if reduction == "mean":
            return losses.sum() / n  # what losses.mean() computes, without its Python wrapper
        return losses.sum() if reduction == "sum" else losses

    @staticmethod
    def backward(ctx, g):
        probs, target = ctx.saved_tensors
        n, classes = probs.shape
        grad = probs - ctx.smoothing / classes if ctx.smoothing else probs.copy()
        grad[array_module(grad).arange(n), target] -= 1 - ctx.smoothing
        if ctx.reduction == "none":
            grad *= g[:, None]
        else:
            grad *= g / n if ctx.reduction == "mean" else g
        return grad, None, None, None

    @staticmethod
    def composite(logits, target, reduction, smoothing):
        """The same loss from differentiable ops (create_graph differentiates this)."""
        log_probs = ops.log_softmax(logits, dim=1)
        n = logits.shape[0]
        losses = -log_probs[array_module(target).arange(n), target] * (1 - smoothing)
        if smoothing:
            losses = losses - log_probs.mean(axis=1) * smoothing
        return _reduce(losses, reduction)


def cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits ``input`` (N, C) against class indices ``target`` (N,)."""
    target = _as_array(target, input)
    _check_reduction(reduction)
    _check_class_targets(input, target, "cross_entropy")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    return CrossEntropy.apply(input, target, reduction, float(label_smoothing))


def nll_loss(input, target, reduction="mean"):
    """Negative log-likelihood: loss_i = -input[i, target_i] for log-probabilities input."""
    target = _as_array(target, input)
    _check_reduction(reduction)
    _check_class_targets(input, target, "nll_loss")
    picked = input[array_module(target).arange(input.shape[0]), target]
    return _reduce(-picked, reduction)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: loss = (input - target)^2, reduced."""
    _check_reduction(reduction)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape "
                         f"{target.shape} differ")
    diff = input - target
    return _reduce(diff * diff, reduction)


class BCEWithLogits(Function):
    """loss = max(z, 0) - z t + log(1 + exp(-|z|))   (= -t log s(z) - (1-t) log(1-s(z)))
    dz = g (sigmoid(z) - t) ;  dt = -g z"""
    @staticmethod
    def forward(ctx, z, t):
        xp = array_module(z)
        ctx.save_for_backward(z, t)
        return xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))

    @staticmethod
    def backward(ctx, g):
        z, t = ctx.saved_tensors
        need_z, need_t = ctx.needs_input_grad
        sig = (array_module(z).tanh(z * 0.5) + 1) * 0.5
        return (g * (sig - t) if need_z else None, -g * z if need_t else None)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """Binary cross-entropy on logits, stable for any logit."""
    _check_reduction(reduction)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"binary_cross_entropy_with_logits: input shape {input.shape} and "
                         f"target shape {target.shape} differ")
    return _reduce(BCEWithLogits.apply(input, target), reduction)
