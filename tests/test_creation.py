"""Creation functions: PyTorch's names, dtype inference and errors; values worked out by
hand (or by the definition, for the random ones)."""

import math

import numpy as np
import pytest

import minidl


@pytest.mark.parametrize(
    "fill, dtype",
    [
        (4, np.int64),
        (True, np.bool_),
        (2.5, np.float32),
        (np.int32(3), np.int64),
        (np.float64(1.5), np.float32),
    ],
)
def test_full_infers_the_dtype_from_the_fill_value(fill, dtype):
    t = minidl.full((2, 3), fill)
    assert t.dtype == dtype and t.shape == (2, 3) and (t.numpy() == fill).all()


def test_full_explicit_dtype_and_refusals():
    assert minidl.full((2,), 4, dtype="float64").dtype == np.float64
    assert minidl.full(3, 1.0).shape == (3,)
    with pytest.raises(TypeError, match="fill_value"):
        minidl.full((2,), "a")
    with pytest.raises(RuntimeError, match="negative dimension"):
        minidl.full((2, -1), 1.0)
    with pytest.raises(TypeError, match="sequence of ints"):
        minidl.zeros(2.5)


def test_zeros_ones_empty_default_to_float32():
    for fn in (minidl.zeros, minidl.ones, minidl.empty):
        t = fn(2, 3)
        assert t.dtype == np.float32 and t.shape == (2, 3)
    assert not minidl.empty((2, 2)).numpy().any()


def test_eye():
    np.testing.assert_array_equal(minidl.eye(2).numpy(), [[1, 0], [0, 1]])
    np.testing.assert_array_equal(minidl.eye(2, 3).numpy(), [[1, 0, 0], [0, 1, 0]])
    assert minidl.eye(3).dtype == np.float32 and minidl.eye(2, dtype="int64").dtype == np.int64
    assert minidl.eye(0).shape == (0, 0)
    with pytest.raises(RuntimeError, match="non-negative"):
        minidl.eye(-1)


def test_like_functions_keep_shape_dtype_and_device():
    x = minidl.tensor(np.ones((2, 3), np.float64))
    for t in (
        minidl.zeros_like(x),
        minidl.ones_like(x),
        minidl.empty_like(x),
        minidl.full_like(x, 7),
        minidl.rand_like(x),
        minidl.randn_like(x),
    ):
        assert t.shape == (2, 3) and t.dtype == np.float64 and t.device == "cpu"
    assert (minidl.full_like(x, 7).numpy() == 7).all()
    assert minidl.full_like(minidl.tensor([1, 2]), 2.7).tolist() == [2, 2]  # input's dtype
    assert minidl.zeros_like(x, dtype="float32").dtype == np.float32
    with pytest.raises(TypeError, match="floating point dtype"):
        minidl.rand_like(minidl.tensor([1, 2]))


@pytest.mark.parametrize(
    "args, expected",
    [
        ((0, 1, 0.3), [0.0, 0.3, 0.6, 0.9]),  # ceil(1 / 0.3) = 4 values
        ((1, 2.5, 0.5), [1.0, 1.5, 2.0]),
        ((0.0, 1.0, 0.25), [0.0, 0.25, 0.5, 0.75]),
        ((10, 0, -3), [10, 7, 4, 1]),
        ((1.0, 0.0, -0.4), [1.0, 0.6, 0.2]),
        ((5,), [0, 1, 2, 3, 4]),
        ((3, 3), []),
    ],
)
def test_arange_length_and_values(args, expected):
    t = minidl.arange(*args)
    integral = all(isinstance(a, int) for a in args)
    assert t.dtype == (np.int64 if integral else np.float32)
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_arange_errors_like_pytorch():
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        minidl.arange(0, 1, 0)
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        minidl.arange(1, 0, 0.3)
    with pytest.raises(RuntimeError, match="unsupported range"):
        minidl.arange(0, float("inf"))
    with pytest.raises(TypeError, match="numbers"):
        minidl.arange("3")


def test_linspace_and_logspace():
    np.testing.assert_allclose(minidl.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(minidl.linspace(-1, 1, 1).numpy(), [-1])
    assert minidl.linspace(0, 1, 0).shape == (0,)
    np.testing.assert_allclose(minidl.logspace(0, 2, 3).numpy(), [1, 10, 100])
    np.testing.assert_allclose(minidl.logspace(0, 3, 4, base=2).numpy(), [1, 2, 4, 8])
    assert minidl.linspace(0, 1, 3).dtype == np.float32
    assert minidl.linspace(0, 1, 3, dtype="float64").dtype == np.float64
    with pytest.raises(RuntimeError, match="non-negative"):
        minidl.linspace(0, 1, -1)
    with pytest.raises(RuntimeError, match="non-negative"):
        minidl.logspace(0, 1, 2.5)


def test_randint():
    minidl.manual_seed(0)
    t = minidl.randint(3, 10, (2000,))
    assert t.dtype == np.int64 and t.shape == (2000,)
    values = set(t.tolist())
    assert values == set(range(3, 10))  # every value, none outside [3, 10)
    assert minidl.randint(5, (3, 2)).shape == (3, 2)
    assert set(minidl.randint(5, (500,)).tolist()) <= set(range(5))
    minidl.manual_seed(1)
    a = minidl.randint(0, 100, (10,))
    minidl.manual_seed(1)
    assert minidl.randint(0, 100, (10,)).tolist() == a.tolist()
    with pytest.raises(RuntimeError, match="from=5 >= to=5"):
        minidl.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="tuple"):
        minidl.randint(0, 5, 3)


def test_randperm():
    minidl.manual_seed(0)
    p = minidl.randperm(50)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(50))
    assert p.tolist() != list(range(50))
    assert minidl.randperm(0).shape == (0,)
    with pytest.raises(RuntimeError, match="non-negative"):
        minidl.randperm(-2)


def test_rand_and_randn_refuse_integer_dtypes():
    with pytest.raises(TypeError, match="floating point"):
        minidl.rand(2, dtype="int64")
    with pytest.raises(TypeError, match="floating point"):
        minidl.randn(2, dtype="int32")


def test_float_steps_match_the_count_rule_at_awkward_ratios():
    # (end - start) / step slightly above an integer: ceil adds one element, as in torch
    t = minidl.arange(0, 0.9000001, 0.3)
    assert t.shape == (4,) and math.isclose(t.numpy()[-1], 0.9, rel_tol=1e-6)


@pytest.mark.gpu
def test_creation_on_the_gpu():
    from minidl import backend

    if not backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    made = [
        minidl.eye(2, device="gpu"),
        minidl.arange(0, 1, 0.25, device="gpu"),
        minidl.linspace(0, 1, 3, device="gpu"),
        minidl.logspace(0, 1, 2, device="gpu"),
        minidl.full((2,), 4, device="gpu"),
        minidl.empty(2, device="gpu"),
        minidl.randint(0, 3, (4,), device="gpu"),
        minidl.randperm(3, device="gpu"),
    ]
    assert all(t.device == "gpu" for t in made)
    np.testing.assert_array_equal(made[1].numpy(), [0, 0.25, 0.5, 0.75])
    assert made[4].dtype == np.int64
    x = minidl.ones(2, 3, device="gpu")
    for like in (
        minidl.zeros_like(x),
        minidl.full_like(x, 2.0),
        minidl.rand_like(x),
        minidl.randn_like(x),
        minidl.empty_like(x),
    ):
        assert like.device == "gpu" and like.shape == (2, 3)
    assert minidl.zeros_like(x, device="cpu").device == "cpu"
