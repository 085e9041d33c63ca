"""Layers and loss modules: each equals its functional form (or a NumPy formula), each
is gradchecked in float64, and containers behave like PyTorch's."""

from collections import OrderedDict

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.nn import functional as F


def t64(*shape, seed=0, grad=True):
    return minidl.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=grad)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_and_gradcheck(bias):
    layer = nn.Linear(3, 4, bias=bias).double()
    x = t64(5, 3)
    w, b = layer.weight.numpy(), layer.bias.numpy() if bias else 0
    np.testing.assert_allclose(layer(x).numpy(), x.numpy() @ w.T + b, rtol=1e-14)
    assert layer(x).dtype == np.float64
    # gradient with respect to the input through the module ...
    assert minidl.gradcheck(layer, [x])
    # ... and with respect to weight and bias through the functional form it uses
    params = [layer.weight, layer.bias] if bias else [layer.weight]
    np.testing.assert_array_equal(layer(x).numpy(), F.linear(x, *params).numpy())
    assert minidl.gradcheck(
        F.linear, [x] + [minidl.tensor(p.numpy(), requires_grad=True) for p in params]
    )


def test_linear_parameter_gradients_reach_the_module():
    layer = nn.Linear(3, 2).double()
    x = t64(4, 3, grad=False)
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), np.ones((4, 2)).T @ x.numpy(), rtol=1e-14)
    np.testing.assert_array_equal(layer.bias.grad.numpy(), [4.0, 4.0])


def test_linear_shapes_and_checks():
    layer = nn.Linear(3, 2)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    assert layer.weight.dtype == np.float32
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]
    assert layer(minidl.zeros(7, 6, 3)).shape == (7, 6, 2)
    with pytest.raises(ValueError, match="positive"):
        nn.Linear(0, 2)
    with pytest.raises(ValueError, match="features"):
        layer(minidl.zeros(4, 5))


ACTIVATIONS = [
    (nn.ReLU(), F.relu),
    (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)),
    (nn.Sigmoid(), F.sigmoid),
    (nn.Tanh(), F.tanh),
    (nn.GELU(), F.gelu),
    (nn.GELU("tanh"), lambda x: F.gelu(x, "tanh")),
    (nn.Softmax(0), lambda x: F.softmax(x, 0)),
    (nn.LogSoftmax(1), lambda x: F.log_softmax(x, 1)),
]


@pytest.mark.parametrize(
    "module, functional", ACTIVATIONS, ids=[type(m).__name__ for m, _ in ACTIVATIONS]
)
def test_activation_modules(module, functional):
    x = t64(4, 5)
    np.testing.assert_array_equal(module(x).numpy(), functional(x).numpy())
    assert minidl.gradcheck(module, [x])


def test_leaky_relu_default_slope_and_reprs():
    x = minidl.tensor([-2.0, 3.0])
    np.testing.assert_allclose(nn.LeakyReLU()(x).numpy(), [-0.02, 3.0], rtol=1e-6)
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Softmax(1)) == "Softmax(dim=1)"
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"
    assert repr(nn.Linear(3, 2, bias=False)) == "Linear(in_features=3, out_features=2, bias=False)"


def test_dropout_module_train_and_eval():
    minidl.manual_seed(0)
    p = 0.5
    layer = nn.Dropout(p)
    x = minidl.tensor(np.random.default_rng(0).random((100, 100)) + 1, requires_grad=True)
    y = layer(x).numpy()
    kept = y != 0
    assert 0.45 < kept.mean() < 0.55
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - p), rtol=1e-15)
    layer.eval()
    assert layer(x) is x
    layer.train()
    assert (layer(x).numpy() == 0).any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.2)


def test_dropout_module_gradcheck():
    layer = nn.Dropout(0.3)

    def fn(x):
        minidl.manual_seed(1)
        return layer(x)

    assert minidl.gradcheck(fn, [t64(5, 6)])


def test_flatten_and_identity():
    x = t64(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    np.testing.assert_array_equal(nn.Flatten()(x).numpy(), x.numpy().reshape(2, 60))
    assert minidl.gradcheck(nn.Flatten(), [t64(2, 3, 2)])
    assert nn.Identity()(x) is x


# ---- containers --------------------------------------------------------------------
def test_sequential_indexing_iteration_and_length():
    layers = [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)]
    model = nn.Sequential(*layers)
    assert len(model) == 3
    assert list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    with pytest.raises(IndexError):
        model[3]
    x = minidl.randn(5, 3)
    np.testing.assert_array_equal(model(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    model.append(nn.Tanh())
    assert len(model) == 4 and isinstance(model[3], nn.Tanh)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_sequential_from_ordered_dict_and_module_list():
    model = nn.Sequential(
        OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU()), ("out", nn.Linear(2, 1))])
    )
    assert [n for n, _ in model.named_children()] == ["fc", "act", "out"]
    assert model[0] is model.fc
    assert list(model[1:].state_dict()) == ["out.weight", "out.bias"]  # names kept
    blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 1)])
    assert len(blocks) == 2 and blocks[1].out_features == 1
    assert len(list(blocks.parameters())) == 4


def test_mlp_gradcheck_in_double():
    minidl.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.GELU(), nn.Linear(4, 2)
    ).double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert minidl.gradcheck(model, [t64(3, 3)])


# ---- loss modules ------------------------------------------------------------------
LOSSES = [
    (nn.CrossEntropyLoss(), lambda z, t: F.cross_entropy(z, t), "class"),
    (
        nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.2),
        lambda z, t: F.cross_entropy(z, t, reduction="sum", label_smoothing=0.2),
        "class",
    ),
    (nn.NLLLoss(reduction="none"), lambda z, t: F.nll_loss(z, t, reduction="none"), "class"),
    (nn.MSELoss(), F.mse_loss, "real"),
    (
        nn.BCEWithLogitsLoss(reduction="sum"),
        lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction="sum"),
        "prob",
    ),
]


@pytest.mark.parametrize("module, functional, kind", LOSSES, ids=[repr(m) for m, _, _ in LOSSES])
def test_loss_modules(module, functional, kind):
    z = t64(4, 3)
    target = {
        "class": np.array([2, 0, 1, 2]),
        "real": t64(4, 3, seed=1, grad=False),
        "prob": minidl.tensor(np.random.default_rng(2).random((4, 3))),
    }[kind]
    np.testing.assert_array_equal(module(z, target).numpy(), functional(z, target).numpy())
    assert minidl.gradcheck(lambda z: module(z, target), [z])


def test_loss_module_reprs_and_checks():
    assert repr(nn.MSELoss()) == "MSELoss(reduction='mean')"
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")


@pytest.mark.gpu
def test_gpu_dropout_masks_follow_manual_seed():
    if not minidl.backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    minidl.backend.use("cupy")
    try:
        x = minidl.ones(64, 64, device="gpu")
        masks = []
        for _ in range(2):
            minidl.manual_seed(3)
            masks.append(nn.Dropout(0.5)(x).numpy())
        np.testing.assert_array_equal(masks[0], masks[1])
        assert set(np.unique(masks[0])) == {0.0, 2.0}
    finally:
        minidl.backend.use("numpy")
