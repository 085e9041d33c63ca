"""Where PyTorch raises, minidl.nn raises too: the cases an audit against torch found
returning a silent result (each test failed before its fix)."""

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F


def f32(*shape, seed=0):
    return minidl.tensor(np.random.default_rng(seed).standard_normal(shape), dtype="float32")


def probs(*shape):
    p = np.random.default_rng(1).random(shape)
    return minidl.tensor(p / p.sum(axis=1, keepdims=True), dtype="float32")


# ---- class-index losses -----------------------------------------------------------------
@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_class_index_targets_must_be_int64_or_uint8(loss):
    z = f32(4, 3)
    with pytest.raises(TypeError, match="int64 or uint8.*int32"):
        loss(z, minidl.tensor(np.array([0, 2, 1, 1], np.int32)))
    for dtype in ("int64", "uint8"):
        assert np.isfinite(loss(z, minidl.tensor(np.array([0, 2, 1, 1], dtype))).item())


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_class_index_losses_refuse_integer_logits(loss):
    with pytest.raises(TypeError, match="floating point.*int64"):
        loss(minidl.tensor(np.ones((4, 3), np.int64)), minidl.tensor(np.array([0, 2, 1, 1])))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_class_weights_must_have_the_input_dtype(loss, dtype):
    weight = minidl.tensor(np.array([1, 2, 3]), dtype=dtype)
    with pytest.raises(TypeError, match=f"weight's dtype {dtype}.*float32"):
        loss(f32(4, 3), minidl.tensor(np.array([0, 2, 1, 1])), weight=weight)


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_ignore_index_must_be_an_int(loss):
    with pytest.raises(TypeError, match="ignore_index must be an int, got 1.5"):
        loss(f32(4, 3), minidl.tensor(np.array([0, 2, 1, 1])), ignore_index=1.5)


def test_probability_targets_refuse_ignore_index():
    with pytest.raises(ValueError, match="ignore_index is not supported"):
        F.cross_entropy(f32(4, 3), probs(4, 3), ignore_index=1)


# ---- regression, binary and divergence losses --------------------------------------------
@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss])
def test_regression_losses_refuse_integer_tensors(loss):
    ints = minidl.tensor(np.ones((3, 4), np.int64))
    with pytest.raises(TypeError, match="floating point.*int64"):
        loss(ints, ints)


def test_huber_loss_refuses_an_integer_input():
    with pytest.raises(TypeError, match="floating point.*int64"):
        F.huber_loss(minidl.tensor(np.ones((3, 4), np.int64)), f32(3, 4))


def test_binary_cross_entropy_checks_dtypes_ranges_and_weight_shape():
    x = minidl.tensor(np.full((3, 4), 0.5), dtype="float32")
    with pytest.raises(TypeError, match="target dtype float64 differs.*float32"):
        F.binary_cross_entropy(x, x.double())
    with pytest.raises(TypeError, match="floating point.*int64"):
        F.binary_cross_entropy(minidl.tensor(np.ones((3, 4), np.int64)), x)
    with pytest.raises(RuntimeError, match="elements of target should be between 0 and 1"):
        F.binary_cross_entropy(x, x + 1)
    nan = minidl.tensor(np.full(3, np.nan), dtype="float32")
    with pytest.raises(RuntimeError, match="elements of input should be between 0 and 1"):
        F.binary_cross_entropy(nan, minidl.ones(3))
    with pytest.raises(ValueError, match=r"weight of shape \(2, 3, 4\) does not broadcast"):
        F.binary_cross_entropy(x, x, weight=minidl.ones(2, 3, 4))
    row = F.binary_cross_entropy(x, x, weight=minidl.ones(4), reduction="none")
    assert row.shape == (3, 4)


def test_binary_cross_entropy_with_logits_checks_dtypes_and_weight_shapes():
    x = f32(3, 4)
    ints = minidl.tensor(np.ones((3, 4), np.int64))
    with pytest.raises(TypeError, match="floating point.*int64"):
        F.binary_cross_entropy_with_logits(x, ints)
    with pytest.raises(TypeError, match="floating point.*int64"):
        F.binary_cross_entropy_with_logits(ints, x)
    for key in ("weight", "pos_weight"):
        with pytest.raises(ValueError, match=rf"{key} of shape \(2, 3, 4\) does not broadcast"):
            F.binary_cross_entropy_with_logits(x, x.sigmoid(), **{key: minidl.ones(2, 3, 4)})


def test_kl_div_refuses_integer_targets():
    with pytest.raises(TypeError, match="floating point.*int64"):
        F.kl_div(f32(4, 3), minidl.tensor(np.ones((4, 3), np.int64)))


# ---- layers -----------------------------------------------------------------------------
def test_linear_refuses_mixed_dtypes():
    x, w = f32(2, 3), f32(4, 3)
    with pytest.raises(TypeError, match="input float64, weight float32"):
        F.linear(x.double(), w)
    with pytest.raises(TypeError, match="input int64, weight float32"):
        F.linear(minidl.tensor(np.ones((2, 3), np.int64)), w)
    with pytest.raises(TypeError, match="bias float64"):
        F.linear(x, w, f32(4).double())
    assert F.linear(x, w, f32(4)).dtype == np.float32


@pytest.mark.parametrize("conv", [F.conv2d, F.conv_transpose2d])
def test_convolutions_refuse_an_empty_kernel(conv):
    with pytest.raises(ValueError, match="kernel size must be positive"):
        conv(f32(2, 4, 6, 6), f32(4, 4, 0, 3))
