"""Pooling: max, average and adaptive average pooling over the windows of
:mod:`minidl.nn.conv` (the same strided view, the same col2im), their functional forms
and the Modules ``MaxPool2d``, ``AvgPool2d`` and ``AdaptiveAvgPool2d``.

Shapes: x (N, C, H, W) -> y (N, C, Ho, Wo); per axis, for kernel k, stride s, padding p
and dilation d,

    Ho = (H + 2p - d (k - 1) - 1) / s + 1, rounded down (or up with ceil_mode, where a
    last window must still start inside the input or its left padding)

With ceil_mode the last windows may overhang the padded input: they are padded further
on the right (with -inf for max, not counted by average pooling).

- max:  y[n, c, a, b] = max over (i, j) of xpad[n, c, a s + i d, b s + j d], xpad padded
  with -inf; the gradient goes to the first maximum of each window:
  dx = fold(onehot(argmax) * g).
- average: y = sum of the window / divisor, the divisor being the window's size counted
  within the padded input (count_include_pad) or within the input alone.
- adaptive average: output cell i covers rows floor(i H / Ho) to ceil((i + 1) H / Ho)
  (torch's rule, also when Ho does not divide H), so y = A_h @ x @ A_w^T with averaging
  matrices A.
"""

import numpy

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .conv import channels_last, fold_windows, ntuple, unfold_windows
from .conv import windows as conv_windows
from .module import Module

__all__ = [
    "MaxPool2dFunction",
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
]


# ---- geometry -------------------------------------------------------------------------
def _pool_geometry(name, x, kernel_size, stride, padding, dilation, ceil_mode):
    """(kernel, stride, ((top, bottom), (left, right)), dilation, (Ho, Wo)) of a pooling,
    with torch's output size rule and its checks."""
    shape = x.shape
    if len(shape) != 4:
        raise ValueError(
            f"{name}: expected a 4-D input (batch, channels, height, width), "
            f"got shape {tuple(shape)}"
        )
    if not (shape[1] and shape[2] and shape[3]):
        raise ValueError(
            f"{name}: expected non-empty channel, height and width dims (only the "
            f"batch may be empty), got shape {tuple(shape)}"
        )
    kernel = ntuple(kernel_size, 2, "kernel_size")
    stride = kernel if stride is None or stride == () else ntuple(stride, 2, "stride")
    pads, dilation = ntuple(padding, 2, "padding"), ntuple(dilation, 2, "dilation")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(pads) < 0:
        raise ValueError(
            f"{name}: kernel_size, stride and dilation must be positive and "
            f"padding non-negative, got {kernel}, {stride}, {dilation}, {pads}"
        )
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise ValueError(
            f"{name}: pad should be at most half of kernel size, but got "
            f"pad={pads} and kernel_size={kernel}"
        )
    pairs, out = [], []
    for size, k, s, p, d in zip(shape[2:], kernel, stride, pads, dilation):
        span = size + 2 * p - d * (k - 1) - 1
        n = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (n - 1) * s >= size + p:
            n -= 1  # the last window would start in the right padding
        if n < 1:
            raise ValueError(
                f"{name}: output size is too small: input {tuple(x.shape)}, "
                f"kernel {kernel}, stride {stride}, padding {pads}, "
                f"dilation {dilation}"
            )
        overhang = max(0, (n - 1) * s + d * (k - 1) + 1 - (size + 2 * p))
        pairs.append((p, p + overhang))
        out.append(n)
    return kernel, stride, tuple(pairs), dilation, tuple(out)


def _as_2d(name, input, kernel_size, stride, padding, dilation):
    """A 1-D pooling's (N, C, L) input and arguments as a 2-D pooling's, height 1."""
    if input.ndim != 3:
        raise ValueError(
            f"{name}: expected a 3-D input (batch, channels, length), got "
            f"shape {tuple(input.shape)}"
        )
    (k,), (p,), (d,) = (
        ntuple(v, 1, what)
        for v, what in ((kernel_size, "kernel_size"), (padding, "padding"), (dilation, "dilation"))
    )
    stride = None if stride is None else (1, ntuple(stride, 1, "stride")[0])
    return input.unsqueeze(2), (1, k), stride, (0, p), (1, d)


# ---- max pooling ------------------------------------------------------------------------
def _max_windows(x, kernel, stride, padding, dilation):
    """(y, first): the window maxima (N, C, Ho, Wo) and the one-hot mask (C, kh, kw, Ho,
    Wo, N), the layout of im2col, of the first maximum of each window (NaN counts as the
    maximum, as in torch). One pass per kernel offset over the whole batch, in (C, H, W,
    N) order, the order a convolution's output is in (see minidl.nn.conv)."""
    xp = array_module(x)
    windows = conv_windows(channels_last(x, padding, -numpy.inf), kernel, stride, dilation)
    offsets = [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]
    y = windows[:, 0, 0].copy()
    for i, j in offsets[1:]:
        xp.maximum(y, windows[:, i, j], out=y)
    has_nan = bool(xp.isnan(y).any())
    first = xp.empty(windows.shape, dtype=bool)
    taken = xp.zeros(y.shape, dtype=bool)
    for i, j in offsets:
        hit = windows[:, i, j] == y
        if has_nan:
            hit |= xp.isnan(windows[:, i, j])
        hit &= ~taken
        taken |= hit
        first[:, i, j] = hit
    return y.transpose(3, 0, 1, 2), first


class MaxPool2dFunction(Function):
    """y = max over each window ;  dx = fold(first * g), ``first`` the one-hot mask of
    each window's first maximum (a constant, so the backward is linear in g)."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation):
        y, first = _max_windows(x, kernel, stride, padding, dilation)
        ctx.save_for_backward(first)
        ctx.geometry = x.shape[2:], kernel, stride, padding, dilation
        return y

    @staticmethod
    def backward(ctx, g):
        (first,) = ctx.saved_tensors
        xp = array_module(g)
        # a product, not xp.where: as fast as a copy, where where() broadcasts slowly
        cols = first * xp.expand_dims(xp.transpose(g, (1, 2, 3, 0)), (1, 2))
        return fold_windows(cols, *ctx.geometry), None, None, None, None


def _flat_indices(first, size, kernel, stride, padding, dilation):
    """torch's return_indices: the position h * W + w in the input plane of each maximum."""
    xp = array_module(first)
    c, kh, kw, ho, wo, n = first.shape
    k = first.reshape(c, kh * kw, ho, wo, n).argmax(axis=1).transpose(3, 0, 1, 2)
    rows = xp.arange(ho)[:, None] * stride[0] + (k // kw) * dilation[0] - padding[0][0]
    cols = xp.arange(wo)[None, :] * stride[1] + (k % kw) * dilation[1] - padding[1][0]
    return (rows * size[1] + cols).astype(numpy.int64)


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """2-D max pooling of (N, C, H, W); padding counts as -inf. With ``return_indices``
    also the flat index h * W + w of each maximum in its (H, W) plane (int64)."""
    kernel, stride, pads, dilation, _ = _pool_geometry(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    y = MaxPool2dFunction.apply(input, kernel, stride, pads, dilation)
    if not return_indices:
        return y
    _, first = _max_windows(input.data, kernel, stride, pads, dilation)
    indices = _flat_indices(first, input.shape[2:], kernel, stride, pads, dilation)
    return y, Tensor._make(indices, None)


def max_pool1d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """1-D max pooling of (N, C, L): a max_pool2d over a height of 1."""
    x, kernel, stride, padding, dilation = _as_2d(
        "max_pool1d", input, kernel_size, stride, padding, dilation
    )
    out = max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(2), Tensor._make(out[1].data[:, :, 0], None)
    return out.squeeze(2)


# ---- average pooling ------------------------------------------------------------------
def _window_sizes(size, kernel, stride, pad, n, count_include_pad):
    """Per output position along one axis: how many of the window's cells are counted."""
    start = numpy.arange(n) * stride - pad
    end = numpy.minimum(start + kernel, size + pad)  # the overhang of ceil_mode never counts
    if not count_include_pad:
        start, end = numpy.maximum(start, 0), numpy.minimum(end, size)
    return end - start


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """2-D average pooling of (N, C, H, W): the sum over each window divided by the
    window's size (see the module docstring), or by ``divisor_override``."""
    kernel, stride, pads, dilation, (ho, wo) = _pool_geometry(
        "avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode
    )
    sums = unfold_windows(input, kernel, stride, pads, dilation).sum(axis=(1, 2))
    sums = array_module(sums).transpose(sums, (3, 0, 1, 2))  # (C, Ho, Wo, N) -> (N, C, ..)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor_override must be non-zero")
        return sums * (1 / divisor_override)
    (h, w), (ph, pw) = input.shape[2:], (pads[0][0], pads[1][0])
    divisor = numpy.outer(
        _window_sizes(h, kernel[0], stride[0], ph, ho, count_include_pad),
        _window_sizes(w, kernel[1], stride[1], pw, wo, count_include_pad),
    )
    if (divisor == divisor.flat[0]).all():
        return sums * (1 / float(divisor.flat[0]))
    scale = backend.to_device((1 / divisor).astype(input.dtype), input.device)
    return sums * Tensor._make(scale, None)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling of (N, C, L): an avg_pool2d over a height of 1."""
    x, kernel, stride, padding, _ = _as_2d("avg_pool1d", input, kernel_size, stride, padding, 1)
    return avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad).squeeze(2)


def _averaging_matrix(size, n, dtype, device):
    """A (n, size) with row i averaging cells floor(i size / n) to ceil((i+1) size / n)."""
    a = numpy.zeros((n, size))
    for i in range(n):  # one row per output cell: a loop over the output size, not pixels
        start, end = (i * size) // n, -((-(i + 1) * size) // n)
        a[i, start:end] = 1 / (end - start)
    return Tensor._make(backend.to_device(a.astype(dtype), device), None)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling of (N, C, H, W) to (N, C, Ho, Wo) whatever H and W (an entry of
    ``output_size`` that is None keeps that size): y = A_h @ x @ A_w^T."""
    if input.ndim != 4:
        raise ValueError(
            f"adaptive_avg_pool2d: expected a 4-D input (batch, channels, "
            f"height, width), got shape {tuple(input.shape)}"
        )
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(sizes) != 2:
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}"
        )
    ho, wo = (n if s is None else s for s, n in zip(sizes, input.shape[2:]))
    if not all(isinstance(s, int) and s >= 1 for s in (ho, wo)):
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must be positive ints, got {output_size!r}"
        )
    if input.dtype.kind != "f":  # its averaging matrices would round to integers
        raise TypeError(
            f"adaptive_avg_pool2d: expected a floating point input, got dtype {input.dtype}"
        )
    h, w = input.shape[2:]
    rows = _averaging_matrix(h, ho, input.dtype, input.device)
    cols = _averaging_matrix(w, wo, input.dtype, input.device)
    return rows @ input @ cols.T


# ---- modules ----------------------------------------------------------------------------
class MaxPool2d(Module):
    """torch.nn.MaxPool2d; see :func:`max_pool2d`."""

    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False
    ):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return max_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self):
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, "
            f"ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """torch.nn.AvgPool2d; see :func:`avg_pool2d`."""

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=None,
    ):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """torch.nn.AdaptiveAvgPool2d; see :func:`adaptive_avg_pool2d`."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
