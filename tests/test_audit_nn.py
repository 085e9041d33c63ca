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
    with pytest.raises(ValueError, match="kernel size .*must be positive"):
        conv(f32(2, 4, 6, 6), f32(4, 4, 0, 3))


def test_kl_div_of_a_negative_target_is_nan():
    losses = F.kl_div(minidl.zeros(3), minidl.tensor([-1.0, 0.0, 1.0]), reduction="none")
    assert np.isnan(losses.numpy()[0]) and (losses.numpy()[1:] == 0).all()


# ---- normalization, embedding, padding, resampling ----------------------------------------
def test_batch_norm_checks_eps_and_dtypes():
    x, stats = f32(4, 3), (minidl.zeros(3), minidl.ones(3))
    with pytest.raises(ValueError, match="eps must be non-negative, but got -1"):
        F.batch_norm(x, *stats, eps=-1.0)
    with pytest.raises(TypeError, match="floating point input, got dtype int64"):
        F.batch_norm(minidl.tensor(np.ones((4, 3), np.int64)), *stats)
    with pytest.raises(TypeError, match="running_mean has dtype float64 and the input float32"):
        F.batch_norm(x, stats[0].double(), stats[1].double())
    with pytest.raises(TypeError, match="weight has dtype float64"):
        F.batch_norm(x, *stats, weight=minidl.ones(3).double(), training=True)


def test_layer_norm_refuses_integer_input():
    with pytest.raises(TypeError, match="floating point input, got dtype int64"):
        F.layer_norm(minidl.tensor(np.ones((4, 5), np.int64)), (5,))


def test_embedding_indices_must_be_int64_or_int32():
    weight = f32(10, 4)
    with pytest.raises(TypeError, match="int64 or int32.*uint8"):
        F.embedding(minidl.tensor(np.array([1, 2], np.uint8)), weight)
    rows = F.embedding(minidl.tensor(np.array([1, 2], np.int32)), weight)
    np.testing.assert_array_equal(rows.numpy(), weight.numpy()[[1, 2]])


def test_pad_refuses_float_amounts():
    with pytest.raises(TypeError, match=r"must be ints, got \(1.5, 1.0\)"):
        F.pad(f32(1, 2, 5), (1.5, 1.0))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_refuses_integer_input(mode):
    with pytest.raises(TypeError, match="floating point input.*int64"):
        F.interpolate(minidl.tensor(np.ones((1, 1, 3, 3), np.int64)), size=5, mode=mode)
    image = minidl.tensor(np.arange(9, dtype=np.uint8).reshape(1, 1, 3, 3))
    assert F.interpolate(image, size=6).dtype == np.uint8  # torch: uint8 for nearest only


# ---- attention --------------------------------------------------------------------------
def test_attention_checks_dtypes_and_the_mask():
    q, k, v = f32(2, 3, 4), f32(2, 5, 4, seed=1), f32(2, 5, 6, seed=2)
    with pytest.raises(TypeError, match="one floating point dtype, got float64, float32"):
        F.scaled_dot_product_attention(q.double(), k, v)
    ints = [minidl.tensor(np.ones(t.shape, np.int64)) for t in (q, k, v)]
    with pytest.raises(TypeError, match="one floating point dtype, got int64"):
        F.scaled_dot_product_attention(*ints)
    for dtype in ("int64", "float64"):
        mask = minidl.zeros(3, 5, dtype=dtype)
        with pytest.raises(TypeError, match=f"bool or to match.*got {dtype}"):
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(7, 2, 3, 5\) does not"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=minidl.zeros(7, 2, 3, 5))


def test_attention_of_a_query_with_no_key_allowed_is_zero():
    q = f32(1, 2, 4)
    q.requires_grad = True
    k, v = f32(1, 3, 4, seed=1), f32(1, 3, 2, seed=2)
    mask = minidl.tensor(np.array([[True, False, True], [False, False, False]]))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert np.isfinite(out.numpy()).all() and (out.numpy()[0, 1] == 0).all()
    alone = F.scaled_dot_product_attention(q[:, :1], k, v, attn_mask=mask[:1])
    np.testing.assert_allclose(out.numpy()[:, :1], alone.numpy(), rtol=1e-6)
    out.sum().backward()
    assert np.isfinite(q.grad.numpy()).all() and (q.grad.numpy()[0, 1] == 0).all()


# ---- activations and pooling ---------------------------------------------------------------
@pytest.mark.parametrize(
    "fn",
    [F.gelu, F.silu, F.elu, F.selu, F.celu, F.mish, F.softplus, F.softsign, F.hardtanh,
     F.relu6, F.hardsigmoid, F.hardswish, F.logsigmoid],
)  # fmt: skip
def test_activations_refuse_booleans(fn):
    with pytest.raises(TypeError, match="boolean inputs are not supported"):
        fn(minidl.tensor([True, False]))


def test_leaky_relu_refuses_integers_and_hardtanh_keeps_them():
    with pytest.raises(TypeError, match="leaky_relu: expected a floating point.*int64"):
        F.leaky_relu(minidl.tensor([1, -2]))
    clipped = F.hardtanh(minidl.tensor([-3, 0, 3]))
    assert clipped.dtype == np.int64 and clipped.tolist() == [-1, 0, 1]
    assert F.relu6(minidl.tensor([-3, 9])).tolist() == [0, 6]


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_refuses_empty_channels(pool):
    with pytest.raises(ValueError, match=r"only the batch may be empty.*\(2, 0, 7, 7\)"):
        pool(minidl.zeros(2, 0, 7, 7), 3)
    assert pool(minidl.zeros(0, 2, 7, 7), 3).shape == (0, 2, 2, 2)


def test_adaptive_avg_pool_refuses_integers_it_would_average_to_zero():
    x = minidl.tensor(np.arange(49).reshape(1, 1, 7, 7))
    with pytest.raises(TypeError, match="floating point input, got dtype int64"):
        F.adaptive_avg_pool2d(x, 2)
    np.testing.assert_array_equal(
        F.adaptive_avg_pool2d(x.float(), 2).numpy(), [[[[12, 15], [33, 36]]]]
    )


# ---- module constructors -------------------------------------------------------------------
@pytest.mark.parametrize("conv", [minidl.nn.Conv1d, minidl.nn.Conv2d, minidl.nn.ConvTranspose2d])
def test_conv_modules_refuse_a_kernel_size_of_zero(conv):
    with pytest.raises(ValueError, match="kernel_size must be positive, got 0"):
        conv(4, 6, 0)


@pytest.mark.parametrize("conv", [minidl.nn.Conv1d, minidl.nn.Conv2d])
def test_conv_modules_check_a_padding_string_at_construction(conv):
    with pytest.raises(ValueError, match="'same' is not supported for strided"):
        conv(4, 6, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="'valid' or 'same', got 'bogus'"):
        conv(4, 6, 3, padding="bogus")
    assert conv(4, 6, 3, padding="same").padding == "same"


def test_hardtanh_module_checks_its_bounds_and_prelu_keeps_a_0d_shape():
    with pytest.raises(ValueError, match=r"max_val \(-1.0\) must be greater than min_val"):
        minidl.nn.Hardtanh(1.0, -1.0)
    assert repr(minidl.nn.Hardtanh(-2.0, 2.0)) == "Hardtanh(min_val=-2.0, max_val=2.0)"
    out = minidl.nn.PReLU()(minidl.tensor(-2.0))
    assert out.shape == () and out.item() == -0.5


# ---- dropout's inplace argument (torch's fourth) -------------------------------------------
@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d])
def test_dropout_inplace_writes_into_the_input(fn):
    minidl.manual_seed(0)
    x = minidl.ones(4, 3, 2, 2)
    memory = x.data
    assert fn(x, 0.5, True, True) is x and x.data is memory and x._version == 1
    assert set(np.unique(x.numpy())) == {0.0, 2.0}
    leaf = minidl.ones(3, requires_grad=True)
    y = leaf * 1  # a non-leaf: recorded, gradients follow the kept elements
    F.dropout(y, 0.5, inplace=True)
    y.sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), y.detach().numpy())


def test_dropout_modules_take_inplace():
    minidl.manual_seed(0)
    x = minidl.ones(4, 3)
    assert minidl.nn.Dropout(0.5, inplace=True)(x) is x and (x.numpy() != 1).all()
    assert repr(minidl.nn.Dropout(0.25, inplace=True)) == "Dropout(p=0.25, inplace=True)"


@pytest.mark.parametrize("groups", [1, 2])
def test_convolutions_of_an_empty_batch(groups):
    x = minidl.zeros(0, 4, 6, 6, requires_grad=True)
    w = minidl.ones(6, 4 // groups, 3, 3, requires_grad=True)
    y = F.conv2d(x, w, groups=groups)
    assert y.shape == (0, 6, 4, 4)
    y.sum().backward()
    assert x.grad.shape == x.shape and (w.grad.numpy() == 0).all()
    up = minidl.ones(4, 6 // groups, 3, 3, requires_grad=True)
    z = F.conv_transpose2d(x, up, stride=2, groups=groups)
    assert z.shape == (0, 6, 13, 13)
    z.sum().backward()
    assert (up.grad.numpy() == 0).all()
    assert F.conv1d(minidl.zeros(0, 4, 8), minidl.ones(6, 4, 3)).shape == (0, 6, 6)


def test_argument_types_torch_refuses():
    with pytest.raises(ValueError, match="eps must be non-negative, got -1"):
        F.cosine_similarity(f32(3, 4), f32(3, 4, seed=1), eps=-1.0)
    with pytest.raises(TypeError, match="padding_idx must be an int, got 2.0"):
        F.embedding(minidl.tensor([1, 2]), f32(10, 4), padding_idx=2.0)
    with pytest.raises(TypeError, match="training must be a bool, got None"):
        F.dropout(f32(3, 4), 0.0, training=None)
    assert F.dropout(f32(3, 4), 0.5, training=np.bool_(False)).shape == (3, 4)


def test_layer_norm_weight_and_bias_must_have_the_input_dtype():
    x = f32(2, 5)
    with pytest.raises(TypeError, match="weight has dtype float64 and the input float32"):
        F.layer_norm(x, (5,), minidl.ones(5).double())
    with pytest.raises(TypeError, match="bias has dtype int64"):
        F.layer_norm(x, (5,), None, minidl.tensor(np.zeros(5, np.int64)))
