"""Convolutions: im2col (:class:`Unfold`) and col2im (:class:`Fold`), the convolution ops
built on them, their functional forms and the Modules ``Conv1d``, ``Conv2d`` and
``ConvTranspose2d``.

Shapes: an input x is (N, C, H, W); a weight w is (O, C/G, kh, kw) for G groups; the
output y is (N, O, Ho, Wo) with, per spatial axis (padding p before and q after the
input, stride s, dilation d, kernel k)

    Ho = (H + p + q - d (k - 1) - 1) // s + 1

**im2col.** ``Unfold`` copies every receptive field of the zero-padded input into
``cols`` of shape (C, kh, kw, Ho, Wo, N):

    cols[c, i, j, a, b, n] = xpad[n, c, a s + i d, b s + j d]

It is one strided view of ``xpad`` (``as_strided``: no Python loop over pixels) and one
copy. Grouped by channels, ``cols`` reshapes to (G, C/G kh kw, Ho Wo N), so that with
the weight seen as (G, O/G, C/G kh kw) each group's convolution is ONE matrix product
over the whole batch:

    y[g]  = w[g] @ cols[g]           (O/G, Ho Wo N), then seen as (N, O, Ho, Wo)
    dw[g] = g_y[g] @ cols[g]^T       g_y the output gradient seen as (G, O/G, Ho Wo N)
    dcols = w[g]^T @ g_y[g]   and   dx = fold(dcols)

**Memory layout.** The output keeps the product's memory order, (C, H, W, N) with the
batch innermost, behind an (N, C, H, W) view (the strides say which is which). The next
layer's elementwise ops keep it, and pooling, im2col and col2im then move runs of
Wo N contiguous numbers (N for strided windows) instead of rows of Wo: in
(N, C, H, W) order the kh kw strided adds of col2im took 30 ms for one (64, 32, 14, 14)
gradient, in (C, H, W, N) order 1.3 ms.

**col2im.** ``Fold`` is the adjoint of ``Unfold``: it adds each kernel offset's slab of
``cols`` back onto the positions it was read from, kh kw strided adds (never a scatter
per element), then crops the padding. Each is the other's backward, and both are
linear, so they can be differentiated to any order; the convolutions are fused ops
(they keep ``cols`` for their backward) whose ``composite`` is the same product written
with ``Unfold``, so ``create_graph`` differentiates them too.

A transposed convolution (weight (C, O/G, kh, kw)) is the adjoint of a convolution
with respect to its input: ``cols[g] = w[g]^T @ x[g]``, ``y = fold(cols)``.
"""

import math

from ..autograd import Function
from ..backend import array_module
from ..creation import zeros
from . import init
from .functional import _check_same_dtype
from .module import Module, Parameter

__all__ = [
    "Unfold",
    "Fold",
    "unfold_windows",
    "fold_windows",
    "Conv2dFunction",
    "ConvTranspose2dFunction",
    "conv1d",
    "conv2d",
    "conv_transpose2d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose2d",
]


# ---- geometry -------------------------------------------------------------------------
def ntuple(value, n, name):
    """``value`` (an int or a sequence of n ints) as a tuple of n ints."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    return values


def output_size(size, kernel, stride, pad_before, pad_after, dilation):
    """The number of windows along one axis: (size + pads - d (k - 1) - 1) // s + 1."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def channels_last(x, padding, value=0):
    """x (N, C, H, W) as a contiguous (C, H + top + bottom, W + left + right, N) array,
    padded with ``value``: one copy, none when x is already in that order unpadded."""
    xp = array_module(x)
    (top, bottom), (left, right) = padding
    x = x.transpose(1, 2, 3, 0)
    if not (top or bottom or left or right):
        return xp.ascontiguousarray(x)
    c, h, w, n = x.shape
    out = xp.full((c, h + top + bottom, w + left + right, n), value, dtype=x.dtype)
    out[:, top : top + h, left : left + w] = x
    return out


def windows(xc, kernel, stride, dilation):
    """The (C, kh, kw, Ho, Wo, N) view of a (C, H, W, N) array whose [c, i, j, a, b, n]
    element is xc[c, a sh + i dh, b sw + j dw, n]; no copy."""
    out_hw = [
        output_size(size, k, s, 0, 0, d)
        for size, k, s, d in zip(xc.shape[1:3], kernel, stride, dilation)
    ]
    c_, h_, w_, n_ = xc.strides
    return array_module(xc).lib.stride_tricks.as_strided(
        xc,
        shape=(xc.shape[0], *kernel, *out_hw, xc.shape[3]),
        strides=(c_, h_ * dilation[0], w_ * dilation[1], h_ * stride[0], w_ * stride[1], n_),
    )


class Unfold(Function):
    """im2col: x (N, C, H, W) -> cols (C, kh, kw, Ho, Wo, N),
    cols[c, i, j, a, b, n] = xpad[n, c, a sh + i dh, b sw + j dw], xpad zero-padded by
    ``padding`` = ((top, bottom), (left, right)).  dx = fold(g)."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation):
        ctx.geometry = kernel, stride, padding, dilation
        ctx.size = x.shape[2:]
        cols = windows(channels_last(x, padding), kernel, stride, dilation)
        return array_module(x).ascontiguousarray(cols)

    @staticmethod
    def backward(ctx, g):
        return Fold.apply(g, ctx.size, *ctx.geometry), None, None, None, None


def unfold_windows(x, kernel, stride, padding, dilation):
    """:class:`Unfold` of a Tensor or an array (then an array)."""
    return Unfold.apply(x, kernel, stride, padding, dilation)


class Fold(Function):
    """col2im, the adjoint of :class:`Unfold`: cols (C, kh, kw, Ho, Wo, N) -> x (N, C,
    H, W), xpad[n, c, a sh + i dh, b sw + j dw] += cols[c, i, j, a, b, n] summed over
    every (i, j, a, b), then the padding cropped. The result is a view of a (C, H, W, N)
    array, the order ``cols`` is in.  dcols = unfold(g)."""

    @staticmethod
    def forward(ctx, cols, size, kernel, stride, padding, dilation):
        xp = array_module(cols)
        ctx.geometry = kernel, stride, padding, dilation
        (top, bottom), (left, right) = padding
        c, kh, kw, ho, wo, n = cols.shape
        hp, wp = size[0] + top + bottom, size[1] + left + right
        (sh, sw), (dh, dw) = stride, dilation
        if (
            (sh, sw) == (kh, kw)
            and (kh == 1 or dh == 1)
            and (kw == 1 or dw == 1)
            and (ho * sh, wo * sw) == (hp, wp)
        ):
            # the windows tile the plane (2x2 pooling, say): col2im is one reordering copy
            out = cols.transpose(0, 3, 1, 4, 2, 5).reshape(c, hp, wp, n)
        else:
            out = xp.zeros((c, hp, wp, n), cols.dtype)
            for i in range(kh):  # kh * kw strided adds, each over the whole batch
                for j in range(kw):
                    out[
                        :,
                        i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                        j * dw : j * dw + sw * (wo - 1) + 1 : sw,
                    ] += cols[:, i, j]
        return out[:, top : top + size[0], left : left + size[1]].transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, g):
        return Unfold.apply(g, *ctx.geometry), None, None, None, None, None


def fold_windows(cols, size, kernel, stride, padding, dilation):
    """:class:`Fold` of a Tensor or an array (then an array)."""
    return Fold.apply(cols, size, kernel, stride, padding, dilation)


# ---- convolution --------------------------------------------------------------------------
def _conv(x, weight, bias, stride, padding, dilation, groups):
    """y = w @ unfold(x) per group, on arrays or on Tensors; returns (y, cols)."""
    n, o = x.shape[0], weight.shape[0]
    cols = unfold_windows(x, weight.shape[2:], stride, padding, dilation)
    ho, wo = cols.shape[3:5]
    w_g = weight.reshape(groups, o // groups, -1)
    # cols' rows named, not -1, which an empty batch (n = 0) would leave open
    y = w_g @ cols.reshape(groups, w_g.shape[2], ho * wo * n)
    y = array_module(y).transpose(y.reshape(o, ho, wo, n), (3, 0, 1, 2))
    if bias is not None:
        y = y + bias.reshape(o, 1, 1)
    return y, cols


class Conv2dFunction(Function):
    """y = conv2d(x, w) + b (see the module docstring for the shapes and the math).
    Keeps ``cols`` for backward; ``composite`` is the same product of differentiable ops."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        if x.dtype is not weight.dtype or (bias is not None and bias.dtype is not x.dtype):
            _check_same_dtype("conv", x, weight, bias)  # PyTorch does not promote here
        y, cols = _conv(x, weight, bias, stride, padding, dilation, groups)
        ctx.cols = cols  # first-order only; create_graph differentiates the composite
        ctx.save_for_backward(weight)
        ctx.geometry = x.shape[2:], weight.shape[2:], stride, padding, dilation, groups
        return y

    @staticmethod
    def backward(ctx, g):
        (weight,) = ctx.saved_tensors
        size, kernel, stride, padding, dilation, groups = ctx.geometry
        cols, xp = ctx.cols, array_module(g)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        n, o, ho, wo = g.shape
        gy = xp.transpose(g, (1, 2, 3, 0)).reshape(groups, o // groups, ho * wo * n)
        dx = dw = db = None
        if need_w:
            rows = weight.shape[1] * kernel[0] * kernel[1]  # not -1: n may be 0
            cols_g = cols.reshape(groups, rows, ho * wo * n)
            dw = (gy @ xp.swapaxes(cols_g, -1, -2)).reshape(weight.shape)
        if need_x:
            w_g = weight.reshape(groups, o // groups, -1)
            dcols = (xp.swapaxes(w_g, -1, -2) @ gy).reshape(cols.shape)
            dx = fold_windows(dcols, size, kernel, stride, padding, dilation)
        if need_b:
            db = g.sum(axis=(0, 2, 3))
        return dx, dw, db, None, None, None, None

    @staticmethod
    def composite(x, weight, bias, stride, padding, dilation, groups):
        return _conv(x, weight, bias, stride, padding, dilation, groups)[0]


def _conv_transpose(x, weight, bias, stride, padding, dilation, groups, size):
    """y = fold(w^T @ x) per group, on arrays or on Tensors; ``size`` = (Ho, Wo)."""
    n, c, h, w = x.shape
    o = weight.shape[1] * groups
    kernel = weight.shape[2:]
    w_g = array_module(weight).swapaxes(weight.reshape(groups, c // groups, -1), -1, -2)
    x_g = array_module(x).transpose(x, (1, 2, 3, 0)).reshape(groups, c // groups, h * w * n)
    y = fold_windows(
        (w_g @ x_g).reshape(o, *kernel, h, w, n), size, kernel, stride, padding, dilation
    )
    if bias is not None:
        y = y + bias.reshape(o, 1, 1)
    return y


class ConvTranspose2dFunction(Function):
    """y = conv_transpose2d(x, w) + b: the adjoint of conv2d in its input.
    dx = w @ unfold(g) ;  dw = sum over n of x @ unfold(g)^T ;  db = sum of g."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, size):
        if x.dtype is not weight.dtype or (bias is not None and bias.dtype is not x.dtype):
            _check_same_dtype("conv_transpose2d", x, weight, bias)
        ctx.save_for_backward(x, weight)
        ctx.geometry = stride, padding, dilation, groups
        return _conv_transpose(x, weight, bias, stride, padding, dilation, groups, size)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xp = array_module(g)
        n, c, h, w = x.shape
        gcols = unfold_windows(g, weight.shape[2:], stride, padding, dilation)
        # output_padding >= stride (allowed when < dilation) leaves extra windows: drop them
        gcols = gcols[:, :, :, :h, :w]
        gcols = gcols.reshape(groups, math.prod(gcols.shape[:3]) // groups, h * w * n)
        x_g = xp.transpose(x, (1, 2, 3, 0)).reshape(groups, c // groups, h * w * n)
        dx = dw = db = None
        if need_x:
            dx = (weight.reshape(groups, c // groups, -1) @ gcols).reshape(c, h, w, n)
            dx = xp.transpose(dx, (3, 0, 1, 2))
        if need_w:
            dw = (x_g @ xp.swapaxes(gcols, -1, -2)).reshape(weight.shape)
        if need_b:
            db = g.sum(axis=(0, 2, 3))
        return dx, dw, db, None, None, None, None, None


# ---- functional forms ---------------------------------------------------------------------
def _padding_pairs(padding, kernel, stride, dilation, n, name):
    """torch's padding argument (int, tuple, "valid", "same") as n (before, after) pairs."""
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError(
                f"{name}: padding='same' is not supported for strided "
                f"convolutions (stride {stride})"
            )
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)  # the odd one goes after, as torch
    if isinstance(padding, str):
        raise ValueError(
            f"{name}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}"
        )
    pads = ntuple(padding, n, "padding")
    if any(p < 0 for p in pads):
        raise ValueError(f"{name}: negative padding {padding} is not supported")
    return tuple((p, p) for p in pads)


def _check_conv(name, x, weight, bias, groups, in_channels_axis, spatial):
    if x.ndim != spatial + 2:
        raise ValueError(
            f"{name}: expected a {spatial + 2}-D input (batch, channels, "
            f"{'length' if spatial == 1 else 'height, width'}), got shape "
            f"{tuple(x.shape)}"
        )
    if weight.ndim != spatial + 2:
        raise ValueError(
            f"{name}: expected a {spatial + 2}-D weight, got shape {tuple(weight.shape)}"
        )
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    c = x.shape[1]
    expected = weight.shape[1] * groups if in_channels_axis == 1 else weight.shape[0]
    if c != expected or weight.shape[0] % groups or c % groups:
        raise ValueError(
            f"{name}: input of shape {tuple(x.shape)} has {c} channels, but the weight of "
            f"shape {tuple(weight.shape)} with groups={groups} expects {expected} (and both "
            "channel counts must divide by groups)"
        )
    out_channels = weight.shape[0] if in_channels_axis == 1 else weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{name}: bias must have shape ({out_channels},), got {tuple(bias.shape)}")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as torch): input (N, C, H, W), weight
    (O, C/groups, kh, kw), bias (O,) -> (N, O, Ho, Wo). ``padding``: an int, a pair,
    "valid" (none) or "same" (output as large as the input; stride 1 only)."""
    _check_conv("conv2d", input, weight, bias, groups, 1, 2)
    stride, dilation = ntuple(stride, 2, "stride"), ntuple(dilation, 2, "dilation")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(
            f"conv2d: stride and dilation must be positive, got {stride} and {dilation}"
        )
    kernel = tuple(weight.shape[2:])
    pads = _padding_pairs(padding, kernel, stride, dilation, 2, "conv2d")
    for size, k, s, (p, q), d in zip(input.shape[2:], kernel, stride, pads, dilation):
        if k < 1:
            raise ValueError(f"conv2d: the kernel size must be positive, got {kernel}")
        if output_size(size, k, s, p, q, d) < 1:
            raise ValueError(
                f"conv2d: the kernel {kernel} (dilation {dilation}) is larger "
                f"than the padded input {tuple(input.shape[2:])} with padding "
                f"{padding}"
            )
    return Conv2dFunction.apply(input, weight, bias, stride, pads, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution: input (N, C, L), weight (O, C/groups, k) -> (N, O, Lo); a conv2d
    over a height of 1."""
    _check_conv("conv1d", input, weight, bias, groups, 1, 1)
    if not isinstance(padding, str):
        padding = (0, ntuple(padding, 1, "padding")[0])
    y = conv2d(
        input.unsqueeze(2),
        weight.unsqueeze(2),
        bias,
        (1, ntuple(stride, 1, "stride")[0]),
        padding,
        (1, ntuple(dilation, 1, "dilation")[0]),
        groups,
    )
    return y.squeeze(2)


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed convolution (the gradient of conv2d with respect to its input): input
    (N, C, H, W), weight (C, O/groups, kh, kw) -> (N, O, Ho, Wo) with
    Ho = (H - 1) sh - 2 ph + dh (kh - 1) + output_padding + 1."""
    _check_conv("conv_transpose2d", input, weight, bias, groups, 0, 2)
    stride, dilation = ntuple(stride, 2, "stride"), ntuple(dilation, 2, "dilation")
    pads = ntuple(padding, 2, "padding")
    extra = ntuple(output_padding, 2, "output_padding")
    if min(stride) < 1 or min(dilation) < 1 or min(pads) < 0:
        raise ValueError(
            f"conv_transpose2d: stride and dilation must be positive and "
            f"padding non-negative, got {stride}, {dilation}, {pads}"
        )
    if any(e < 0 or (e >= s and e >= d) for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(
            f"conv_transpose2d: output padding must be smaller than either "
            f"stride or dilation, got output_padding={extra}, stride={stride}, "
            f"dilation={dilation}"
        )
    size = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + e + 1
        for n, s, p, d, k, e in zip(
            input.shape[2:], stride, pads, dilation, weight.shape[2:], extra
        )
    )
    if min(size) < 1 or 0 in weight.shape[2:]:
        raise ValueError(
            f"conv_transpose2d: the kernel size {tuple(weight.shape[2:])} and the output "
            f"size {size} must be positive"
        )
    return ConvTranspose2dFunction.apply(
        input, weight, bias, stride, tuple((p, p) for p in pads), dilation, groups, size
    )


# ---- modules ------------------------------------------------------------------------------
class _ConvNd(Module):
    """What torch's convolution modules share: the arguments, the weight of shape
    (out, in/groups, *kernel) (or (in, out/groups, *kernel) transposed) and its
    initialisation: w ~ U(-b, b) by kaiming_uniform_(a=sqrt(5)), i.e. b = 1/sqrt(fan_in),
    and the bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight.shape[1] * kh * kw."""

    spatial = 2
    transposed = False

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        dtype=None,
        device=None,
    ):
        super().__init__()
        name, n = type(self).__name__, self.spatial
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(
                f"{name}: in_channels and out_channels must be positive, got "
                f"{in_channels} and {out_channels}"
            )
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) and out_channels "
                f"({out_channels}) must both be divisible by groups ({groups})"
            )
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, n, "kernel_size")
        if min(self.kernel_size) < 1:
            raise ValueError(f"{name}: kernel_size must be positive, got {kernel_size!r}")
        self.stride = ntuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else ntuple(padding, n, "padding")
        self.dilation = ntuple(dilation, n, "dilation")
        if isinstance(padding, str):  # torch checks a padding string at construction
            _padding_pairs(padding, self.kernel_size, self.stride, self.dilation, n, name)
        self.padding_mode = padding_mode
        shape = (
            (in_channels, out_channels // groups)
            if self.transposed
            else (out_channels, in_channels // groups)
        ) + self.kernel_size
        self.weight = Parameter(zeros(*shape, dtype=dtype, device=device))
        self.bias = Parameter(zeros(out_channels, dtype=dtype, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        default_padding = (0,) * self.spatial
        if self.padding != default_padding:
            text += (
                f", padding={self.padding!r}"
                if isinstance(self.padding, str)
                else (f", padding={self.padding}")
            )
        if self.dilation != (1,) * self.spatial:
            text += f", dilation={self.dilation}"
        if getattr(self, "output_padding", default_padding) != default_padding:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """torch.nn.Conv2d: (N, C_in, H, W) -> (N, C_out, Ho, Wo); see :func:`conv2d`."""

    def forward(self, x):
        return conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class Conv1d(_ConvNd):
    """torch.nn.Conv1d: (N, C_in, L) -> (N, C_out, Lo); see :func:`conv1d`."""

    spatial = 1

    def forward(self, x):
        return conv1d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class ConvTranspose2d(_ConvNd):
    """torch.nn.ConvTranspose2d: (N, C_in, H, W) -> (N, C_out, Ho, Wo), weight of shape
    (C_in, C_out/groups, kh, kw); see :func:`conv_transpose2d`."""

    transposed = True

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        padding_mode="zeros",
        dtype=None,
        device=None,
    ):
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a tuple, got {padding!r}")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype,
            device,
        )
        self.output_padding = ntuple(output_padding, 2, "output_padding")

    def forward(self, x):
        return conv_transpose2d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )
