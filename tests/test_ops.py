"""Every differentiable op: forward against NumPy, backward against finite differences."""

import warnings

import numpy as np
import pytest

import minidl
from minidl import gradcheck

rng = np.random.default_rng(0)


def leaf(*shape, low=None, high=None, away_from=None):
    """A float64 leaf that requires grad; uniform in [low, high) when given, else normal.
    ``away_from``: values keep a distance of at least 0.1 from these kinks."""
    data = rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)
    for kink in away_from or ():
        close = np.abs(data - kink) < 0.1
        data[close] += np.where(data[close] >= kink, 0.2, -0.2)
    return minidl.tensor(data, requires_grad=True)


def assert_close(tensor, expected, rtol=1e-7, atol=1e-10):
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=rtol, atol=atol)


# ---- arithmetic with broadcasting -----------------------------------------------------
BROADCAST_PAIRS = [
    ((2, 3), (2, 3)),
    ((3, 1, 4), (4,)),
    ((2, 3), (1, 3)),
    ((4,), (3, 1)),
    ((2, 1, 3), (1, 4, 1)),
    ((), (2, 3)),
    ((2, 3), ()),
]
BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "maximum": (minidl.maximum, np.maximum),
    "minimum": (minidl.minimum, np.minimum),
}


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary_broadcasting(name, shapes):
    fn, reference = BINARY[name]
    a = leaf(*shapes[0])
    b = leaf(*shapes[1], low=0.5, high=2.0) if name == "div" else leaf(*shapes[1])
    out = fn(a, b)
    assert out.shape == np.broadcast_shapes(*shapes)
    assert_close(out, reference(a.numpy(), b.numpy()))
    assert gradcheck(fn, [a, b])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("scalar", [2.5, -3, 0.5])
def test_binary_with_python_scalar_on_either_side(name, scalar):
    fn, reference = BINARY[name]
    a = leaf(2, 3, low=0.5, high=2.0)
    assert_close(fn(a, scalar), reference(a.numpy(), scalar))
    assert_close(fn(scalar, a), reference(scalar, a.numpy()))
    assert gradcheck(lambda t: fn(t, scalar), a)
    assert gradcheck(lambda t: fn(scalar, t), a)


def test_binary_with_numpy_array_constant():
    a, c = leaf(2, 3), rng.standard_normal(3)
    assert_close(a * c, a.numpy() * c)
    assert_close(c - a, c - a.numpy())
    assert gradcheck(lambda t: c * t - t / (c * c + 1), a)


def test_neg():
    a = leaf(3, 2)
    assert_close(-a, -a.numpy())
    assert gradcheck(lambda t: -t, a)


@pytest.mark.parametrize("p", [2, 3, 0.5, -1, -1.5, 1, 0])
def test_pow_scalar_exponent(p):
    a = leaf(2, 3, low=0.5, high=2.0)
    assert_close(a**p, a.numpy() ** p)
    assert_close(minidl.pow(a, p), a.numpy() ** p)
    assert gradcheck(lambda t: t**p, a)


def test_pow_zero_exponent_at_zero_has_zero_gradient():
    a = minidl.tensor([0.0, 2.0], requires_grad=True)
    (a**0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])


# ---- matmul ------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((5, 2, 3), (3, 4)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((2, 1, 2, 3), (4, 3, 2)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    a, b = leaf(*shapes[0]), leaf(*shapes[1])
    expected = np.matmul(a.numpy(), b.numpy())
    assert_close(a @ b, expected)
    assert_close(minidl.matmul(a, b), expected)
    assert_close(a.matmul(b), expected)
    assert gradcheck(lambda x, y: x @ y, [a, b])


def test_matmul_with_constant_operands():
    a, m = leaf(2, 3), rng.standard_normal((3, 4))
    assert_close(a @ m, a.numpy() @ m)
    assert_close(m.T @ a.T, m.T @ a.numpy().T)  # ndarray @ Tensor
    assert gradcheck(lambda t: t @ m, a)


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError) as info:
        minidl.ones(2, 3) @ minidl.ones(4, 5)
    assert "(2, 3)" in str(info.value) and "(4, 5)" in str(info.value)


# ---- elementwise math ----------------------------------------------------------------
UNARY = [
    ("exp", minidl.exp, np.exp, {}),
    ("log", minidl.log, np.log, {"low": 0.2, "high": 3.0}),
    ("sqrt", minidl.sqrt, np.sqrt, {"low": 0.2, "high": 3.0}),
    ("abs", minidl.abs, np.abs, {"away_from": [0.0]}),
    ("tanh", minidl.tanh, np.tanh, {}),
    ("sigmoid", minidl.sigmoid, lambda x: 1 / (1 + np.exp(-x)), {}),
    ("relu", minidl.relu, lambda x: np.maximum(x, 0), {"away_from": [0.0]}),
]


@pytest.mark.parametrize("name, fn, reference, kwargs", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fn, reference, kwargs):
    a = leaf(3, 4, **kwargs)
    assert_close(fn(a), reference(a.numpy()))
    assert_close(getattr(a, name)(), reference(a.numpy()))
    assert gradcheck(fn, a)


def test_unary_float32_stays_float32():
    a = minidl.tensor([0.5, 1.5])
    for name, fn, _, _ in UNARY:
        assert fn(a).dtype == np.float32, name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_extremes_without_warnings(dtype):
    x = minidl.tensor([-100.0, -20.0, 0.0, 20.0, 100.0], dtype=dtype, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = minidl.sigmoid(x)
        y.sum().backward()
    expected = 1 / (1 + np.exp(-x.numpy().astype(np.float64)))
    # relative precision is kept even for tiny outputs (-20 gives 2e-9, not 0)
    np.testing.assert_allclose(y.numpy()[1:], expected[1:], rtol=1e-6)
    assert 0 <= y.numpy()[0] < 1e-40
    # d sigmoid = out * (1 - out), as in PyTorch: absolute precision for large |x|
    np.testing.assert_allclose(x.grad.numpy(), expected * (1 - expected), rtol=1e-5, atol=1e-7)


def test_abs_and_relu_gradient_at_zero_is_zero():
    x = minidl.tensor([0.0, -2.0, 3.0], requires_grad=True)
    (minidl.abs(x) + minidl.relu(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, -1.0, 2.0])


@pytest.mark.parametrize("low, high", [(-0.5, 0.5), (-0.5, None), (None, 0.5)])
def test_clamp_and_clip(low, high):
    a = leaf(4, 5, away_from=[-0.5, 0.5])
    expected = np.clip(a.numpy(), -np.inf if low is None else low, np.inf if high is None else high)
    assert_close(minidl.clamp(a, low, high), expected)
    assert_close(minidl.clip(a, low, high), expected)
    assert_close(a.clamp(low, high), expected)
    assert_close(a.clip(low, high), expected)
    assert gradcheck(lambda t: minidl.clamp(t, low, high), a)


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="min"):
        minidl.clamp(minidl.ones(2))


def test_maximum_minimum_ties_and_scalars():
    a = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = minidl.tensor([2.0, 2.0, 1.0], requires_grad=True)
    (minidl.maximum(a, b) + 10 * minidl.minimum(a, b)).sum().backward()
    # at a tie (index 1) the gradient is split equally, as PyTorch does: 1/2 + 10/2 each
    np.testing.assert_array_equal(a.grad.numpy(), [10.0, 5.5, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 5.5, 10.0])
    c = leaf(2, 3, away_from=[0.0])
    assert_close(minidl.maximum(c, 0.0), np.maximum(c.numpy(), 0.0))
    assert_close(minidl.minimum(0.0, c), np.minimum(0.0, c.numpy()))
    assert gradcheck(lambda t: minidl.maximum(0.0, t) + minidl.minimum(t, 0.0) * 3, c)


# ---- reductions ------------------------------------------------------------------------
REDUCE_ARGS = [
    {},
    {"dim": 0},
    {"dim": 1},
    {"dim": -1},
    {"dim": (0, 2)},
    {"dim": 1, "keepdim": True},
    {"dim": None, "keepdim": True},
    {"axis": 2},
    {"axis": (0, 1), "keepdims": True},
]


@pytest.mark.parametrize("kwargs", REDUCE_ARGS, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean(name, kwargs):
    a = leaf(2, 3, 4)
    axis = kwargs.get("dim", kwargs.get("axis"))
    keepdims = kwargs.get("keepdim", kwargs.get("keepdims", False))
    expected = getattr(np, name)(a.numpy(), axis=axis, keepdims=keepdims)
    assert_close(getattr(minidl, name)(a, **kwargs), expected)
    out = getattr(a, name)(**kwargs)
    assert out.shape == np.shape(expected)
    assert_close(out, expected)
    assert gradcheck(lambda t: getattr(t, name)(**kwargs), a)


def test_reduction_rejects_bad_dims():
    a = minidl.ones(2, 3)
    with pytest.raises(IndexError, match="out of range"):
        a.sum(2)
    with pytest.raises(IndexError, match="out of range"):
        a.mean(dim=-3)
    with pytest.raises(TypeError, match="unexpected"):
        a.sum(axes=0)


def test_reductions_of_0d_tensor():
    a = minidl.tensor(3.0, requires_grad=True)
    assert a.sum(0).item() == 3.0 and a.mean(-1).item() == 3.0
    a.sum(dim=0).backward()
    assert a.grad.item() == 1.0


def test_max_overall_and_along_dim():
    x = leaf(3, 4)
    assert_close(x.max(), x.numpy().max())
    values, indices = x.max(dim=1)
    assert_close(values, x.numpy().max(axis=1))
    np.testing.assert_array_equal(indices.numpy(), x.numpy().argmax(axis=1))
    assert not indices.requires_grad and indices.dtype == np.int64
    result = minidl.max(x, axis=0, keepdims=True)
    assert result.values.shape == (1, 4) and result.indices.shape == (1, 4)
    values, indices = x.min(1)
    assert_close(values, x.numpy().min(axis=1))
    np.testing.assert_array_equal(indices.numpy(), x.numpy().argmin(axis=1))
    assert_close(minidl.amax(x, (0, 1)), x.numpy().max())
    assert_close(x.amin(-1, keepdim=True), x.numpy().min(axis=-1, keepdims=True))
    np.testing.assert_array_equal(minidl.argmax(x).numpy(), x.numpy().argmax())
    assert gradcheck(lambda t: t.max(), x)
    assert gradcheck(lambda t: t.max(dim=1).values, x)
    assert gradcheck(lambda t: minidl.max(t, 0, keepdim=True).values, x)
    assert gradcheck(lambda t: t.min(dim=-1)[0], x)
    assert gradcheck(lambda t: minidl.amin(t, (0, 1)), x)


def test_max_ties_share_the_gradient():
    x = minidl.tensor([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 0.0]], requires_grad=True)
    minidl.amax(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0, 0], [1 / 3, 1 / 3, 1 / 3, 0]])
    x.grad = None
    x.max(dim=1).values.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3, 0]])
    assert x.grad.dtype == np.float32


# ---- shape ops -----------------------------------------------------------------------
def test_reshape_variants():
    a = leaf(2, 3, 4)
    for shape in [(6, 4), (-1,), (4, -1, 2)]:
        assert_close(a.reshape(shape), a.numpy().reshape(shape))
        assert_close(a.reshape(*shape), a.numpy().reshape(shape))
        assert gradcheck(lambda t: t.reshape(shape) * np.arange(24).reshape(shape), a)  # noqa: B023
    assert a.view(24).shape == (24,)
    with pytest.raises(ValueError, match="reshape"):
        a.reshape(5, 5)


def test_transpose_permute_T():
    a = leaf(2, 3, 4)
    assert_close(a.transpose(0, 2), np.swapaxes(a.numpy(), 0, 2))
    assert_close(minidl.transpose(a, -1, 1), np.swapaxes(a.numpy(), -1, 1))
    assert_close(a.permute(2, 0, 1), a.numpy().transpose(2, 0, 1))
    assert_close(minidl.permute(a, (1, 2, 0)), a.numpy().transpose(1, 2, 0))
    assert_close(a.T, a.numpy().T)
    weights = rng.standard_normal((4, 2, 3))
    assert gradcheck(lambda t: t.permute(2, 0, 1) * weights, a)
    assert gradcheck(lambda t: t.T * weights.transpose(0, 2, 1), a)
    assert gradcheck(lambda t: t.transpose(0, 1) * weights.transpose(2, 1, 0), a)
    with pytest.raises(ValueError, match="permutation"):
        a.permute(0, 0, 1)


def test_flatten_unsqueeze_squeeze():
    a = leaf(2, 3, 4)
    assert a.flatten().shape == (24,)
    assert a.flatten(1).shape == (2, 12)
    assert minidl.flatten(a, 0, 1).shape == (6, 4)
    assert_close(a.flatten(1), a.numpy().reshape(2, 12))
    assert a.unsqueeze(0).shape == (1, 2, 3, 4) and a.unsqueeze(-1).shape == (2, 3, 4, 1)
    b = leaf(1, 3, 1)
    assert b.squeeze().shape == (3,) and b.squeeze(0).shape == (3, 1)
    assert b.squeeze(1).shape == (1, 3, 1)
    assert gradcheck(lambda t: t.flatten(1) * np.arange(12), a)
    assert gradcheck(lambda t: t.squeeze(-1).unsqueeze(0) * np.arange(3), b)


# ---- indexing ------------------------------------------------------------------------
INDICES = [
    ("int", 1),
    ("negative int", -1),
    ("slice", slice(1, None)),
    ("step", slice(None, None, 2)),
    ("tuple", (1, slice(0, 2))),
    ("ellipsis", (Ellipsis, 0)),
    ("newaxis", (None, 1)),
    ("int array", np.array([0, 2, 0])),
    ("int list", [2, 2, 2, 0]),
    ("2d int array", np.array([[0, 1], [1, 1]])),
    ("mixed", (np.array([0, 1, 1]), 2)),
    ("bool mask", np.array([True, False, True])),
]


@pytest.mark.parametrize("name, index", INDICES, ids=[i[0] for i in INDICES])
def test_getitem(name, index):
    a = leaf(3, 4)
    expected = a.numpy()[index]
    assert_close(a[index], expected)
    weights = rng.standard_normal(np.shape(expected))
    assert gradcheck(lambda t: t[index] * weights, a)


def test_getitem_repeated_indices_accumulate():
    a = minidl.tensor([10.0, 20.0, 30.0], requires_grad=True)
    a[[0, 2, 2, 2, 0]].sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 0.0, 3.0])
    b = minidl.tensor(np.ones((2, 3)), requires_grad=True)
    rows, cols = minidl.tensor([1, 1, 0]), minidl.tensor([2, 2, 2])
    (b[rows, cols] * minidl.tensor([1.0, 2.0, 4.0], dtype="float64")).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [[0, 0, 4], [0, 0, 3]])


def test_getitem_with_tensor_mask():
    a = leaf(3, 4)
    mask = a > 0
    assert mask.dtype == np.bool_
    assert_close(a[mask], a.numpy()[a.numpy() > 0])
    a[mask].sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), (a.numpy() > 0).astype(float))


# ---- joining -------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_concatenate(dim):
    shapes = {0: [(1, 3), (2, 3), (3, 3)], 1: [(2, 1), (2, 4), (2, 2)], -1: [(2, 2), (2, 3)]}[dim]
    parts = [leaf(*s) for s in shapes]
    expected = np.concatenate([p.numpy() for p in parts], axis=dim)
    assert_close(minidl.concatenate(parts, dim), expected)
    assert_close(minidl.cat(parts, dim=dim), expected)
    weights = rng.standard_normal(expected.shape)
    assert gradcheck(lambda *ts: minidl.cat(ts, dim) * weights, parts)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim):
    parts = [leaf(2, 3) for _ in range(3)]
    expected = np.stack([p.numpy() for p in parts], axis=dim)
    out = minidl.stack(parts, dim)
    assert out.shape == expected.shape
    assert_close(out, expected)
    weights = rng.standard_normal(expected.shape)
    assert gradcheck(lambda *ts: minidl.stack(ts, dim=dim) * weights, parts)


def test_concatenate_with_constant_part_and_empty_list():
    a = leaf(2)
    out = minidl.cat([a, minidl.tensor([5.0], dtype="float64")])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])
    with pytest.raises(ValueError):
        minidl.cat([])
    with pytest.raises(ValueError):
        minidl.stack([])


# ---- softmax -------------------------------------------------------------------------
def _np_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_log_softmax_and_softmax(dim):
    a = leaf(3, 4, 2)
    expected = _np_log_softmax(a.numpy(), dim)
    assert_close(minidl.log_softmax(a, dim), expected)
    assert_close(a.softmax(dim), np.exp(expected))
    np.testing.assert_allclose(a.softmax(dim).numpy().sum(axis=dim), 1.0)
    weights = rng.standard_normal(a.shape)
    assert gradcheck(lambda t: t.log_softmax(dim) * weights, a)
    assert gradcheck(lambda t: minidl.softmax(t, dim) * weights, a)


def test_softmax_of_large_logits_is_finite():
    x = minidl.tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    np.testing.assert_allclose(minidl.log_softmax(x, dim=1).numpy(), [[0.0, -1000.0, -2000.0]])
    np.testing.assert_allclose(minidl.softmax(x, dim=1).numpy(), [[1.0, 0.0, 0.0]])
    minidl.log_softmax(x, dim=1)[0, 1].backward()
    np.testing.assert_allclose(x.grad.numpy(), [[-1.0, 1.0, 0.0]])


# ---- comparisons ---------------------------------------------------------------------
def test_comparisons_are_not_differentiable():
    a, b = leaf(2, 3), leaf(2, 3)
    for op in ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"]:
        for other in (b, 0.0):
            out = getattr(a, op)(other)
            other_np = other.numpy() if isinstance(other, minidl.Tensor) else other
            np.testing.assert_array_equal(out.numpy(), getattr(a.numpy(), op)(other_np))
            assert out.dtype == np.bool_ and not out.requires_grad and out.grad_fn is None


def test_chain_of_mixed_ops_matches_finite_differences():
    x, w = leaf(4, 3), leaf(3, 2)

    def mlp(x, w):
        h = (x @ w).tanh() * 2 - 1
        return (h.sigmoid() + h.relu() ** 2).log_softmax(-1).mean(0).sum() + x.abs().max()

    assert gradcheck(mlp, [x, w])
