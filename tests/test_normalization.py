"""Batch and layer normalisation: values and running statistics against formulas
written by hand, train/eval modes, the Modules' state, gradcheck and gradgradcheck."""

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn


def t(a, grad=True):
    return minidl.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---- batch norm --------------------------------------------------------------------------
def test_batch_norm_by_hand():
    layer = nn.BatchNorm1d(1).double()
    y = layer(t([[1.0], [3.0]]))  # mean 2, biased variance 1, unbiased 2
    np.testing.assert_allclose(y.numpy()[:, 0], [-1 / np.sqrt(1 + 1e-5), 1 / np.sqrt(1 + 1e-5)])
    np.testing.assert_allclose(layer.running_mean.numpy(), [0.9 * 0 + 0.1 * 2])
    np.testing.assert_allclose(layer.running_var.numpy(), [0.9 * 1 + 0.1 * 2])
    assert int(layer.num_batches_tracked.item()) == 1


def test_batch_norm_2d_against_the_formulas():
    x, w, b = randn(4, 3, 5, 2) * 3 + 1, randn(3, seed=1), randn(3, seed=2)
    layer = nn.BatchNorm2d(3, momentum=0.3, eps=1e-3).double()
    layer.load_state_dict(
        {
            "weight": w,
            "bias": b,
            "running_mean": np.full(3, 0.5),
            "running_var": np.full(3, 2.0),
            "num_batches_tracked": np.array(7),
        }
    )
    y = layer(t(x)).numpy()
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    expected = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-3) * w[
        :, None, None
    ] + b[:, None, None]
    np.testing.assert_allclose(y, expected, rtol=1e-10)
    unbiased = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.running_mean.numpy(), 0.7 * 0.5 + 0.3 * mean)
    np.testing.assert_allclose(layer.running_var.numpy(), 0.7 * 2.0 + 0.3 * unbiased)
    assert int(layer.num_batches_tracked.item()) == 8

    layer.eval()  # now the running statistics are used
    rm, rv = layer.running_mean.numpy(), layer.running_var.numpy()
    z = randn(2, 3, 2, 2, seed=3)
    expected = (z - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-3) * w[:, None, None] + b[
        :, None, None
    ]
    np.testing.assert_allclose(layer(t(z)).numpy(), expected, rtol=1e-10)
    np.testing.assert_array_equal(layer.running_mean.numpy(), rm)  # eval leaves them
    assert int(layer.num_batches_tracked.item()) == 8


def test_momentum_none_is_a_cumulative_average():
    layer = nn.BatchNorm1d(2, momentum=None).double()
    batches = [randn(5, 2, seed=s) for s in range(3)]
    for batch in batches:
        layer(t(batch))
    np.testing.assert_allclose(
        layer.running_mean.numpy(), np.mean([b.mean(axis=0) for b in batches], axis=0)
    )
    # the running variance starts at 1 and is replaced by the first batch's (factor 1)
    np.testing.assert_allclose(
        layer.running_var.numpy(), np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0)
    )


def test_batch_norm_without_running_stats_or_affine():
    layer = nn.BatchNorm2d(3, affine=False, track_running_stats=False).double()
    assert list(layer.state_dict()) == [] and list(layer.parameters()) == []
    x = randn(4, 3, 2, 2)
    expected = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(
        x.var(axis=(0, 2, 3), keepdims=True) + 1e-5
    )
    np.testing.assert_allclose(layer.eval()(t(x)).numpy(), expected, rtol=1e-10)  # batch stats


def test_batch_norm_state_dict_has_torchs_keys_and_initial_values():
    layer = nn.BatchNorm2d(4)
    state = layer.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    np.testing.assert_array_equal(state["weight"], np.ones(4))
    np.testing.assert_array_equal(state["bias"], np.zeros(4))
    np.testing.assert_array_equal(state["running_mean"], np.zeros(4))
    np.testing.assert_array_equal(state["running_var"], np.ones(4))
    assert state["num_batches_tracked"].dtype == np.int64 and state["num_batches_tracked"] == 0
    assert [n for n, _ in nn.Sequential(nn.BatchNorm1d(2)).named_buffers()] == [
        "0.running_mean",
        "0.running_var",
        "0.num_batches_tracked",
    ]


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(t(randn(2, 3)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(t(randn(1, 3)))
    with pytest.raises(ValueError, match="running_mean must have shape"):
        F.batch_norm(t(randn(2, 3)), t(np.zeros(2)), t(np.ones(3)))
    with pytest.raises(ValueError, match="must be given in evaluation mode"):
        F.batch_norm(t(randn(2, 3)), None, None)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 2), (2, 2, 3), (2, 2, 3, 1)])
def test_batch_norm_gradcheck(training, shape):
    x, w, b = t(randn(*shape)), t(randn(2, seed=1)), t(randn(2, seed=2))
    mean, var = t(randn(2), False), t(np.array([0.5, 2.0]), False)

    def fn(x, w, b):
        return F.batch_norm(x, mean, var, w, b, training=training)

    assert minidl.gradcheck(fn, [x, w, b])
    assert minidl.gradgradcheck(fn, [x, w, b])
    assert minidl.gradgradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x])


# ---- layer norm ----------------------------------------------------------------------------
def test_layer_norm_by_hand():
    y = F.layer_norm(t([[1.0, 2.0, 3.0]]), (3,))  # mean 2, variance 2/3
    np.testing.assert_allclose(y.numpy(), [[-1, 0, 1]] / np.sqrt(2 / 3 + 1e-5))


def test_layer_norm_over_several_axes_and_its_module():
    x = randn(2, 3, 4, 5) * 4 + 2
    layer = nn.LayerNorm((4, 5), eps=1e-3).double()
    assert list(layer.state_dict()) == ["weight", "bias"] and layer.weight.shape == (4, 5)
    mean = x.mean(axis=(2, 3), keepdims=True)
    expected = (x - mean) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-3)
    np.testing.assert_allclose(layer(t(x)).numpy(), expected, rtol=1e-10)
    assert list(nn.LayerNorm(5, elementwise_affine=False).state_dict()) == []
    assert list(nn.LayerNorm(5, bias=False).state_dict()) == ["weight"]
    assert repr(nn.LayerNorm(5)) == "LayerNorm((5,), eps=1e-05, elementwise_affine=True)"
    with pytest.raises(ValueError, match=r"expected an input with shape \[\*, 4, 5\]"):
        layer(t(randn(2, 5, 4)))


def test_layer_norm_gradcheck():
    x, w, b = t(randn(3, 2, 4) * 3), t(randn(2, 4, seed=1)), t(randn(2, 4, seed=2))
    assert minidl.gradcheck(lambda x, w, b: F.layer_norm(x, (2, 4), w, b), [x, w, b])
    assert minidl.gradgradcheck(lambda x, w, b: F.layer_norm(x, (2, 4), w, b), [x, w, b])
    assert minidl.gradcheck(lambda x: F.layer_norm(x, 4), [x])  # no weight, no bias
