"""Padding and resampling: ``F.pad`` and ``F.interpolate``, with their Modules.

Both are gathers: each output entry reads one input entry (padding, nearest) or mixes
two neighbours per resampled dim (linear modes), so they are built from indexing, whose
backward adds the gradient back where each entry was read (and differentiates again).
"""

import math

import numpy

from ..backend import array_module
from ..ops.index import GetItem, Index, IndexAddZeros
from ..tensor import Tensor
from .module import Module

__all__ = [
    "pad",
    "interpolate",
    "ZeroPad2d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "CircularPad2d",
    "Upsample",
]

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _along(x, dim, index):
    """``x`` indexed along ``dim`` by the integer array ``index`` (dims stay in place)."""
    return GetItem.apply(x, Index(None, (slice(None),) * dim + (index,)))


def pad(input, pad, mode="constant", value=None):
    """Pad ``input``: ``pad`` lists (before, after) amounts from the last dim backwards,
    PyTorch's order: (left, right) pads the last dim, (left, right, top, bottom) the last
    two, and so on. Modes: "constant" (``value``, default 0; negative amounts crop),
    "reflect" (mirror without the edge), "replicate" (repeat the edge), "circular" (wrap)."""
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not one of {_PAD_MODES}")
    if not all(isinstance(p, (int, numpy.integer)) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad: the padding amounts must be ints, got {tuple(pad)!r}")
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(
            f"pad: padding length must be even and at most twice the number of "
            f"dimensions ({input.ndim}), got {len(pad)}"
        )
    if mode != "constant" and value not in (None, 0):
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    amounts = {input.ndim - 1 - i: (pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)}
    if mode == "constant":
        return _pad_constant(input, amounts, 0 if value is None else value)
    if len(amounts) > 3 or input.ndim not in (len(amounts) + 1, len(amounts) + 2):
        raise NotImplementedError(
            f"pad: padding size {len(pad)} is not supported for {input.ndim}-D input with "
            f"mode {mode!r}: as in PyTorch, 2 pads a 2-D or 3-D input, 4 a 3-D or 4-D one, "
            f"6 a 4-D or 5-D one"
        )
    xp = array_module(input.data)
    out = input
    for dim, (before, after) in amounts.items():
        n = input.shape[dim]
        if mode == "reflect" and (before >= n or after >= n):
            raise RuntimeError(
                f"pad: padding size should be less than the corresponding input "
                f"dimension, but got: padding ({before}, {after}) at dimension "
                f"{dim} of input {tuple(input.shape)}"
            )
        if mode == "circular" and (before > n or after > n):
            raise RuntimeError(
                f"pad: padding value causes wrapping around more than once "
                f"(padding ({before}, {after}) at dimension {dim} of size {n})"
            )
        positions = xp.arange(-before, n + after)
        if mode == "reflect":
            index = (n - 1) - xp.abs((n - 1) - xp.abs(positions))
        elif mode == "replicate":
            index = xp.clip(positions, 0, n - 1)
        else:
            index = positions % n
        out = _along(out, dim, index)
    return out


def _pad_constant(input, amounts, value):
    crop = [slice(None)] * input.ndim
    place = [slice(None)] * input.ndim
    shape = list(input.shape)
    for dim, (before, after) in amounts.items():
        n = input.shape[dim]
        crop[dim] = slice(max(-before, 0), n - max(-after, 0))
        size = n + before + after
        if size < 0:
            raise RuntimeError(
                f"pad: the input size {n} at dimension {dim} plus the padding "
                f"({before}, {after}) is negative"
            )
        shape[dim] = size
        place[dim] = slice(
            max(before, 0), max(before, 0) + max(n - max(-before, 0) - max(-after, 0), 0)
        )
    inner = GetItem.apply(input, Index(tuple(crop), None))
    out = IndexAddZeros.apply(inner, tuple(shape), Index(tuple(place), None))
    if value:
        xp = array_module(input.data)
        fill = xp.full(shape, value, dtype=input.dtype)
        fill[tuple(place)] = 0
        out = out + Tensor._make(fill, None)
    return out


# ---- interpolate ------------------------------------------------------------------------
_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _output_sizes(input, size, scale_factor, spatial):
    if (size is None) == (scale_factor is None):
        raise ValueError(
            "interpolate: either size or scale_factor should be defined (and not both)"
        )
    if size is not None:
        sizes = (
            [int(size)] * spatial
            if isinstance(size, (int, numpy.integer))
            else [int(s) for s in size]
        )
        if len(sizes) != spatial:
            raise ValueError(
                f"interpolate: size {size} does not match the {spatial} spatial "
                f"dims of input {tuple(input.shape)}"
            )
        return sizes, [None] * spatial
    factors = (
        [float(scale_factor)] * spatial
        if not isinstance(scale_factor, (tuple, list))
        else [float(f) for f in scale_factor]
    )
    if len(factors) != spatial:
        raise ValueError(
            f"interpolate: scale_factor {scale_factor} does not match the "
            f"{spatial} spatial dims of input {tuple(input.shape)}"
        )
    sizes = [math.floor(n * f) for n, f in zip(input.shape[2:], factors)]
    return sizes, factors


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    """Resample the spatial dims of ``input`` (N, C, d1, ...) to ``size`` (or by
    ``scale_factor``) as PyTorch does. "nearest": out[i] = in[floor(i * scale)];
    "linear"/"bilinear"/"trilinear": out[i] mixes in[floor(x)] and the next entry with
    weight x - floor(x), x = i * (n - 1) / (m - 1) with ``align_corners``, else
    (i + 0.5) * scale - 0.5 clamped at 0; scale = n / m, or 1 / scale_factor when given."""
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    spatial = input.ndim - 2
    if spatial < 1:
        raise ValueError(
            f"interpolate: expected an input (N, C, d1, ...), got shape {tuple(input.shape)}"
        )
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating "
                "modes: linear | bilinear | bicubic | trilinear"
            )
    elif mode in _LINEAR:
        if _LINEAR[mode] != spatial:
            raise NotImplementedError(
                f"interpolate: mode {mode!r} expects {_LINEAR[mode] + 2}"
                f"-D input, got {input.ndim}-D"
            )
    else:
        raise NotImplementedError(
            f"interpolate: mode {mode!r} is not supported (nearest, linear, bilinear, trilinear)"
        )
    if input.dtype.kind != "f" and not (mode == "nearest" and input.dtype == numpy.uint8):
        raise TypeError(
            f"interpolate: mode {mode!r} needs a floating point input (or uint8 for "
            f"'nearest'), got dtype {input.dtype}"
        )
    sizes, factors = _output_sizes(input, size, scale_factor, spatial)
    if recompute_scale_factor:
        factors = [None] * spatial
    xp = array_module(input.data)
    out = input
    for d, (m, factor) in enumerate(zip(sizes, factors)):
        dim, n = d + 2, input.shape[d + 2]
        if m <= 0:
            raise ValueError(f"interpolate: output size {m} at dim {dim} must be positive")
        scale = n / m if factor is None else 1 / factor
        i = xp.arange(m, dtype=numpy.float64)
        if mode == "nearest":
            out = _along(out, dim, xp.minimum(xp.floor(i * scale).astype(numpy.int64), n - 1))
            continue
        if align_corners:
            x = i * ((n - 1) / (m - 1)) if m > 1 else i * 0
        else:
            x = xp.maximum((i + 0.5) * scale - 0.5, 0)
        low = xp.minimum(xp.floor(x).astype(numpy.int64), n - 1)
        high = xp.minimum(low + 1, n - 1)
        shape = [1] * input.ndim
        shape[dim] = m
        weight = Tensor._make((x - low).astype(input.dtype).reshape(shape), None)
        out = _along(out, dim, low) * (1 - weight) + _along(out, dim, high) * weight
    return out


# ---- Modules -----------------------------------------------------------------------------
class _Pad(Module):
    mode, dims = "constant", 2

    def __init__(self, padding, value=0.0):
        super().__init__()
        count = 2 * self.dims
        self.padding = (padding,) * count if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != count:
            raise ValueError(
                f"{type(self).__name__}: padding must be an int or {count} ints, got {padding}"
            )
        self.value = value

    def forward(self, input):
        if self.mode == "constant":
            return pad(input, self.padding, "constant", self.value)
        return pad(input, self.padding, self.mode)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self.mode == "constant" else "")


class ConstantPad1d(_Pad):
    dims = 1


class ConstantPad2d(_Pad):
    dims = 2


class ZeroPad2d(_Pad):
    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ReflectionPad1d(_Pad):
    mode, dims = "reflect", 1


class ReflectionPad2d(_Pad):
    mode, dims = "reflect", 2


class ReplicationPad1d(_Pad):
    mode, dims = "replicate", 1


class ReplicationPad2d(_Pad):
    mode, dims = "replicate", 2


class CircularPad2d(_Pad):
    mode, dims = "circular", 2


class Upsample(Module):
    """:func:`interpolate` as a Module."""

    def __init__(
        self,
        size=None,
        scale_factor=None,
        mode="nearest",
        align_corners=None,
        recompute_scale_factor=None,
    ):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            self.recompute_scale_factor,
        )

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"
