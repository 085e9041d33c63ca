"""Activations (minidl.nn.functional and their Modules): values against the formulas
written out here in NumPy, gradients and second derivatives against finite differences
in float64, PyTorch's choices at the kinks, Module arguments and reprs."""

import math

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl import gradcheck, gradgradcheck

rng = np.random.default_rng(3)


def sig(x):
    return 1 / (1 + np.exp(-x))


def softplus_ref(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


_erf = np.vectorize(math.erf)
ALPHA, SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# name, function, reference, kink points the random inputs keep away from
CASES = [
    ("silu", F.silu, lambda x: x * sig(x), []),
    ("elu", F.elu, lambda x: np.where(x > 0, x, np.expm1(x)), [0]),
    (
        "elu_alpha",
        lambda x: F.elu(x, alpha=0.5),
        lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)),
        [0],
    ),
    ("selu", F.selu, lambda x: SCALE * np.where(x > 0, x, ALPHA * np.expm1(x)), [0]),
    (
        "celu",
        lambda x: F.celu(x, 2.0),
        lambda x: np.maximum(x, 0) + np.minimum(0, 2.0 * np.expm1(x / 2.0)),
        [0],
    ),
    ("softplus", F.softplus, softplus_ref, []),
    (
        "softplus_beta",
        lambda x: F.softplus(x, beta=2.0, threshold=3.0),
        lambda x: softplus_ref(x, 2.0, 3.0),
        [1.5],
    ),
    ("softsign", F.softsign, lambda x: x / (1 + np.abs(x)), [0]),
    ("hardtanh", F.hardtanh, lambda x: np.clip(x, -1, 1), [-1, 1]),
    (
        "hardtanh_range",
        lambda x: F.hardtanh(x, -0.5, 2.0),
        lambda x: np.clip(x, -0.5, 2.0),
        [-0.5, 2.0],
    ),
    ("relu6", lambda x: F.relu6(x * 4), lambda x: np.clip(x * 4, 0, 6), [0, 1.5]),
    (
        "hardsigmoid",
        lambda x: F.hardsigmoid(x * 2),
        lambda x: np.clip(x * 2 / 6 + 0.5, 0, 1),
        [-1.5, 1.5],
    ),
    (
        "hardswish",
        lambda x: F.hardswish(x * 2),
        lambda x: x * 2 * np.clip(x * 2 / 6 + 0.5, 0, 1),
        [-1.5, 1.5],
    ),
    ("mish", F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), []),
    ("logsigmoid", F.logsigmoid, lambda x: np.log(sig(x)), []),
    ("gelu", F.gelu, lambda x: x * 0.5 * (1 + _erf(x / math.sqrt(2))), []),
    (
        "gelu_tanh",
        lambda x: F.gelu(x, "tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        [],
    ),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x), [0]),
    ("threshold", lambda x: F.threshold(x, 0.5, -2.0), lambda x: np.where(x > 0.5, x, -2.0), [0.5]),
    ("glu", F.glu, lambda x: x[..., :2] * sig(x[..., 2:]), []),
    ("glu_dim0", lambda x: F.glu(x, 0), lambda x: x[:1] * sig(x[1:]), []),
]


def away_from(kinks, shape=(2, 4), low=-3.0, high=3.0):
    x = rng.uniform(low, high, shape)
    for k in kinks:
        x = np.where(np.abs(x - k) < 0.1, k + 0.3, x)
    return x


@pytest.mark.parametrize("name, fn, reference, kinks", CASES, ids=[c[0] for c in CASES])
def test_values_gradients_and_second_derivatives(name, fn, reference, kinks):
    x = minidl.tensor(away_from(kinks), requires_grad=True)
    np.testing.assert_allclose(fn(x).numpy(), reference(x.numpy()), rtol=1e-12, atol=1e-14)
    assert gradcheck(fn, [x])
    assert gradgradcheck(fn, [x])


@pytest.mark.parametrize("name, fn, reference, kinks", CASES, ids=[c[0] for c in CASES])
def test_float32_values(name, fn, reference, kinks):
    x = away_from(kinks).astype(np.float32)
    y = fn(minidl.tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), reference(x.astype(np.float64)), rtol=2e-6, atol=1e-6)


def test_extreme_inputs_stay_finite():
    x = minidl.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    for fn in (F.silu, F.elu, F.selu, F.celu, F.softplus, F.mish, F.logsigmoid, F.softsign, F.gelu):
        y = fn(x)
        assert np.isfinite(y.numpy()).all(), fn.__name__
        x.grad = None
        y.sum().backward()
        assert np.isfinite(x.grad.numpy()).all(), fn.__name__
    np.testing.assert_allclose(F.logsigmoid(x).numpy()[:2], [-1000.0, -50.0])
    np.testing.assert_allclose(F.softplus(x).numpy()[3:], [50.0, 1000.0])


def test_gradients_at_the_kinks_follow_pytorch():
    def grad_at(fn, values):
        x = minidl.tensor(values, requires_grad=True)
        fn(x).sum().backward()
        return x.grad.tolist()

    assert grad_at(F.hardtanh, [-1.0, 1.0, 0.0]) == [0.0, 0.0, 1.0]  # strict inside
    assert grad_at(F.relu6, [0.0, 6.0, 3.0]) == [0.0, 0.0, 1.0]
    assert grad_at(F.hardsigmoid, [-3.0, 3.0]) == [0.0, 0.0]
    np.testing.assert_allclose(
        grad_at(F.hardswish, [-3.0, 3.0, -4.0, 4.0, 0.0]), [0.0, 1.0, 0.0, 1.0, 0.5]
    )
    assert grad_at(F.elu, [0.0]) == [1.0]  # alpha exp(0) from the left
    assert grad_at(lambda x: F.threshold(x, 1.0, 5.0), [1.0, 2.0]) == [0.0, 1.0]
    assert grad_at(lambda x: F.leaky_relu(x, 0.2), [0.0]) == pytest.approx([0.2])


# ---- PReLU ------------------------------------------------------------------------------
def test_prelu_per_channel_weight_and_gradients():
    x = minidl.tensor(away_from([0], (2, 3, 4)), requires_grad=True)
    w = minidl.tensor([0.1, 0.2, 0.3], requires_grad=True)
    ref = np.where(x.numpy() > 0, x.numpy(), np.array([0.1, 0.2, 0.3])[:, None] * x.numpy())
    np.testing.assert_allclose(F.prelu(x, w).numpy(), ref)
    assert gradcheck(F.prelu, [x, w]) and gradgradcheck(F.prelu, [x, w])
    shared = minidl.tensor([0.25], requires_grad=True)
    assert gradcheck(F.prelu, [x, shared])


def test_prelu_module_learns_its_weight():
    m = nn.PReLU(num_parameters=3)
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert m.weight.shape == (3,) and (m.weight.numpy() == 0.25).all()
    assert repr(m) == "PReLU(num_parameters=3)"
    x = minidl.tensor([[-1.0, 2.0, -3.0]])
    y = m(x)
    np.testing.assert_allclose(y.numpy(), [[-0.25, 2.0, -0.75]])
    y.sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), [-1.0, 0.0, -3.0])
    assert nn.PReLU(init=0.1).weight.tolist() == pytest.approx([0.1])
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(0)


def test_prelu_channel_mismatch():
    with pytest.raises(RuntimeError, match="parameter numbers = 3 and channel size = 4"):
        F.prelu(minidl.ones(2, 4), minidl.ones(3))
    with pytest.raises(RuntimeError, match="0-d or 1-d"):
        F.prelu(minidl.ones(2, 4), minidl.ones(2, 2))


# ---- bad arguments ----------------------------------------------------------------------
def test_bad_arguments():
    with pytest.raises(RuntimeError, match="Halving dimension must be even.*size 3"):
        F.glu(minidl.ones(2, 3))
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.glu(minidl.ones(2, 4), dim=2)
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(minidl.ones(2), 1.0, -1.0)
    with pytest.raises(ValueError, match="alpha"):
        F.celu(minidl.ones(2), 0.0)
    with pytest.raises(ValueError, match="beta"):
        F.softplus(minidl.ones(2), beta=0)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(minidl.ones(2), "fast")
    with pytest.raises(TypeError, match="unexpected arguments \\['slope'\\]"):
        nn.LeakyReLU(slope=0.1)
    with pytest.raises(TypeError, match="at most 2 positional"):
        nn.ELU(1.0, False, 3)


def test_integer_inputs():
    assert F.silu(minidl.tensor([1, 2])).dtype == np.float32
    assert F.hardtanh(minidl.tensor([-3, 0, 3])).tolist() == [-1, 0, 1]  # kept integer
    assert F.relu(minidl.tensor([-1, 2])).dtype == np.int64


# ---- Modules ------------------------------------------------------------------------------
MODULES = [
    (nn.ReLU(), F.relu),
    (nn.ReLU6(), F.relu6),
    (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)),
    (nn.ELU(alpha=0.5), lambda x: F.elu(x, 0.5)),
    (nn.SELU(), F.selu),
    (nn.CELU(2.0), lambda x: F.celu(x, 2.0)),
    (nn.GELU("tanh"), lambda x: F.gelu(x, "tanh")),
    (nn.SiLU(), F.silu),
    (nn.Mish(), F.mish),
    (nn.Softplus(2.0, 5.0), lambda x: F.softplus(x, 2.0, 5.0)),
    (nn.Softsign(), F.softsign),
    (nn.Sigmoid(), F.sigmoid),
    (nn.Tanh(), F.tanh),
    (nn.Hardtanh(-2.0, 2.0), lambda x: F.hardtanh(x, -2.0, 2.0)),
    (nn.Hardsigmoid(), F.hardsigmoid),
    (nn.Hardswish(), F.hardswish),
    (nn.LogSigmoid(), F.logsigmoid),
    (nn.GLU(0), lambda x: F.glu(x, 0)),
    (nn.Threshold(0.1, 20.0), lambda x: F.threshold(x, 0.1, 20.0)),
    (nn.Softmax(dim=0), lambda x: F.softmax(x, 0)),
    (nn.LogSoftmax(1), lambda x: F.log_softmax(x, 1)),
]


@pytest.mark.parametrize("module, function", MODULES, ids=[type(m).__name__ for m, _ in MODULES])
def test_modules_apply_their_function(module, function):
    x = minidl.tensor(rng.uniform(-4, 4, (4, 6)))
    np.testing.assert_array_equal(module(x).numpy(), function(x).numpy())
    assert not list(module.parameters())


def test_module_reprs_and_settings():
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.Hardtanh(-2.0, 2.0)) == "Hardtanh(min_val=-2.0, max_val=2.0)"
    m = nn.LeakyReLU(0.5)
    m.negative_slope = 0.25  # attributes are read at each call, as in PyTorch
    assert m(minidl.tensor([-4.0])).item() == -1.0


@pytest.mark.gpu
@pytest.mark.parametrize("name, fn, reference, kinks", CASES, ids=[c[0] for c in CASES])
def test_gpu_matches_the_cpu(name, fn, reference, kinks):
    from minidl import backend

    if not backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    host = away_from(kinks)
    cpu = minidl.tensor(host, requires_grad=True)
    gpu = minidl.tensor(backend.to_device(host, "gpu"), requires_grad=True)
    out_cpu, out_gpu = fn(cpu), fn(gpu)
    assert out_gpu.device == "gpu"
    np.testing.assert_allclose(out_gpu.numpy(), out_cpu.numpy(), rtol=1e-12, atol=1e-14)
    out_cpu.sum().backward()
    out_gpu.sum().backward()
    np.testing.assert_allclose(gpu.grad.numpy(), cpu.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.gpu
def test_prelu_module_on_the_gpu():
    from minidl import backend

    if not backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    m = nn.PReLU(2, device="gpu")
    y = m(minidl.tensor(backend.to_device(np.array([[-1.0, 2.0]], np.float32), "gpu")))
    y.sum().backward()
    assert m.weight.device == "gpu" and m.weight.grad.tolist() == [-1.0, 0.0]


@pytest.mark.parametrize(
    "fn",
    [
        F.relu,
        F.relu6,
        F.elu,
        F.selu,
        F.celu,
        F.silu,
        F.mish,
        F.hardtanh,
        F.hardsigmoid,
        F.hardswish,
        F.leaky_relu,
        lambda x, inplace: F.threshold(x, 0.5, 9.0, inplace=inplace),
    ],
)
def test_inplace_writes_into_the_input(fn):
    values = np.array([-1.5, -0.25, 0.75, 2.0])
    x = minidl.tensor(values)
    expected = fn(minidl.tensor(values), inplace=False).numpy()
    memory = x.data
    assert fn(x, inplace=True) is x
    assert x.data is memory and x._version == 1
    np.testing.assert_array_equal(x.numpy(), expected)


def test_inplace_follows_pytorchs_rules():
    leaf = minidl.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        F.relu(leaf, inplace=True)
    with pytest.raises(RuntimeError, match="can't be cast"):
        F.silu(minidl.tensor([1, 2]), inplace=True)
    y = leaf * 2  # a non-leaf: rebased, gradients still right
    nn.ReLU(inplace=True)(y)
    y.sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), [0.0, 2.0])
