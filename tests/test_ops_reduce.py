"""Reductions, scans, sorting and einsum: values worked out by hand (or by an independent
NumPy formula), gradients against finite differences to second order in float64, and
properties (a cumsum ends in the sum, a sort is a permutation)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import minidl
from minidl import gradcheck, gradgradcheck

rng = np.random.default_rng(0)


def leaf(*shape, data=None):
    data = rng.standard_normal(shape) if data is None else np.asarray(data, dtype=float)
    return minidl.tensor(data, requires_grad=True)


def grad_of(fn, data, weights=None):
    x = leaf(data=data)
    out = fn(x)
    (out if weights is None else out * minidl.tensor(weights)).sum().backward()
    return x.grad.numpy()


# ---- var, std, prod, logsumexp, norms -----------------------------------------------
def test_var_and_std_with_correction():
    x = minidl.tensor([[1.0, 2.0, 3.0, 6.0], [2.0, 2.0, 2.0, 2.0]])
    # row 0: mean 3, squared deviations 4 + 1 + 0 + 9 = 14
    np.testing.assert_allclose(x.var(1).numpy(), [14 / 3, 0])
    np.testing.assert_allclose(x.var(1, unbiased=False).numpy(), [14 / 4, 0])
    np.testing.assert_allclose(minidl.var(x, 1, correction=2).numpy(), [14 / 2, 0])
    np.testing.assert_allclose(x.std(1, keepdim=True).numpy(), [[math.sqrt(14 / 3)], [0]])
    variance, mean = minidl.var_mean(x, 1)
    np.testing.assert_allclose(variance.numpy(), [14 / 3, 0])
    np.testing.assert_allclose(mean.numpy(), [3, 2])
    std, mean = minidl.std_mean(x, (0, 1), correction=0)
    data = x.numpy()
    np.testing.assert_allclose(std.item(), data.std())
    np.testing.assert_allclose(minidl.var(x, False).item(), data.var())  # legacy `unbiased`
    assert math.isnan(minidl.tensor([1.0]).var().item())  # 0 / 0, as PyTorch
    assert math.isinf(minidl.tensor([1.0, 2.0]).var(correction=2).item())
    with pytest.raises(RuntimeError, match="floating point"):
        minidl.tensor([1, 2]).var()


def test_prod_gradient_is_exact_with_zeros():
    np.testing.assert_allclose(grad_of(lambda t: t.prod(), [2.0, 3.0, 4.0]), [12, 8, 6])
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(), [2.0, 0.0, 3.0]), [0, 6, 0])
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(), [0.0, 0.0, 3.0]), [0, 0, 0])
    np.testing.assert_array_equal(
        grad_of(lambda t: t.prod(1), [[2.0, 0.0, 5.0], [1.0, 2.0, 3.0]]), [[0, 10, 0], [6, 3, 2]]
    )
    assert minidl.tensor([[1, 2], [3, 4]]).prod(0).dtype == np.int64
    np.testing.assert_array_equal(minidl.tensor([[1, 2], [3, 4]]).prod(0).numpy(), [3, 8])


def test_logsumexp_is_stable():
    x = minidl.tensor([[1000.0, 1000.0], [-1000.0, -1000.0]], dtype="float64")
    np.testing.assert_allclose(x.logsumexp(1).numpy(), [1000 + math.log(2), -1000 + math.log(2)])
    np.testing.assert_allclose(x.logsumexp((0, 1)).item(), 1000 + math.log(2))
    np.testing.assert_allclose(grad_of(lambda t: t.logsumexp(0), [1000.0, 1000.0]), [0.5, 0.5])
    ninf = minidl.tensor([-math.inf, -math.inf])
    assert ninf.logsumexp(0).item() == -math.inf


def test_norms():
    x = minidl.tensor([3.0, -4.0])
    assert x.norm().item() == 5
    assert x.norm(1).item() == 7
    assert x.norm(float("inf")).item() == 4
    assert x.norm(-float("inf")).item() == 3
    assert x.norm(0).item() == 2
    np.testing.assert_allclose(x.norm(3).item(), (27 + 64) ** (1 / 3))
    np.testing.assert_allclose(grad_of(lambda t: t.norm(), [3.0, -4.0]), [0.6, -0.8])
    np.testing.assert_array_equal(grad_of(lambda t: t.norm(), [0.0, 0.0]), [0, 0])  # as torch
    np.testing.assert_array_equal(
        grad_of(lambda t: t.norm(float("inf")), [-3.0, 3.0, 1.0]), [-0.5, 0.5, 0]
    )  # the max shared by the ties
    m = minidl.tensor([[3.0, 4.0], [6.0, 8.0]])
    np.testing.assert_allclose(m.norm(dim=1).numpy(), [5, 10])
    np.testing.assert_allclose(m.norm("fro").item(), math.sqrt(125))
    with pytest.raises(ValueError, match="nuc"):
        m.norm("nuc")


def test_any_all_count_nonzero():
    x = minidl.tensor([[0, 1, 2], [0, 0, 3]])
    np.testing.assert_array_equal(x.any(1).numpy(), [True, True])
    np.testing.assert_array_equal(x.all(0).numpy(), [False, False, True])
    assert x.any().item() and not x.all().item()
    assert x.all(1, keepdim=True).shape == (2, 1)
    np.testing.assert_array_equal(minidl.count_nonzero(x, 0).numpy(), [0, 1, 2])


# ---- scans ----------------------------------------------------------------------------
def test_scan_values():
    x = minidl.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(x.cumsum(1).numpy(), [[1, 3, 6], [4, 9, 15]])
    np.testing.assert_array_equal(x.cumprod(0).numpy(), [[1, 2, 3], [4, 10, 18]])
    assert minidl.tensor([True, True]).cumsum(0).dtype == np.int64
    values, indices = minidl.tensor([1.0, 3.0, 3.0, 2.0, 3.0]).cummax(0)
    np.testing.assert_array_equal(values.numpy(), [1, 3, 3, 3, 3])
    np.testing.assert_array_equal(indices.numpy(), [0, 1, 2, 2, 4])  # ties: the latest
    values, indices = minidl.tensor([2.0, 1.0, 1.0, 3.0, 1.0]).cummin(0)
    np.testing.assert_array_equal(values.numpy(), [2, 1, 1, 1, 1])
    np.testing.assert_array_equal(indices.numpy(), [0, 1, 2, 2, 4])
    lcse = minidl.tensor([0.0, 0.0, math.log(2)], dtype="float64").logcumsumexp(0)
    np.testing.assert_allclose(lcse.numpy(), [0, math.log(2), math.log(4)])
    far = minidl.tensor([-1000.0, 0.0, -1000.0], dtype="float64").logcumsumexp(0)
    np.testing.assert_allclose(far.numpy(), [-1000, 0, 0])  # no underflow to -inf


def test_cumprod_gradient_is_exact_with_zeros():
    # out = [x0, x0 x1, x0 x1 x2]: d/dx0 = 1 + x1 + x1 x2, d/dx1 = x0 + x0 x2, d/dx2 = x0 x1
    np.testing.assert_array_equal(grad_of(lambda t: t.cumprod(0), [2.0, 0.0, 3.0]), [1, 8, 0])
    np.testing.assert_array_equal(grad_of(lambda t: t.cumprod(0), [0.0, 5.0, 0.0]), [6, 0, 0])
    np.testing.assert_allclose(
        grad_of(lambda t: t.cumprod(0), [2.0, 4.0, 3.0]), [1 + 4 + 12, 2 + 6, 8]
    )


def test_cummax_gradient_goes_to_where_the_max_was():
    np.testing.assert_array_equal(
        grad_of(lambda t: t.cummax(0).values, [1.0, 3.0, 2.0, 5.0], [1, 10, 100, 1000]),
        [1, 110, 0, 1000],
    )


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-100, 100)
    )
)
def test_scan_properties(data):
    x = minidl.tensor(data)
    np.testing.assert_allclose(x.cumsum(1).numpy()[:, -1], data.sum(1), rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(x.cummax(1).values.numpy()[:, -1], data.max(1))
    np.testing.assert_array_equal(x.cummin(0).values.numpy()[-1], data.min(0))
    np.testing.assert_allclose(
        x.logcumsumexp(1).numpy()[:, -1], x.logsumexp(1).numpy(), rtol=1e-10, atol=1e-12
    )


# ---- sort, argsort, topk --------------------------------------------------------------
def test_sort_and_topk_values():
    x = minidl.tensor([[3.0, 1.0, 2.0], [1.0, 1.0, 0.0]])
    values, indices = x.sort(1)
    np.testing.assert_array_equal(values.numpy(), [[1, 2, 3], [0, 1, 1]])
    np.testing.assert_array_equal(indices.numpy(), [[1, 2, 0], [2, 0, 1]])
    _, indices = minidl.tensor([1, 2, 1, 2]).sort(descending=True, stable=True)
    np.testing.assert_array_equal(indices.numpy(), [1, 3, 0, 2])  # equal keys keep order
    np.testing.assert_array_equal(minidl.argsort(x, 0).numpy(), [[1, 0, 1], [0, 1, 0]])
    values, indices = x.topk(2)
    np.testing.assert_array_equal(values.numpy(), [[3, 2], [1, 1]])
    np.testing.assert_array_equal(indices.numpy(), [[0, 2], [0, 1]])
    values, indices = x.topk(1, dim=0, largest=False)
    np.testing.assert_array_equal(values.numpy(), [[1, 1, 0]])
    with pytest.raises(RuntimeError, match="out of range"):
        x.topk(4)


def test_topk_gradient_reaches_the_chosen_entries_only():
    np.testing.assert_array_equal(
        grad_of(lambda t: t.topk(2).values, [5.0, 1.0, 7.0, 3.0], [1, 10]), [10, 0, 1, 0]
    )


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-100, 100)
    ),
    st.booleans(),
)
def test_sort_is_an_ordered_permutation(data, descending):
    values, indices = minidl.tensor(data).sort(1, descending=descending)
    np.testing.assert_array_equal(
        np.sort(indices.numpy(), 1), np.broadcast_to(np.arange(data.shape[1]), data.shape)
    )
    np.testing.assert_array_equal(np.take_along_axis(data, indices.numpy(), 1), values.numpy())
    steps = np.diff(values.numpy(), axis=1)
    assert (steps <= 0).all() if descending else (steps >= 0).all()


# ---- einsum ---------------------------------------------------------------------------
EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("...ij,...jk", [(2, 3, 4), (4, 5)]),
    ("iij->j", [(3, 3, 2)]),
    ("ij,ij->i", [(3, 4), (3, 4)]),
    ("i,i", [(4,), (4,)]),
    ("...i,...i->...", [(2, 3, 4), (3, 4)]),
    ("ijk->kij", [(2, 3, 4)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("ij->j", [(3, 4)]),
]


@pytest.mark.parametrize("equation, shapes", EINSUM, ids=[e for e, _ in EINSUM])
def test_einsum_matches_numpy_and_differentiates_twice(equation, shapes):
    inputs = [leaf(*s) for s in shapes]
    expected = np.einsum(equation, *[x.numpy() for x in inputs])
    np.testing.assert_allclose(minidl.einsum(equation, *inputs).numpy(), expected, rtol=1e-12)
    assert gradcheck(lambda *xs: minidl.einsum(equation, *xs), inputs)
    assert gradgradcheck(lambda *xs: minidl.einsum(equation, *xs) ** 2, inputs)


def test_einsum_errors():
    with pytest.raises(ValueError, match="operands"):
        minidl.einsum("ij,jk->ik", minidl.zeros(2, 2))
    with pytest.raises(ValueError, match="number of subscripts"):
        minidl.einsum("ijk->i", minidl.zeros(2, 2))


# ---- gradients of every reduction to second order -----------------------------------
REDUCTIONS = {
    "var": (lambda t: t.var(1), (3, 4)),
    "var_all_correction0": (lambda t: minidl.var(t, correction=0), (3, 4)),
    "std_keepdim": (lambda t: t.std(0, keepdim=True), (3, 4)),
    "var_mean": (lambda t: sum(minidl.var_mean(t, (0, 2))), (2, 3, 4)),
    "std_mean": (lambda t: sum(minidl.std_mean(t, 1)), (3, 4)),
    "prod": (lambda t: t.prod(1), (3, 4)),
    "prod_all": (lambda t: t.prod(), (2, 3)),
    "prod_zeros": (lambda t: (t * minidl.tensor([[1.0, 0, 1], [0, 0, 1]])).prod(1), (2, 3)),
    "logsumexp": (lambda t: t.logsumexp((0, 2)), (2, 3, 4)),
    "norm2": (lambda t: t.norm(dim=1), (3, 4)),
    "norm3": (lambda t: t.norm(3, 0, keepdim=True), (3, 4)),
    "norm1": (lambda t: t.norm(1), (3, 4)),
    "norminf": (lambda t: t.norm(float("inf"), 1), (3, 4)),
    "cumsum": (lambda t: t.cumsum(1), (3, 4)),
    "cumprod": (lambda t: t.cumprod(0), (3, 4)),
    "cumprod_zeros": (lambda t: (t * minidl.tensor([1.0, 0, 1, 0])).cumprod(0), (4,)),
    "cummax": (lambda t: t.cummax(1).values, (3, 4)),
    "cummin": (lambda t: t.cummin(0).values, (3, 4)),
    "logcumsumexp": (lambda t: t.logcumsumexp(1), (3, 4)),
    "sort": (lambda t: t.sort(0, descending=True).values, (3, 4)),
    "topk": (lambda t: t.topk(2, 1).values, (3, 4)),
}


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_gradients_to_second_order(name):
    fn, shape = REDUCTIONS[name]
    assert gradcheck(fn, leaf(*shape))
    assert gradgradcheck(fn, leaf(*shape))


@pytest.mark.parametrize("op", [np.maximum, np.minimum, np.logaddexp, np.add])
@pytest.mark.parametrize("axis", [0, 1])
def test_the_doubling_scan_used_on_cupy_matches_numpy(op, axis):
    from minidl.ops.scan import _doubling_scan

    data = rng.standard_normal((5, 7))
    np.testing.assert_allclose(
        _doubling_scan(op, data, axis), op.accumulate(data, axis=axis), rtol=1e-12
    )


def test_long_products_with_a_zero_have_exact_gradients():
    data = np.ones(5000)
    data[[5, 7]] = [0.0, 2.0]
    expected = np.zeros(5000)
    expected[5] = 2.0  # the product of the others; every other entry's includes the zero
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(), data), expected)
    # cumprod: entries before the zero see prefixes only; the zero sees the prefix (1)
    # times the sum of the running products after it: 1 (i = 5) + 1 (i = 6) + 2 * 4993
    cum = grad_of(lambda t: t.cumprod(0), data)
    np.testing.assert_array_equal(cum[:5], 5.0 - np.arange(5))  # i = k .. 4, each 1
    assert cum[5] == 2 + 2 * (5000 - 7) and not cum[6:].any()


def test_fixed_rank_products():
    a = minidl.tensor(np.arange(6.0).reshape(2, 3))  # [[0, 1, 2], [3, 4, 5]]
    v = minidl.tensor([1.0, 0.0, 2.0])
    np.testing.assert_array_equal(a.mv(v).numpy(), [4, 13])
    np.testing.assert_array_equal(minidl.mm(a, a.T).numpy(), [[5, 14], [14, 50]])
    np.testing.assert_array_equal(minidl.bmm(a[None], a.T[None]).numpy(), [[[5, 14], [14, 50]]])
    assert v.dot(v).item() == 5
    np.testing.assert_array_equal(minidl.outer(v[:2], v).numpy(), [[1, 0, 2], [0, 0, 0]])
    assert a.trace().item() == 4  # 0 + 4: the main diagonal of a non-square matrix
    with pytest.raises(RuntimeError, match=r"shapes cannot be multiplied \(2x3 and 2x3\)"):
        minidl.mm(a, a)
    with pytest.raises(RuntimeError, match="1D tensors expected"):
        minidl.dot(a, v)
    with pytest.raises(RuntimeError, match="3D batches"):
        minidl.bmm(a, a)
    x, y = leaf(3, 4), leaf(4)
    assert gradgradcheck(lambda p, q: minidl.mv(p, q) * minidl.outer(q, q).trace(), [x, y])


def test_a_0d_tensor_refuses_a_repeated_dim():
    x = minidl.tensor(2.0)
    assert x.sum(dim=0).item() == x.sum(dim=(-1,)).item() == 2.0
    with pytest.raises(ValueError, match="repeats an axis"):
        x.sum(dim=(0, 0))  # torch: "dim 0 appears multiple times"
