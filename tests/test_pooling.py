"""Pooling: values worked out by hand (padding, ceil_mode, ties, indices, divisors),
gradcheck over a grid of geometries, gradgradcheck, and the Modules."""

import itertools

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn

X33 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def t(a, grad=True):
    return minidl.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def distinct(*shape, seed=0):
    """Values at least 0.01 apart, so finite differences never move a maximum."""
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))) * 0.01
    return values.reshape(shape) - values.mean()


# ---- max pooling by hand ----------------------------------------------------------------
def test_max_pool_by_hand():
    x = t(X33)
    y = F.max_pool2d(x, 2, stride=1)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[5, 6], [8, 9]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 0, 0], [0, 1, 1], [0, 1, 1]])
    _, indices = F.max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(indices.numpy()[0, 0], [[4, 5], [7, 8]])  # h * 3 + w
    assert indices.dtype == np.int64


def test_max_pool_padding_counts_as_minus_infinity():
    y = F.max_pool2d(t(-X33), 2, stride=2, padding=1).numpy()[0, 0]
    # zero padding would give 0 in every window that touches the border
    np.testing.assert_array_equal(y, [[-1, -2], [-4, -5]])


def test_max_pool_ties_send_the_gradient_to_the_first_maximum():
    x = t(np.ones((1, 1, 2, 4)))
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0]])


def test_max_pool_nan_wins_as_in_torch():
    x = X33.copy()
    x[0, 0, 1, 0] = np.nan
    y, indices = F.max_pool2d(t(x), 2, stride=1, return_indices=True)
    assert np.isnan(y.numpy()[0, 0, :, 0]).all() and not np.isnan(y.numpy()[0, 0, :, 1]).any()
    np.testing.assert_array_equal(indices.numpy()[0, 0, :, 0], [3, 3])


def test_ceil_mode_keeps_the_partial_windows():
    np.testing.assert_array_equal(F.max_pool2d(t(X33), 2).numpy()[0, 0], [[5]])
    np.testing.assert_array_equal(
        F.max_pool2d(t(X33), 2, ceil_mode=True).numpy()[0, 0], [[5, 6], [8, 9]]
    )
    # a window starting in the right padding is dropped: 4 + 2*1 padded, k 2, s 2 -> 3
    assert F.max_pool2d(t(np.zeros((1, 1, 4, 4))), 2, 2, 1, ceil_mode=True).shape == (1, 1, 3, 3)
    assert F.max_pool2d(t(np.zeros((1, 1, 5, 5))), 2, 2, 1, ceil_mode=True).shape == (1, 1, 3, 3)


def test_dilated_max_pool_by_hand():
    x = t(np.arange(16.0).reshape(1, 1, 4, 4))
    y, indices = F.max_pool2d(x, 2, stride=1, dilation=2, return_indices=True)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[10, 11], [14, 15]])
    np.testing.assert_array_equal(indices.numpy()[0, 0], [[10, 11], [14, 15]])


# ---- average pooling by hand ---------------------------------------------------------------
def test_avg_pool_by_hand():
    x = t(X33)
    y = F.avg_pool2d(x, 2, stride=1)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[3, 4], [6, 7]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0] * 4, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_avg_pool_divisors():
    x = t(X33)
    with_pad = F.avg_pool2d(x, 2, 2, 1).numpy()[0, 0]  # count_include_pad=True
    np.testing.assert_allclose(with_pad, [[1 / 4, 5 / 4], [11 / 4, 28 / 4]])
    without = F.avg_pool2d(x, 2, 2, 1, count_include_pad=False).numpy()[0, 0]
    np.testing.assert_allclose(without, [[1, 5 / 2], [11 / 2, 28 / 4]])
    # ceil_mode: the overhang beyond the padded input is never counted
    ceil = F.avg_pool2d(x, 2, ceil_mode=True).numpy()[0, 0]
    np.testing.assert_allclose(ceil, [[12 / 4, 9 / 2], [15 / 2, 9]])
    override = F.avg_pool2d(x, 2, 1, divisor_override=2).numpy()[0, 0]
    np.testing.assert_allclose(override, [[6, 8], [12, 14]])


def test_adaptive_avg_pool_uses_torchs_windows_when_sizes_do_not_divide():
    x = t(np.arange(1.0, 6.0).reshape(1, 1, 1, 5))
    # 5 -> 3: cells [0, 2), [1, 4), [3, 5): floor(i 5 / 3) to ceil((i + 1) 5 / 3)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, (1, 3)).numpy()[0, 0, 0], [1.5, 3, 4.5])
    y = F.adaptive_avg_pool2d(t(X33), (2, None)).numpy()[0, 0]  # None keeps the width
    np.testing.assert_allclose(y, [[2.5, 3.5, 4.5], [5.5, 6.5, 7.5]])
    np.testing.assert_allclose(F.adaptive_avg_pool2d(t(X33), 1).numpy()[0, 0], [[5]])


def test_one_dimensional_pooling():
    x = t([[[1.0, 3.0, 2.0, 5.0, 4.0]]])
    np.testing.assert_array_equal(F.max_pool1d(x, 2).numpy(), [[[3, 5]]])
    y, idx = F.max_pool1d(x, 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), [[[3, 5, 5]]])
    np.testing.assert_array_equal(idx.numpy(), [[[1, 3, 3]]])
    np.testing.assert_allclose(F.avg_pool1d(x, 2, ceil_mode=True).numpy(), [[[2, 3.5, 4]]])


# ---- gradients ----------------------------------------------------------------------------
POOL_GRID = list(itertools.product([2, 3], [1, 2], [0, 1], [False, True]))


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode", POOL_GRID)
def test_max_pool_gradcheck_grid(kernel, stride, padding, ceil_mode):
    x = t(distinct(1, 2, 6, 5))
    for dilation in (1, 2):
        assert minidl.gradcheck(
            lambda x: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode),  # noqa: B023
            [x],
        )


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode", POOL_GRID)
def test_avg_pool_gradcheck_grid(kernel, stride, padding, ceil_mode):
    x = t(distinct(1, 2, 5, 4))
    for count_include_pad in (False, True):
        assert minidl.gradcheck(
            lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad),  # noqa: B023
            [x],
        )


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: F.max_pool2d(x, 2, 1, 1, dilation=2) ** 2,
        lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False) ** 2,
        lambda x: F.adaptive_avg_pool2d(x, (3, 2)) ** 2,
        lambda x: F.max_pool1d(x[:, :, 0], 3, 2, 1) ** 2,
        lambda x: F.avg_pool1d(x[:, :, 0], 2) ** 2,
    ],
    ids=["max", "avg", "adaptive", "max1d", "avg1d"],
)
def test_pooling_gradcheck_and_second_derivatives(fn):
    x = t(distinct(2, 2, 5, 4))
    assert minidl.gradcheck(fn, [x])
    assert minidl.gradgradcheck(fn, [x])


# ---- errors and modules -----------------------------------------------------------------------
def test_bad_pooling_arguments_raise():
    x = t(X33)
    with pytest.raises(ValueError, match="at most half of kernel size"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="4-D input"):
        F.avg_pool2d(t(np.zeros((3, 3))), 2)
    with pytest.raises(ValueError, match="output size is too small"):
        F.max_pool2d(x, 3, dilation=2)
    with pytest.raises(ValueError, match="positive ints"):
        F.adaptive_avg_pool2d(x, 0)


def test_pooling_modules():
    x = t(distinct(2, 3, 6, 6))
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(
        nn.MaxPool2d(3, 2, 1, ceil_mode=True)(x).numpy(),
        F.max_pool2d(x, 3, 2, 1, ceil_mode=True).numpy(),
    )
    y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(
        np.take_along_axis(x.numpy().reshape(2, 3, 36), idx.numpy().reshape(2, 3, 9), 2),
        y.numpy().reshape(2, 3, 9),
    )
    np.testing.assert_array_equal(
        nn.AvgPool2d(2, padding=1)(x).numpy(), F.avg_pool2d(x, 2, padding=1).numpy()
    )
    assert nn.AdaptiveAvgPool2d((4, 5))(x).shape == (2, 3, 4, 5)
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)):
        assert len(layer.state_dict()) == 0
    assert repr(nn.MaxPool2d(2)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    )
