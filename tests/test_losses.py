"""Losses with PyTorch's options: values against formulas written out here in NumPy (or
by hand), gradients against finite differences to second order, Modules against their
functions."""

import math

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl import gradcheck, gradgradcheck

rng = np.random.default_rng(0)


def t64(*shape, grad=True):
    return minidl.tensor(rng.standard_normal(shape), requires_grad=grad)


def log_softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def class_loss(logp, t, w, ignore, s, reduction):
    """PyTorch's class-index cross-entropy on log-probabilities (N, C), written out."""
    n, c = logp.shape
    kept = t != ignore
    safe = np.where(kept, t, 0)
    wt = w[safe] * kept
    nll = -logp[np.arange(n), safe] * wt
    smooth = -(logp * w).sum(1) * kept
    losses = (1 - s) * nll + s / c * smooth
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / wt.sum()


# ---- cross-entropy and NLL ---------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [-100, 1])
def test_cross_entropy_options(reduction, smoothing, weighted, ignore):
    z = rng.standard_normal((6, 4))
    t = np.array([0, 1, 3, 1, 2, 3])
    w = np.array([0.5, 2.0, 1.0, 3.0]) if weighted else np.ones(4)
    loss = F.cross_entropy(
        minidl.tensor(z),
        t,
        weight=minidl.tensor(w) if weighted else None,
        ignore_index=ignore,
        reduction=reduction,
        label_smoothing=smoothing,
    )
    expected = class_loss(log_softmax(z, 1), t, w, ignore, smoothing, reduction)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)


def test_cross_entropy_nd_inputs_match_the_flattened_rows():
    z = rng.standard_normal((2, 4, 3, 5))  # (N, C, H, W)
    t = rng.integers(0, 4, (2, 3, 5))
    t[0, 1, 2] = -100
    w = np.array([1.0, 0.5, 2.0, 1.5])
    rows = np.moveaxis(z, 1, -1).reshape(-1, 4)
    for reduction in ("mean", "sum", "none"):
        loss = F.cross_entropy(
            minidl.tensor(z), t, weight=minidl.tensor(w), reduction=reduction, label_smoothing=0.1
        )
        expected = class_loss(log_softmax(rows, 1), t.reshape(-1), w, -100, 0.1, reduction)
        if reduction == "none":
            expected = expected.reshape(2, 3, 5)
        np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)
    z1 = rng.standard_normal(4)  # one unbatched sample (C,) with a 0-d target
    np.testing.assert_allclose(
        F.cross_entropy(minidl.tensor(z1), np.array(2)).item(), -log_softmax(z1, 0)[2], rtol=1e-12
    )


def test_cross_entropy_with_probability_targets():
    z = rng.standard_normal((5, 3))
    p = rng.random((5, 3))
    p /= p.sum(1, keepdims=True)
    w = np.array([1.0, 2.0, 0.5])
    q = p * 0.8 + 0.2 / 3
    rows = -(log_softmax(z, 1) * q * w).sum(1)
    out = F.cross_entropy(
        minidl.tensor(z),
        minidl.tensor(p),
        weight=minidl.tensor(w),
        reduction="none",
        label_smoothing=0.2,
    )
    np.testing.assert_allclose(out.numpy(), rows, rtol=1e-12)
    mean = F.cross_entropy(
        minidl.tensor(z), minidl.tensor(p), weight=minidl.tensor(w), label_smoothing=0.2
    )
    np.testing.assert_allclose(mean.item(), rows.sum() / 5, rtol=1e-12)  # rows, not weights


def test_every_target_ignored_gives_nan_like_torch():
    with np.errstate(invalid="ignore"):
        loss = F.cross_entropy(t64(2, 3), np.array([-100, -100]))
    assert math.isnan(loss.item())


def test_nll_loss_with_weights_and_ignore_index():
    logp = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]))
    t = np.array([2, 0, 1])
    w = np.array([2.0, 1.0, 4.0])
    # -(4 log .5 + 2 log .6 + 1 log .1) / (4 + 2 + 1)
    expected = -(4 * math.log(0.5) + 2 * math.log(0.6) + math.log(0.1)) / 7
    loss = F.nll_loss(minidl.tensor(logp), t, weight=minidl.tensor(w))
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    loss = F.nll_loss(minidl.tensor(logp), t, weight=minidl.tensor(w), ignore_index=0)
    np.testing.assert_allclose(loss.item(), -(4 * math.log(0.5) + math.log(0.1)) / 5, rtol=1e-12)
    with pytest.raises(RuntimeError, match="weight tensor should be defined"):
        F.nll_loss(minidl.tensor(logp), t, weight=minidl.tensor([1.0, 2.0]))


def test_fused_and_general_cross_entropy_agree():
    z, t = t64(7, 5), rng.integers(0, 5, 7)
    fused = F.cross_entropy(z, t, label_smoothing=0.3)
    general = F.cross_entropy(z, t, weight=minidl.ones(5, dtype="float64"), label_smoothing=0.3)
    np.testing.assert_allclose(fused.item(), general.item(), rtol=1e-13)
    (g1,) = minidl.autograd.grad(fused, z, create_graph=True)
    (g2,) = minidl.autograd.grad(general, z, create_graph=True)
    np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-12, atol=1e-15)


# ---- binary, regression and divergence losses --------------------------------------
def test_binary_cross_entropy_values():
    x = minidl.tensor([0.8, 0.25, 0.0, 1.0], dtype="float64")
    t = minidl.tensor([1.0, 0.0, 0.0, 1.0], dtype="float64")
    expected = [-math.log(0.8), -math.log(0.75), 0.0, 0.0]
    np.testing.assert_allclose(F.binary_cross_entropy(x, t, reduction="none").numpy(), expected)
    # a log clamped at -100: p = 0 for a positive target costs 100, not inf
    assert F.binary_cross_entropy(minidl.tensor([0.0]), minidl.tensor([1.0])).item() == 100
    w = minidl.tensor([1.0, 2.0, 3.0, 4.0], dtype="float64")
    np.testing.assert_allclose(
        F.binary_cross_entropy(x, t, weight=w, reduction="sum").item(),
        -math.log(0.8) - 2 * math.log(0.75),
    )
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(minidl.tensor([1.5]), minidl.tensor([1.0]))


def test_bce_with_logits_pos_weight_and_weight():
    z = minidl.tensor([[0.0, 0.0], [2.0, -1.0]], dtype="float64")
    t = minidl.tensor([[1.0, 0.0], [1.0, 1.0]], dtype="float64")
    pw = minidl.tensor([3.0, 0.5], dtype="float64")
    softplus = lambda u: math.log1p(math.exp(u))
    # positive terms: pos_weight * log(1 + exp(-z)); negative: log(1 + exp(z))
    expected = [[3 * softplus(0), softplus(0)], [3 * softplus(-2), 0.5 * softplus(1)]]
    out = F.binary_cross_entropy_with_logits(z, t, pos_weight=pw, reduction="none")
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    w = minidl.tensor([[1.0, 0.0], [2.0, 1.0]], dtype="float64")
    out = F.binary_cross_entropy_with_logits(z, t, weight=w, pos_weight=pw, reduction="sum")
    np.testing.assert_allclose(
        out.item(), 3 * softplus(0) + 6 * softplus(-2) + 0.5 * softplus(1), rtol=1e-12
    )


def test_regression_losses_by_hand():
    x = minidl.tensor([0.5, -2.0, 0.0], dtype="float64")
    y = minidl.tensor([0.0, 0.0, 0.0], dtype="float64")
    np.testing.assert_allclose(F.l1_loss(x, y, reduction="none").numpy(), [0.5, 2, 0])
    np.testing.assert_allclose(F.smooth_l1_loss(x, y, reduction="none").numpy(), [0.125, 1.5, 0])
    np.testing.assert_allclose(
        F.smooth_l1_loss(x, y, reduction="none", beta=0.5).numpy(), [0.25, 1.75, 0]
    )
    np.testing.assert_allclose(F.smooth_l1_loss(x, y, reduction="sum", beta=0.0).item(), 2.5)
    np.testing.assert_allclose(
        F.huber_loss(x, y, reduction="none", delta=2.0).numpy(), [0.125, 2.0, 0]
    )
    np.testing.assert_allclose(
        F.huber_loss(x, y, reduction="none", delta=0.25).numpy(), [0.25 * 0.375, 0.25 * 1.875, 0]
    )
    np.testing.assert_allclose(F.mse_loss(x, y).item(), (0.25 + 4) / 3)


def test_kl_div_values():
    t = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    q = np.array([[0.25, 0.75, 0.0], [0.2, 0.3, 0.5]])
    logq = np.log(np.where(q > 0, q, 1e-300))
    pointwise = np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0) - t * logq
    kl = F.kl_div(minidl.tensor(logq), minidl.tensor(t), reduction="none")
    np.testing.assert_allclose(kl.numpy(), pointwise, rtol=1e-12)
    batchmean = F.kl_div(minidl.tensor(logq), minidl.tensor(t), reduction="batchmean").item()
    np.testing.assert_allclose(batchmean, (0.5 * math.log(2) + 0.5 * math.log(2 / 3)) / 2)
    logt = np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))
    out = F.kl_div(minidl.tensor(logt * 0.5), minidl.tensor(logt), log_target=True, reduction="sum")
    np.testing.assert_allclose(out.item(), (np.exp(logt) * (logt - logt * 0.5)).sum())


def test_cosine_embedding_loss_values():
    x1 = minidl.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype="float64")
    x2 = minidl.tensor([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], dtype="float64")
    y = minidl.tensor([1, -1, 1])
    out = F.cosine_embedding_loss(x1, x2, y, margin=0.5, reduction="none")
    c = 1 / math.sqrt(2)
    np.testing.assert_allclose(out.numpy(), [1.0, c - 0.5, 1 - c], rtol=1e-10)


# ---- gradients, to second order ------------------------------------------------------
TARGETS = np.array([0, 3, 1, 1, 2])
PROBS = rng.random((5, 4))
PROBS /= PROBS.sum(1, keepdims=True)
WEIGHT = minidl.tensor([0.5, 2.0, 1.0, 3.0], dtype="float64")
LOSSES = {
    "ce_fused": lambda z: F.cross_entropy(z, TARGETS, label_smoothing=0.1),
    "ce_weight_ignore": lambda z: F.cross_entropy(
        z, TARGETS, weight=WEIGHT, ignore_index=1, label_smoothing=0.2
    ),
    "ce_probs": lambda z: F.cross_entropy(z, minidl.tensor(PROBS), weight=WEIGHT),
    "ce_nd": lambda z: F.cross_entropy(z.reshape(1, 4, 5), TARGETS.reshape(1, 5), reduction="sum"),
    "nll": lambda z: F.nll_loss(z, TARGETS, weight=WEIGHT, reduction="none"),
    "bce": lambda z: F.binary_cross_entropy(minidl.sigmoid(z), minidl.tensor(PROBS), weight=WEIGHT),
    "bce_logits": lambda z: F.binary_cross_entropy_with_logits(
        z, minidl.tensor(PROBS), weight=WEIGHT, pos_weight=WEIGHT * 2
    ),
    "l1": lambda z: F.l1_loss(z, minidl.tensor(PROBS)),
    "smooth_l1": lambda z: F.smooth_l1_loss(z, minidl.tensor(PROBS), beta=0.5),
    "huber": lambda z: F.huber_loss(z, minidl.tensor(PROBS), delta=0.5, reduction="sum"),
    "kl": lambda z: F.kl_div(F.log_softmax(z, 1), minidl.tensor(PROBS), reduction="batchmean"),
    "kl_log": lambda z: F.kl_div(
        F.log_softmax(z, 1), minidl.tensor(np.log(PROBS)), log_target=True
    ),
    "cosine_embedding": lambda z: F.cosine_embedding_loss(
        z, minidl.tensor(PROBS), minidl.tensor([1, -1, 1, -1, -1]), margin=-0.5
    ),
}


@pytest.mark.parametrize("name", LOSSES)
def test_loss_gradients_to_second_order(name):
    assert gradcheck(LOSSES[name], t64(5, 4))
    assert gradgradcheck(LOSSES[name], t64(5, 4))


def test_bce_with_logits_gradients_for_target_and_pos_weight():
    fn = lambda z, t, pw: F.binary_cross_entropy_with_logits(z, t, pos_weight=pw)
    inputs = [
        t64(3, 2),
        minidl.tensor(rng.random((3, 2)), requires_grad=True),
        minidl.tensor([1.5, 0.5], dtype="float64", requires_grad=True),
    ]
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


# ---- Modules ----------------------------------------------------------------------------
MODULES = [
    (
        nn.CrossEntropyLoss(weight=WEIGHT, ignore_index=3, label_smoothing=0.1),
        lambda z: F.cross_entropy(z, TARGETS, weight=WEIGHT, ignore_index=3, label_smoothing=0.1),
        TARGETS,
    ),
    (nn.NLLLoss(reduction="sum"), lambda z: F.nll_loss(z, TARGETS, reduction="sum"), TARGETS),
    (nn.L1Loss(), lambda z: F.l1_loss(z, minidl.tensor(PROBS)), minidl.tensor(PROBS)),
    (
        nn.SmoothL1Loss(beta=0.3),
        lambda z: F.smooth_l1_loss(z, minidl.tensor(PROBS), beta=0.3),
        minidl.tensor(PROBS),
    ),
    (
        nn.HuberLoss(delta=0.3),
        lambda z: F.huber_loss(z, minidl.tensor(PROBS), delta=0.3),
        minidl.tensor(PROBS),
    ),
    (
        nn.BCEWithLogitsLoss(pos_weight=WEIGHT),
        lambda z: F.binary_cross_entropy_with_logits(z, minidl.tensor(PROBS), pos_weight=WEIGHT),
        minidl.tensor(PROBS),
    ),
    (
        nn.KLDivLoss(reduction="batchmean"),
        lambda z: F.kl_div(z, minidl.tensor(PROBS), reduction="batchmean"),
        minidl.tensor(PROBS),
    ),
]


@pytest.mark.parametrize("module, fn, target", MODULES, ids=[repr(m[0]) for m in MODULES])
def test_loss_modules_match_their_functions(module, fn, target):
    z = t64(5, 4)
    np.testing.assert_array_equal(module(z, target).numpy(), fn(z).numpy())


def test_loss_module_details():
    probs = minidl.tensor([[0.2, 0.7]], dtype="float64")
    bce = nn.BCELoss(weight=minidl.tensor([1.0, 2.0], dtype="float64"), reduction="sum")
    np.testing.assert_allclose(
        bce(probs, minidl.tensor([[1.0, 0.0]], dtype="float64")).item(),
        -math.log(0.2) - 2 * math.log(0.3),
    )
    loss = nn.CosineEmbeddingLoss(margin=0.1)
    x = minidl.tensor([[1.0, 0.0]])
    assert loss(x, x, minidl.tensor([-1])).item() == pytest.approx(0.9)
    assert "weight" in dict(nn.CrossEntropyLoss(weight=WEIGHT).named_buffers())
    assert nn.NLLLoss(reduce=False).reduction == "none"  # PyTorch's legacy flags
    with pytest.raises(TypeError, match="reduction= by keyword"):
        nn.CrossEntropyLoss("sum")
    with pytest.raises(ValueError, match="reduction"):
        nn.L1Loss(reduction="avg")
