"""Convolutions: values worked out by hand, a direct loop over the definition, the
adjoint identity between conv2d and conv_transpose2d, gradcheck over a grid of
geometries, gradgradcheck, and the Modules' arguments, weights and initialisation."""

import itertools
import math

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn
from minidl.nn.conv import fold_windows, unfold_windows

X33 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
W22 = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])


def t(a, grad=True):
    return minidl.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def conv2d_by_definition(x, w, b, stride, padding, dilation, groups):
    """y[n, o, a, b] = sum over c, i, j of w[o, c, i, j] xpad[n, g c, a s + i d, b s + j d]."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for n_, o_, a, b_ in itertools.product(range(n), range(o), range(ho), range(wo)):
        g = o_ // (o // groups)
        for c_, i, j in itertools.product(range(cg), range(kh), range(kw)):
            y[n_, o_, a, b_] += (
                w[o_, c_, i, j] * xpad[n_, g * cg + c_, a * sh + i * dh, b_ * sw + j * dw]
            )
    return y + b[None, :, None, None]


# ---- by hand ----------------------------------------------------------------------------
def test_conv2d_3x3_input_2x2_kernel_by_hand():
    x, w, b = t(X33), t(W22), t([0.5])
    y = F.conv2d(x, w, b)
    # y[a, b] = 1 x[a, b] + 2 x[a, b+1] + 3 x[a+1, b] + 4 x[a+1, b+1] + 0.5
    np.testing.assert_array_equal(y.numpy()[0, 0], [[37.5, 47.5], [67.5, 77.5]])
    y.sum().backward()
    # each input pixel collects the kernel weights of the windows covering it
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    # each weight collects the sum of the input pixels it multiplies
    np.testing.assert_array_equal(w.grad.numpy()[0, 0], [[12, 16], [24, 28]])
    np.testing.assert_array_equal(b.grad.numpy(), [4])


def test_conv2d_stride_2_padding_1_by_hand():
    y = F.conv2d(t(X33), t(W22), stride=2, padding=1).numpy()[0, 0]
    # the windows of the zero-padded 5x5 input at rows/cols 0-1 and 2-3
    np.testing.assert_array_equal(
        y, [[4 * 1, 3 * 2 + 4 * 3], [2 * 4 + 4 * 7, 1 * 5 + 2 * 6 + 3 * 8 + 4 * 9]]
    )


def test_conv_transpose2d_by_hand():
    x = t([[[[1.0, 2.0], [3.0, 4.0]]]])
    y = F.conv_transpose2d(x, t(W22)).numpy()[0, 0]
    # every input pixel stamps the kernel, scaled by its value, at its own position
    np.testing.assert_array_equal(y, [[1, 4, 4], [6, 20, 16], [9, 24, 16]])


def test_conv1d_by_hand():
    x, w = t([[[1.0, 2.0, 3.0, 4.0]]]), t([[[1.0, -1.0]]])
    np.testing.assert_array_equal(F.conv1d(x, w).numpy(), [[[-1, -1, -1]]])
    np.testing.assert_array_equal(F.conv1d(x, w, stride=2, padding=1).numpy(), [[[-1, -1, 4]]])


# ---- against the definition and the adjoint -------------------------------------------------
GEOMETRIES = list(itertools.product([1, 2], [0, 1], [1, 2], [1, 2]))  # stride, pad, dil, groups


@pytest.mark.parametrize("stride,padding,dilation,groups", GEOMETRIES)
def test_conv2d_matches_its_definition(stride, padding, dilation, groups):
    x, w, b = randn(2, 4, 7, 6, seed=1), randn(6, 4 // groups, 3, 2, seed=2), randn(6, seed=3)
    expected = conv2d_by_definition(
        x, w, b, (stride, stride + 1), (padding, 1), (dilation, 1), groups
    )
    y = F.conv2d(t(x), t(w), t(b), (stride, stride + 1), (padding, 1), (dilation, 1), groups)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride,padding,dilation,groups", GEOMETRIES)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(stride, padding, dilation, groups):
    """<conv2d(x, w), u> = <x, conv_transpose2d(u, w)> for every x, u: the transposed
    convolution is the gradient of the convolution with respect to its input."""
    x, w = randn(2, 4, 7, 6, seed=4), randn(6, 4 // groups, 3, 2, seed=5)
    y = F.conv2d(
        t(x), t(w), stride=stride, padding=padding, dilation=dilation, groups=groups
    ).numpy()
    u = randn(*y.shape, seed=6)
    # output_padding recovers the rows and columns the strided convolution skipped
    extra = [
        (n + 2 * padding - dilation * (k - 1) - 1) % stride
        for n, k in zip(x.shape[2:], w.shape[2:])
    ]
    back = F.conv_transpose2d(
        t(u),
        t(w),
        stride=stride,
        padding=padding,
        output_padding=tuple(extra),
        groups=groups,
        dilation=dilation,
    ).numpy()
    assert back.shape == x.shape
    np.testing.assert_allclose((y * u).sum(), (x * back).sum(), rtol=1e-12)


def test_same_and_valid_padding():
    x, w = t(randn(1, 2, 5, 6)), t(randn(3, 2, 4, 3))  # an even kernel: one more row after
    y = F.conv2d(x, w, padding="same")
    assert y.shape == (1, 3, 5, 6)
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 2), (1, 1)))
    expected = F.conv2d(t(padded), w).numpy()
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(F.conv2d(x, w, padding="valid").numpy(), F.conv2d(x, w).numpy())
    assert F.conv1d(t(randn(1, 2, 7)), t(randn(3, 2, 4)), padding="same").shape == (1, 3, 7)


def test_depthwise_convolution_is_a_per_channel_convolution():
    x, w = randn(2, 3, 5, 5), randn(6, 1, 3, 3)  # groups = channels, multiplier 2
    y = F.conv2d(t(x), t(w), groups=3, padding=1).numpy()
    for c in range(3):
        alone = F.conv2d(t(x[:, c : c + 1]), t(w[2 * c : 2 * c + 2]), padding=1).numpy()
        np.testing.assert_allclose(y[:, 2 * c : 2 * c + 2], alone, rtol=1e-12)


def test_conv1d_is_conv2d_over_a_height_of_one():
    x, w, b = randn(2, 4, 9), randn(6, 2, 3), randn(6)
    y = F.conv1d(t(x), t(w), t(b), stride=2, padding=2, dilation=2, groups=2).numpy()
    expected = conv2d_by_definition(x[:, :, None], w[:, :, None], b, (1, 2), (0, 2), (1, 2), 2)[
        :, :, 0
    ]
    np.testing.assert_allclose(y, expected, rtol=1e-12)


# ---- gradients ------------------------------------------------------------------------------
@pytest.mark.parametrize("stride,padding,dilation,groups", GEOMETRIES)
def test_conv2d_gradcheck_grid(stride, padding, dilation, groups):
    x, w, b = t(randn(1, 2, 5, 4)), t(randn(4, 2 // groups, 3, 2)), t(randn(4))
    assert minidl.gradcheck(
        lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), [x, w, b]
    )


@pytest.mark.parametrize(
    "stride,padding,output_padding,dilation,groups",
    [(1, 0, 0, 1, 1), (2, 1, 1, 1, 2), (3, 0, 2, 1, 1), (1, 1, 1, 2, 1), (2, 0, 0, 2, 2)],
)
def test_conv_transpose2d_gradcheck(stride, padding, output_padding, dilation, groups):
    x, w, b = t(randn(1, 2, 3, 2)), t(randn(2, 4 // groups, 2, 3)), t(randn(4))
    assert minidl.gradcheck(
        lambda x, w, b: F.conv_transpose2d(
            x, w, b, stride, padding, output_padding, groups, dilation
        ),
        [x, w, b],
    )


def test_conv1d_gradcheck():
    x, w, b = t(randn(1, 2, 7)), t(randn(3, 2, 3)), t(randn(3))
    assert minidl.gradcheck(
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2), [x, w, b]
    )


def test_unfold_and_fold_are_adjoint_and_differentiable():
    geometry = ((2, 3), (2, 1), ((1, 0), (2, 1)), (1, 2))
    x = t(randn(2, 3, 5, 6))
    cols = unfold_windows(x, *geometry)
    u = randn(*cols.shape)
    back = fold_windows(t(u), (5, 6), *geometry)
    np.testing.assert_allclose(
        (cols.numpy() * u).sum(), (x.numpy() * back.numpy()).sum(), rtol=1e-12
    )
    assert minidl.gradgradcheck(lambda x: unfold_windows(x, *geometry) ** 2, [t(randn(1, 2, 5, 6))])
    small_cols = unfold_windows(t(randn(1, 2, 5, 6)), *geometry).shape
    assert minidl.gradgradcheck(
        lambda c: fold_windows(c, (5, 6), *geometry) ** 2, [t(randn(*small_cols))]
    )


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
        lambda x, w, b: F.conv_transpose2d(
            x, w, b, stride=2, padding=1, output_padding=1, groups=2
        ),
        lambda x, w, b: F.conv1d(x[:, :, 0], w[:, :, 0], b, padding="same", groups=2),
    ],
    ids=["conv2d", "conv_transpose2d", "conv1d"],
)
def test_second_derivatives(fn):
    """Second derivatives through the composite of the fused op (and the Fold/Unfold pair)."""
    x, w, b = t(randn(1, 2, 3, 4)), t(randn(2, 1, 2, 2)), t(randn(2))
    assert minidl.gradgradcheck(fn, [x, w, b])


def test_create_graph_gives_the_hessian_vector_product_of_a_conv_net():
    """d/dx of (grad of sum(conv(x)^2) . v): an independent check of the double backward
    against the same quantity computed from the definition by finite differences."""
    x, w = t(randn(1, 1, 4, 4)), t(randn(2, 1, 2, 2), grad=False)
    v = randn(1, 1, 4, 4, seed=9)
    (g,) = minidl.autograd.grad((F.conv2d(x, w) ** 2).sum(), x, create_graph=True)
    (hv,) = minidl.autograd.grad((g * t(v, False)).sum(), x)

    def grad_at(xa):
        xt = t(xa)
        (F.conv2d(xt, w) ** 2).sum().backward()
        return xt.grad.numpy()

    eps = 1e-6
    numeric = (grad_at(x.numpy() + eps * v) - grad_at(x.numpy() - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), numeric, rtol=1e-6, atol=1e-8)


# ---- errors ---------------------------------------------------------------------------------
def test_bad_arguments_raise_clear_errors():
    x = t(randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="3 channels.*expects 4"):
        F.conv2d(x, t(randn(2, 4, 3, 3)))
    with pytest.raises(ValueError, match="'same' is not supported for strided"):
        F.conv2d(x, t(randn(2, 3, 3, 3)), stride=2, padding="same")
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.conv2d(x, t(randn(2, 3, 7, 7)))
    with pytest.raises(ValueError, match="4-D input"):
        F.conv2d(t(randn(3, 5, 5)), t(randn(2, 3, 3, 3)))
    with pytest.raises(ValueError, match="bias must have shape"):
        F.conv2d(x, t(randn(2, 3, 3, 3)), t(randn(3)))
    with pytest.raises(ValueError, match="output padding must be smaller"):
        F.conv_transpose2d(x, t(randn(3, 2, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(NotImplementedError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")


# ---- modules ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make,weight_shape",
    [
        (lambda: nn.Conv2d(4, 6, (3, 2), groups=2), (6, 2, 3, 2)),
        (lambda: nn.Conv1d(4, 6, 5), (6, 4, 5)),
        (lambda: nn.ConvTranspose2d(4, 6, 3, groups=2), (4, 3, 3, 3)),
    ],
)
def test_modules_have_torch_parameters(make, weight_shape):
    layer = make()
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer.weight.shape == weight_shape and layer.bias.shape == (6,)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


def test_conv_initialisation_is_torchs():
    """kaiming_uniform_(a=sqrt(5)): weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the
    bias too, fan_in = in_channels/groups * kh * kw."""
    minidl.manual_seed(0)
    layer = nn.Conv2d(64, 128, 3)
    bound = 1 / math.sqrt(64 * 9)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound  # the std of U(-a, a)
    assert abs(w.mean()) < 0.01 * bound
    assert np.abs(b).max() <= bound and len(set(b.tolist())) == 128
    transposed = nn.ConvTranspose2d(8, 6, 3, groups=2)  # fan_in = 6/2 * 9
    assert np.abs(transposed.weight.numpy()).max() <= 1 / math.sqrt(27)


def test_modules_match_the_functional_forms_and_load_by_name():
    layer = nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=True).double()
    state = {"weight": randn(4, 2, 3, 3), "bias": randn(4)}  # e.g. from a torch state_dict
    layer.load_state_dict(state)
    x = t(randn(2, 2, 7, 7))
    np.testing.assert_array_equal(
        layer(x).numpy(), F.conv2d(x, t(state["weight"]), t(state["bias"]), 2, 1).numpy()
    )
    assert repr(layer) == "Conv2d(2, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))"
    up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1).double()
    assert up(layer(x)).shape == (2, 2, 8, 8)
    conv1d = nn.Conv1d(2, 3, 3, padding="same", bias=False).double()
    assert conv1d(t(randn(1, 2, 5))).shape == (1, 3, 5)
    with pytest.raises(TypeError, match="input float32, weight float64"):
        conv1d(minidl.randn(1, 2, 5))  # PyTorch refuses mixed dtypes rather than promote


def test_a_conv_net_trains():
    minidl.manual_seed(0)
    x = minidl.tensor(np.random.default_rng(0).standard_normal((32, 1, 8, 8)), dtype="float32")
    y = minidl.tensor((x.numpy()[:, 0, :4].sum(axis=(1, 2)) > 0).astype(np.int64))
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 2)
    )
    opt = minidl.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


# ---- channel dropout (used between convolutions) ------------------------------------------
def test_dropout2d_drops_whole_channels():
    minidl.manual_seed(0)
    x = minidl.ones(50, 20, 3, 3)
    y = F.dropout2d(x, p=0.3).numpy()
    per_channel = y.reshape(50, 20, 9)
    assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()  # all or nothing
    np.testing.assert_allclose(np.unique(y), [0, 1 / 0.7], rtol=1e-6)
    assert abs((y == 0).mean() - 0.3) < 0.05
    assert F.dropout2d(x, 0.3, training=False) is x
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x

    def squared_dropout(z):
        minidl.manual_seed(1)  # the same mask at every evaluation
        return F.dropout2d(z, 0.5) ** 2

    assert minidl.gradgradcheck(squared_dropout, [t(randn(2, 3, 4))])
    with pytest.raises(ValueError, match="3-D .* or 4-D"):
        F.dropout2d(t(randn(2, 3)))


def test_results_do_not_depend_on_the_memory_layout_of_the_input():
    """Convolutions leave their output in (C, H, W, N) memory order behind an (N, C, H, W)
    view; every op must read any strides: C order, that order, and a strided slice."""
    x = randn(3, 2, 9, 8)
    w, b = t(randn(4, 2, 3, 3, seed=1)), t(randn(4, seed=2))
    layouts = [
        x,
        np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2),
        np.pad(x, ((0, 0), (0, 0), (0, 0), (0, 3)))[:, :, :, :8],
    ]
    outputs = []
    for array in layouts:
        xt = minidl.Tensor(array, requires_grad=True)
        y = F.max_pool2d(F.conv2d(xt, w, b, padding=1), 2, ceil_mode=True)
        y = F.conv_transpose2d(y, w, stride=2)
        (y * t(np.arange(y.numpy().size).reshape(y.shape), False)).sum().backward()
        outputs.append((y.numpy(), xt.grad.numpy()))
    for y, grad in outputs[1:]:
        np.testing.assert_allclose(y, outputs[0][0], rtol=1e-12)
        np.testing.assert_allclose(grad, outputs[0][1], rtol=1e-12)
