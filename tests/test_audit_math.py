"""Where PyTorch raises, minidl raises (and where it returns, the same result): the
arithmetic, math, logical, reduction and scan ops on bad or edge inputs."""

import math

import numpy as np
import pytest

import minidl

F = [[1.0, -2.0, 3.0], [0.5, 0.0, -1.5]]


def t(data, dtype=None):
    return minidl.tensor(data, dtype=dtype)


# ---- reductions ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, expected",
    [
        ("sum", 1.0),
        ("mean", 1.0 / 6),
        ("amax", 3.0),
        ("amin", -2.0),
        ("prod", 0.0),
        ("count_nonzero", 5),
        ("norm", math.sqrt(1 + 4 + 9 + 0.25 + 2.25)),
        ("logsumexp", math.log(sum(math.exp(v) for row in F for v in row))),
    ],
)
@pytest.mark.parametrize("empty", [[], ()])
def test_an_empty_dim_list_reduces_every_dim(name, expected, empty):
    """As PyTorch's x.sum(dim=[]): not the input unchanged."""
    out = getattr(minidl, name)(t(F), dim=empty)
    assert out.shape == ()
    assert np.isclose(out.item(), expected)


def test_var_and_std_with_an_empty_dim_list_reduce_every_dim():
    x = np.array(F)
    assert np.isclose(minidl.var(t(F), dim=[]).item(), x.var(ddof=1))
    assert np.isclose(minidl.std(t(F), dim=()).item(), x.std(ddof=1))


def test_any_and_all_with_an_empty_dim_list_reduce_nothing():
    assert minidl.any(t(F), dim=[]).shape == (2, 3)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [[], (), (0, 1)])
def test_softmax_takes_one_int_dim(name, dim):
    """softmax(x, dim=[]) used to normalise over every element."""
    with pytest.raises(TypeError, match="dim must be an int"):
        getattr(minidl, name)(t(F), dim=dim)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_without_dim_takes_pytorchs_implicit_dim_and_warns(name):
    x = minidl.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 10)
    for shape, implicit in [((24,), 0), ((6, 4), 1), ((2, 3, 4), 0), ((2, 3, 4, 1), 1)]:
        y = x.reshape(shape)
        with pytest.warns(UserWarning, match=f"include dim={implicit}"):
            got = getattr(minidl, name)(y)
        np.testing.assert_array_equal(got.numpy(), getattr(minidl, name)(y, dim=implicit).numpy())
    module = minidl.nn.Softmax() if name == "softmax" else minidl.nn.LogSoftmax()
    with pytest.warns(UserWarning, match="include dim=0"):
        module(x)  # nn.Softmax() too: dim 0 of a 3-d input, as PyTorch


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logcumsumexp"])
def test_softmax_and_logcumsumexp_refuse_integers(name):
    with pytest.raises(TypeError, match="floating point"):
        getattr(minidl, name)(t([[1, 2], [3, 4]]), dim=1)


def test_softmax_dtype_argument():
    out = minidl.softmax(t([[1, 1]]), dim=1, dtype=minidl.float64)
    assert out.dtype == np.float64 and out.tolist() == [[0.5, 0.5]]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_along_an_empty_dim_is_empty(name):
    """As PyTorch (it raised NumPy's 'zero-size array to reduction operation maximum')."""
    x = minidl.zeros(0, 3, requires_grad=True)
    out = getattr(minidl, name)(x, dim=0)
    out.sum().backward()
    assert out.shape == (0, 3) and x.grad.shape == (0, 3)


@pytest.mark.parametrize("data", [[1, 2], [True, False]])
def test_mean_refuses_integers_and_booleans(data):
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        minidl.mean(t(data))


def test_mean_and_sum_dtype_argument():
    out = minidl.mean(t([1, 2]), dtype=minidl.float32)
    assert out.dtype == np.float32 and out.item() == 1.5
    assert minidl.sum(t([0.5, 0.75]), dtype=minidl.float64).dtype == np.float64


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_refuses_booleans_and_dim_tuples(name):
    f = getattr(minidl, name)
    with pytest.raises(RuntimeError, match="does not support bool input"):
        f(t([True, False]))
    for dim in ([], (), (0, 1)):
        with pytest.raises(TypeError, match="dim must be an int"):
            f(t(F), dim=dim)


def test_max_with_dim_still_takes_booleans():
    values, indices = minidl.max(t([[False, True], [False, False]]), dim=1)
    assert values.tolist() == [True, False] and indices.tolist() == [1, 0]


def test_a_negative_norm_over_an_empty_dim_raises():
    """There is no identity for it (it used to give inf)."""
    with pytest.raises(RuntimeError, match="empty dimension"):
        minidl.norm(minidl.zeros(0, 3), p=-1)
    assert minidl.norm(minidl.zeros(0, 3), p=-1, dim=1).shape == (0,)


# ---- scans --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"])
def test_scans_of_a_0d_tensor_check_dim(name):
    f = getattr(minidl, name)
    with pytest.raises(IndexError, match="Dimension out of range"):
        f(t(2.5), 1)
    with pytest.raises(TypeError, match="dim must be an int"):
        f(t(2.5), (0,))
    out = f(t(2.5), -1)
    assert (out[0] if isinstance(out, tuple) else out).item() == 2.5


def test_cummax_and_cummin_propagate_nan():
    """As PyTorch: a NaN is the running extreme from where it appears (the latest NaN's
    index); the values used to skip it."""
    values, indices = minidl.cummax(t([1.0, math.nan, 2.0, math.nan, 5.0]), 0)
    assert np.array_equal(values.numpy(), [1, np.nan, np.nan, np.nan, np.nan], equal_nan=True)
    assert indices.tolist() == [0, 1, 1, 3, 3]
    values, indices = minidl.cummin(t([math.nan, 1.0, 0.0]), 0)
    assert np.isnan(values.numpy()).all() and indices.tolist() == [0, 0, 0]


# ---- arithmetic and math ----------------------------------------------------------------
def test_pow_of_booleans():
    b = t([True, False])
    with pytest.raises(TypeError, match="bool"):
        b**b
    with pytest.raises(TypeError, match="bool"):
        True**b
    out = b**True
    assert out.dtype == np.bool_ and out.tolist() == [True, False]


@pytest.mark.parametrize("name", ["hypot", "logaddexp"])
def test_hypot_and_logaddexp_refuse_two_integer_operands(name):
    f = getattr(minidl, name)
    with pytest.raises(TypeError, match="integer or bool"):
        f(t([3, 4]), t([4, 3]))
    with pytest.raises(TypeError, match="integer or bool"):
        f(t([True]), t([False]))
    assert f(t([3.0]), t([4])).dtype == np.float32


def test_round_decimals():
    with pytest.raises(TypeError, match="decimals must be an int"):
        minidl.round(t([1.25]), decimals=1.5)
    with pytest.raises(TypeError, match="not implemented for int64"):
        minidl.round(t([12, 25]), decimals=-1)
    assert minidl.round(t([12, 25])).tolist() == [12, 25]


def test_lerp_dtypes():
    x = t([0.0, 1.0])
    with pytest.raises(TypeError, match="floating point"):
        minidl.lerp(t([0, 1]), t([2, 3]), 0.5)
    with pytest.raises(RuntimeError, match="for `end`"):
        minidl.lerp(x, t([2.0, 3.0], dtype=minidl.float64), 0.5)
    with pytest.raises(RuntimeError, match="for `weight`"):
        minidl.lerp(x, x, t([0.5, 0.5], dtype=minidl.float64))
    with pytest.raises(TypeError, match="must be Tensor"):
        minidl.lerp(x, 1.0, 0.5)
    assert minidl.lerp(x, t([2.0, 3.0]), t(0.5, dtype=minidl.float64)).tolist() == [1.0, 2.0]


def test_addcmul_refuses_two_boolean_factors():
    with pytest.raises(TypeError, match="bool"):
        minidl.addcmul(t([1.0]), t([True]), t([True]))


def test_clone_refuses_a_non_tensor():
    """It used to return a bare NumPy array."""
    with pytest.raises(TypeError, match="must be Tensor"):
        minidl.clone([1.0, 2.0])


@pytest.mark.parametrize("std", [minidl.std, lambda x, d: minidl.std_mean(x, d)[0]])
def test_std_of_equal_entries_has_a_zero_gradient(std):
    """As PyTorch; it was 0 * inf = nan, which poisons every gradient upstream."""
    x = t([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]], dtype=minidl.float64)
    x.requires_grad_(True)
    std(x, 1).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5]]


def test_float16_var_and_cumsum_accumulate_in_float32():
    """As PyTorch. Before, var of 80000 float16 values was 0 (n - 1 overflowed float16 to
    inf) and a float16 running sum of ones stalled at 2048 (2048 + 1 rounds to 2048)."""
    x = t(np.tile([0.0, 1.0], 40000), dtype=minidl.float16)
    for out in (minidl.var(x), minidl.std(x) ** 2, minidl.var_mean(x)[0]):
        assert out.dtype == np.float16 and out.item() == 0.25
    ones = minidl.ones(4096, dtype=minidl.float16)
    assert minidl.cumsum(ones, 0)[-1].item() == 4096
    assert minidl.cumsum(ones, 0).dtype == np.float16


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "std"])
def test_float16_softmax_and_std_are_computed_in_float32(name):
    """As PyTorch: one rounding to float16 at the end (log_softmax of F was -0.1333 where
    the float32 result rounds to -0.1328)."""
    f = getattr(minidl, name)
    rng = np.random.default_rng(0)
    for data in (F, rng.standard_normal((8, 100)) * 3):
        x = t(data, dtype=minidl.float16)
        out = f(x, 1)
        assert out.dtype == np.float16
        assert np.array_equal(out.numpy(), f(x.float(), 1).half().numpy())
