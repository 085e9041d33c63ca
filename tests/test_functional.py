"""minidl.nn.functional: gradients against finite differences (float64) and values
against independent NumPy formulas."""

import math

import numpy as np
import pytest

import minidl
from minidl.nn import functional as F


def t64(*shape, seed=0, scale=1.0, grad=True):
    data = np.random.default_rng(seed).standard_normal(shape) * scale
    return minidl.tensor(data, requires_grad=grad)


def targets(n, classes, seed=1):
    return np.random.default_rng(seed).integers(0, classes, n)


# ---- gradients ---------------------------------------------------------------------
@pytest.mark.parametrize("x_shape", [(4, 3), (2, 3, 3), (3,)])
def test_linear_gradcheck(x_shape):
    x, w, b = t64(*x_shape), t64(5, 3, seed=1), t64(5, seed=2)
    assert minidl.gradcheck(F.linear, [x, w, b])
    assert minidl.gradcheck(lambda x, w: F.linear(x, w), [x, w])


@pytest.mark.parametrize(
    "fn",
    [
        F.relu,
        F.sigmoid,
        F.tanh,
        lambda x: F.leaky_relu(x, 0.2),
        lambda x: F.gelu(x, "none"),
        lambda x: F.gelu(x, "tanh"),
        lambda x: F.softmax(x, 0),
        lambda x: F.softmax(x, -1),
        lambda x: F.log_softmax(x, 0),
        lambda x: F.log_softmax(x, -1),
    ],
    ids=[
        "relu",
        "sigmoid",
        "tanh",
        "leaky_relu",
        "gelu",
        "gelu_tanh",
        "softmax0",
        "softmax1",
        "log_softmax0",
        "log_softmax1",
    ],
)
def test_activation_gradcheck(fn):
    assert minidl.gradcheck(fn, [t64(4, 5, scale=2)])


def test_dropout_gradcheck():
    def fn(x):
        minidl.manual_seed(3)  # the same mask on every call
        return F.dropout(x, 0.4)

    assert minidl.gradcheck(fn, [t64(6, 7)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy_gradcheck(reduction, smoothing):
    target = targets(5, 4)
    assert minidl.gradcheck(
        lambda z: F.cross_entropy(z, target, reduction=reduction, label_smoothing=smoothing),
        [t64(5, 4, scale=3)],
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_gradcheck(reduction):
    target = targets(5, 4)
    assert minidl.gradcheck(
        lambda z: F.nll_loss(F.log_softmax(z, 1), target, reduction=reduction), [t64(5, 4)]
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_gradcheck(reduction):
    assert minidl.gradcheck(
        lambda a, b: F.mse_loss(a, b, reduction), [t64(3, 4), t64(3, 4, seed=1)]
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_gradcheck(reduction):
    target = minidl.tensor(np.random.default_rng(4).random((3, 4)), requires_grad=True)
    assert minidl.gradcheck(
        lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction=reduction),
        [t64(3, 4, scale=3), target],
    )


# ---- values against NumPy ----------------------------------------------------------
def np_log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_cross_entropy_hand_value():
    # log(e^1 + e^2 + e^3) - 3, written out
    loss = F.cross_entropy(minidl.tensor(np.array([[1.0, 2.0, 3.0]])), np.array([2]))
    assert loss.item() == pytest.approx(math.log(math.e + math.e**2 + math.e**3) - 3, rel=1e-14)
    assert loss.shape == ()


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_matches_numpy(smoothing):
    z = np.random.default_rng(0).standard_normal((6, 5)) * 4
    t = targets(6, 5)
    logp = np_log_softmax(z)
    rows = -(1 - smoothing) * logp[np.arange(6), t] - smoothing * logp.mean(axis=1)
    logits = minidl.tensor(z, requires_grad=True)
    np.testing.assert_allclose(
        F.cross_entropy(logits, t, reduction="none", label_smoothing=smoothing).numpy(),
        rows,
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        F.cross_entropy(logits, t, reduction="sum", label_smoothing=smoothing).item(),
        rows.sum(),
        rtol=1e-13,
    )
    loss = F.cross_entropy(logits, t, label_smoothing=smoothing)
    assert loss.item() == pytest.approx(rows.mean(), rel=1e-13)
    loss.backward()
    onehot = np.eye(5)[t]
    expected = (np.exp(logp) - (1 - smoothing) * onehot - smoothing / 5) / 6
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    # fused: one node, whose only tensor input is the logits
    assert type(loss.grad_fn).__name__ == "CrossEntropy"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_extreme_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    logits = minidl.tensor(z, requires_grad=True)
    t = np.array([1, 2, 0])
    losses = F.cross_entropy(logits, t, reduction="none")
    # row 0: logsumexp = 1e4 exactly in floating point, so the loss is 1e4 - (-1e4)
    np.testing.assert_array_equal(losses.numpy(), np.array([2e4, 0.0, math.log(2)], dtype))
    loss = F.cross_entropy(logits, t)
    assert np.isfinite(loss.item())
    loss.backward()
    expected = np.array([[1, -1, 0], [0, 0, 0], [-0.5, 0.5, 0]], dtype) / 3
    np.testing.assert_allclose(logits.grad.numpy(), expected, atol=1e-7)


def test_cross_entropy_targets_as_tensor_and_list():
    z = t64(3, 4)
    expected = F.cross_entropy(z, np.array([0, 3, 1])).item()
    assert F.cross_entropy(z, minidl.tensor([0, 3, 1])).item() == expected
    assert F.cross_entropy(z, [0, 3, 1]).item() == expected


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_mse_bce_match_numpy(reduction):
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    z, y = np.random.default_rng(0).standard_normal((2, 5, 3)) * 3
    t = targets(5, 3)
    np.testing.assert_allclose(
        F.nll_loss(minidl.tensor(z), t, reduction=reduction).numpy(),
        reduce(-z[np.arange(5), t]),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        F.mse_loss(minidl.tensor(z), minidl.tensor(y), reduction).numpy(),
        reduce((z - y) ** 2),
        rtol=1e-14,
    )
    p = np.random.default_rng(1).random((5, 3))
    s = 1 / (1 + np.exp(-z))
    bce = -(p * np.log(s) + (1 - p) * np.log(1 - s))
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(
            minidl.tensor(z), minidl.tensor(p), reduction=reduction
        ).numpy(),
        reduce(bce),
        rtol=1e-12,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_extreme_logits(dtype):
    z = minidl.tensor(np.array([1e4, -1e4, 1e4, -1e4, 0.0], dtype), requires_grad=True)
    t = minidl.tensor(np.array([0, 1, 1, 0, 1], dtype))
    losses = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    np.testing.assert_allclose(losses.numpy(), [1e4, 1e4, 0, 0, math.log(2)], rtol=1e-6)
    losses.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [1, -1, 0, 0, -0.5], atol=1e-7)


def test_activations_match_numpy():
    x = np.linspace(-6, 6, 241)
    tx = minidl.tensor(x)
    np.testing.assert_array_equal(F.relu(tx).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(F.leaky_relu(tx, 0.1).numpy(), np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(F.sigmoid(tx).numpy(), 1 / (1 + np.exp(-x)), rtol=1e-14)
    np.testing.assert_allclose(F.tanh(tx).numpy(), np.tanh(x))
    erf = np.array([math.erf(v / math.sqrt(2)) for v in x])
    # the erf approximation (Abramowitz & Stegun 7.1.26) is good to 1.5e-7
    np.testing.assert_allclose(F.gelu(tx).numpy(), x * 0.5 * (1 + erf), atol=1e-6)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(F.gelu(tx, "tanh").numpy(), tanh_form, rtol=1e-14)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(tx, "fast")


def test_sigmoid_and_softmax_extremes_finite():
    x = minidl.tensor(np.array([[-1e4, 0.0, 1e4]], np.float32))
    np.testing.assert_array_equal(F.sigmoid(x).numpy(), [[0, 0.5, 1]])
    np.testing.assert_array_equal(F.softmax(x, 1).numpy(), [[0, 0, 1]])
    np.testing.assert_array_equal(F.log_softmax(x, 1).numpy(), [[-2e4, -1e4, 0]])


# ---- dropout -----------------------------------------------------------------------
def test_dropout_eval_is_identity():
    x = t64(10, 10)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), np.zeros((10, 10)))


def test_dropout_scales_kept_values_and_gradients():
    minidl.manual_seed(0)
    p = 0.3
    x = minidl.tensor(np.random.default_rng(0).random((200, 500)) + 1, requires_grad=True)
    y = F.dropout(x, p)
    out, inp = y.numpy(), x.numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], inp[kept] / (1 - p), rtol=1e-15)
    assert abs(kept.mean() - (1 - p)) < 4 * math.sqrt(p * (1 - p) / kept.size)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / (1 - p), rtol=1e-15)


def test_dropout_seeded_and_validated():
    x = minidl.ones(50, 50)
    minidl.manual_seed(7)
    a = F.dropout(x, 0.5).numpy()
    minidl.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), a)
    assert not np.array_equal(F.dropout(x, 0.5).numpy(), a)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, bad)


# ---- argument checks ---------------------------------------------------------------
@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_class_target_validation(loss):
    z = t64(4, 3)
    if loss is F.nll_loss:
        with pytest.raises(TypeError, match="integer class indices.*float64"):
            loss(z, np.array([0.0, 1.0, 2.0, 1.0]))
    else:  # float targets are class probabilities, of the input's shape
        with pytest.raises(ValueError, match=r"input's shape \(4, 3\), got \(4,\)"):
            loss(z, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"shape \(4,\).*\(4, 1\)"):
        loss(z, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=r"shape \(4,\).*\(3,\)"):
        loss(z, np.array([0, 1, 2]))
    with pytest.raises(IndexError, match=r"Target 3 is out of bounds.*\[0, 2\]"):
        loss(z, np.array([0, 1, 3, 1]))
    with pytest.raises(IndexError, match=r"Target -1 is out of bounds"):
        loss(z, np.array([0, -1, 2, 1]))
    with pytest.raises(ValueError, match=r"target of shape \(\)"):
        loss(t64(4), np.array([0, 1, 2, 1]))  # (C,) input: one sample, a 0-d target
    with pytest.raises(ValueError, match="reduction"):
        loss(z, np.array([0, 1, 2, 1]), reduction="avg")
    with pytest.raises(TypeError, match="reduction= by keyword"):
        loss(z, np.array([0, 1, 2, 1]), "sum")


def test_other_argument_checks():
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(t64(2, 3), np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        F.mse_loss(t64(2, 3), t64(3, 2))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2,\)"):
        F.binary_cross_entropy_with_logits(t64(2, 3), t64(2))
    with pytest.raises(ValueError, match=r"4 features.*expects 3"):
        F.linear(t64(2, 4), t64(5, 3))
