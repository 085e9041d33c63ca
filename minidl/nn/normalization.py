"""Normalisation: one fused op that normalises over some axes, the functional forms
``batch_norm`` and ``layer_norm``, and the Modules ``BatchNorm1d``, ``BatchNorm2d`` and
``LayerNorm``.

Over the normalised axes (the batch and spatial axes for batch norm, the last axes for
layer norm), with n the number of elements averaged:

    mu = mean(x),  var = mean((x - mu)^2)   (biased),  r = 1 / sqrt(var + eps)
    xhat = (x - mu) r,   y = xhat w + b

and, with h = g w and the means again over the normalised axes,

    dx = r (h - mean(h) - xhat mean(h xhat)),   dw = sum(g xhat),   db = sum(g)

Batch norm in training also updates the running statistics, as torch does, with the
unbiased variance: running_mean = (1 - m) running_mean + m mu,
running_var = (1 - m) running_var + m var n / (n - 1). In evaluation it normalises
with them instead: y = (x - running_mean) / sqrt(running_var + eps) w + b.
"""

import numpy

from ..autograd import Function
from ..backend import array_module
from ..creation import ones, zeros
from ..ops import unbroadcast
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["Normalize", "batch_norm", "layer_norm", "BatchNorm1d", "BatchNorm2d", "LayerNorm"]


class Normalize(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b over ``axes`` (see the module docstring);
    w and b broadcast against x, or are None. ``running`` = (running_mean,
    running_var, momentum) arrays of shape (C,) updated in place, or None.
    Keeps xhat and r for backward; ``composite`` gives the same from differentiable ops."""

    @staticmethod
    def forward(ctx, x, weight, bias, axes, eps, running):
        if x.dtype.kind != "f":
            raise TypeError(f"normalization: expected a floating point input, got dtype {x.dtype}")
        xp = array_module(x)
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        if running is not None:
            running_mean, running_var, momentum = running
            n = x.size // mean.size
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(-1)
            running_var *= 1 - momentum
            running_var += (momentum * n / (n - 1)) * var.reshape(-1)
        rstd = 1 / xp.sqrt(var + eps)
        xhat = centred
        xhat *= rstd  # centred is a fresh temporary: normalise it in place
        ctx.xhat, ctx.rstd, ctx.axes = xhat, rstd, axes  # first-order only (see composite)
        ctx.bias_shape = None if bias is None else bias.shape
        ctx.save_for_backward(weight)
        y = xhat * weight if weight is not None else xhat.copy()
        if bias is not None:
            y += bias
        return y

    @staticmethod
    def backward(ctx, g):
        (weight,) = ctx.saved_tensors
        xhat, rstd, axes = ctx.xhat, ctx.rstd, ctx.axes
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        # A weight constant over the normalised axes (batch norm's, per channel) factors
        # out of the means: dx = r w (g - mean(g) - xhat mean(g xhat)), and the two sums
        # are db and dw. Otherwise (layer norm's) h = g w goes inside.
        per_row = weight is None or (
            weight.ndim == g.ndim and all(weight.shape[a] == 1 for a in axes)
        )
        h = g if per_row else g * weight
        sum_h = h.sum(axis=axes, keepdims=True)
        h_xhat = h * xhat
        sum_hx = h_xhat.sum(axis=axes, keepdims=True)
        dx = dw = db = None
        if need_x:
            n = g.size // sum_h.size
            scale = rstd * weight if per_row and weight is not None else rstd
            # reuse the temporary h_xhat for xhat mean(h xhat) (first order only: the
            # engine differentiates the composite under create_graph)
            correction = array_module(g).multiply(xhat, sum_hx * (1 / n), out=h_xhat)
            dx = (h - sum_h * (1 / n) - correction) * scale
        if need_w:
            dw = unbroadcast(sum_hx if per_row else g * xhat, weight.shape)
        if need_b:
            db = unbroadcast(sum_h if per_row else g, ctx.bias_shape)
        return dx, dw, db, None, None, None

    @staticmethod
    def composite(x, weight, bias, axes, eps, running):
        centred = x - x.mean(axis=axes, keepdims=True)
        xhat = centred / ((centred * centred).mean(axis=axes, keepdims=True) + eps).sqrt()
        y = xhat * weight if weight is not None else xhat
        return y + bias if bias is not None else y


def _channel_shape(x):
    """(1, C, 1, ...): a per-channel vector broadcast against x (N, C, ...)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _per_channel(t, x):
    return None if t is None else t.reshape(_channel_shape(x))


def batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """Batch normalisation of (N, C, ...) per channel C (see the module docstring).
    ``training``: normalise with this batch's statistics and update ``running_mean`` /
    ``running_var`` (Tensors of shape (C,), or None) in place; otherwise normalise with
    them."""
    if input.ndim < 2:
        raise ValueError(
            f"batch_norm: expected an input of shape (N, C, ...), got shape {tuple(input.shape)}"
        )
    if eps < 0:
        raise ValueError(f"batch_norm: eps must be non-negative, but got {eps}")
    if input.dtype.kind != "f":
        raise TypeError(f"batch_norm: expected a floating point input, got dtype {input.dtype}")
    c = input.shape[1]
    parameters = (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    )
    for name, t in parameters:
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(
                f"batch_norm: {name} must have shape ({c},) for an input with "
                f"{c} channels, got {tuple(t.shape)}"
            )
    axes = (0,) + tuple(range(2, input.ndim))
    if training and input.numel() // c <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when "
            f"training, got input size {tuple(input.shape)}"
        )
    for name, t in parameters:
        if t is not None and t.dtype != input.dtype:
            raise TypeError(
                f"batch_norm: {name} has dtype {t.dtype} and the input {input.dtype}: "
                f"they must be the same"
            )
    if training:
        running = None
        if running_mean is not None and running_var is not None:
            running = (running_mean.data, running_var.data, momentum)
        return Normalize.apply(
            input, _per_channel(weight, input), _per_channel(bias, input), axes, eps, running
        )
    if running_mean is None or running_var is None:
        raise ValueError(
            "batch_norm: running_mean and running_var must be given in "
            "evaluation mode (training=False)"
        )
    xp = array_module(input.data)
    scale = (1 / xp.sqrt(running_var.data.astype(input.dtype) + eps)).reshape(_channel_shape(input))
    shift = running_mean.data.astype(input.dtype).reshape(_channel_shape(input))
    y = (input - Tensor._make(shift, None)) * Tensor._make(scale, None)
    if weight is not None:
        y = y * _per_channel(weight, input)
    return y + _per_channel(bias, input) if bias is not None else y


def _shape_tuple(normalized_shape):
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(n) for n in normalized_shape)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the last ``len(normalized_shape)`` axes, whose sizes
    must be ``normalized_shape``; ``weight`` and ``bias`` have that shape."""
    shape = _shape_tuple(normalized_shape)
    if (
        not shape
        or tuple(input.shape[input.ndim - len(shape) :]) != shape
        or input.ndim < len(shape)
    ):
        raise ValueError(
            f"layer_norm: given normalized_shape={list(shape)}, expected an "
            f"input with shape [*, {', '.join(map(str, shape))}], but got "
            f"input of size {list(input.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got {tuple(t.shape)}")
        if t is not None and t.dtype != input.dtype:
            raise TypeError(
                f"layer_norm: {name} has dtype {t.dtype} and the input {input.dtype}: "
                f"they must be the same"
            )
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    return Normalize.apply(input, weight, bias, axes, eps, None)


# ---- modules ----------------------------------------------------------------------------
class _BatchNorm(Module):
    """torch's batch norm modules: weight (ones) and bias (zeros) if ``affine``; buffers
    running_mean (zeros), running_var (ones) and num_batches_tracked (0) if
    ``track_running_stats``. In training mode they normalise with the batch's statistics
    and update the running ones (momentum None: their cumulative average); in eval mode
    they use the running ones."""

    dims = ()

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        dtype=None,
        device=None,
    ):
        super().__init__()
        if num_features <= 0:
            raise ValueError(
                f"{type(self).__name__}: num_features must be positive, got {num_features}"
            )
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype, device=device))
            self.bias = Parameter(zeros(num_features, dtype=dtype, device=device))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer(
                "num_batches_tracked", Tensor(numpy.array(0, dtype=numpy.int64), device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x):
        if x.ndim not in self.dims:
            raise ValueError(
                f"{type(self).__name__}: expected "
                f"{' or '.join(f'{d}D' for d in self.dims)} input (got "
                f"{x.ndim}D input of shape {tuple(x.shape)})"
            )
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if momentum is None:  # a cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or not self.track_running_stats
        tracked = not self.training or self.track_running_stats
        return batch_norm(
            x,
            self.running_mean if tracked else None,
            self.running_var if tracked else None,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum if momentum is not None else 0.0,
            self.eps,
        )

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """torch.nn.BatchNorm1d over (N, C) or (N, C, L)."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """torch.nn.BatchNorm2d over (N, C, H, W)."""

    dims = (4,)


class LayerNorm(Module):
    """torch.nn.LayerNorm: normalises the last axes of shape ``normalized_shape``; a
    learnable weight (ones) and bias (zeros) of that shape if ``elementwise_affine``."""

    def __init__(
        self,
        normalized_shape,
        eps=1e-5,
        elementwise_affine=True,
        bias=True,
        dtype=None,
        device=None,
    ):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) < 1:
            raise ValueError(
                f"LayerNorm: normalized_shape must be positive sizes, got {normalized_shape!r}"
            )
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = Parameter(ones(*self.normalized_shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(zeros(*self.normalized_shape, dtype=dtype, device=device))

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
