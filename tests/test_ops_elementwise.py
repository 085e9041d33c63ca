"""Elementwise math and arithmetic: values against NumPy / the math module written out
here, gradients against finite differences (gradcheck) and second derivatives
(gradgradcheck) in float64 over broadcasting shapes; PyTorch's type promotion against
dtypes worked out by hand from its rules."""

import math

import numpy as np
import pytest

import minidl
from minidl import gradcheck, gradgradcheck

rng = np.random.default_rng(7)


def leaf(shape, low, high):
    return minidl.tensor(rng.uniform(low, high, shape), requires_grad=True)


# ---- unary functions: name, NumPy reference, domain ----------------------------------
_vec_erf = np.vectorize(math.erf)
_vec_erfc = np.vectorize(math.erfc)
UNARY = [
    ("sin", np.sin, (-3, 3)),
    ("cos", np.cos, (-3, 3)),
    ("tan", np.tan, (-1.2, 1.2)),
    ("asin", np.arcsin, (-0.9, 0.9)),
    ("acos", np.arccos, (-0.9, 0.9)),
    ("atan", np.arctan, (-3, 3)),
    ("sinh", np.sinh, (-2, 2)),
    ("cosh", np.cosh, (-2, 2)),
    ("tanh", np.tanh, (-2, 2)),
    ("asinh", np.arcsinh, (-3, 3)),
    ("acosh", np.arccosh, (1.2, 4)),
    ("atanh", np.arctanh, (-0.9, 0.9)),
    ("erf", _vec_erf, (-3, 3)),
    ("erfc", _vec_erfc, (-3, 3)),
    ("exp", np.exp, (-2, 2)),
    ("exp2", np.exp2, (-2, 2)),
    ("expm1", np.expm1, (-2, 2)),
    ("log", np.log, (0.2, 3)),
    ("log2", np.log2, (0.2, 3)),
    ("log10", np.log10, (0.2, 3)),
    ("log1p", np.log1p, (-0.8, 3)),
    ("sqrt", np.sqrt, (0.2, 3)),
    ("rsqrt", lambda a: 1 / np.sqrt(a), (0.2, 3)),
    ("reciprocal", lambda a: 1 / a, (0.5, 3)),
    ("square", lambda a: a * a, (-3, 3)),
    ("sigmoid", lambda a: 1 / (1 + np.exp(-a)), (-3, 3)),
    ("abs", np.abs, (0.1, 3)),
    ("frac", lambda a: a - np.trunc(a), (0.1, 0.9)),
]


@pytest.mark.parametrize("name, reference, domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary_values_gradients_and_second_derivatives(name, reference, domain):
    fn = getattr(minidl, name)
    x = leaf((3, 4), *domain)
    np.testing.assert_allclose(fn(x).numpy(), reference(x.numpy()), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(getattr(x, name)().numpy(), reference(x.numpy()), rtol=1e-13)
    assert gradcheck(fn, [x])
    assert gradgradcheck(fn, [x])


def test_erf_is_accurate_to_float64():
    x = np.concatenate([np.linspace(-7, 7, 2001), [0.0, 1e-300, -1e-10, 2.4999, 2.5, 6.0]])
    t = minidl.tensor(x)
    np.testing.assert_allclose(minidl.erf(t).numpy(), _vec_erf(x), rtol=2e-15, atol=1e-300)
    np.testing.assert_allclose(minidl.erfc(t).numpy(), _vec_erfc(x), rtol=1e-13, atol=1e-300)
    f32 = minidl.erf(minidl.tensor([0.5, -1.0]))
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32.numpy(), [math.erf(0.5), math.erf(-1.0)], atol=2e-7)
    x32 = np.linspace(-5, 5, 1001).astype(np.float32)
    np.testing.assert_allclose(minidl.erf(minidl.tensor(x32)).numpy(), _vec_erf(x32), atol=2e-7)


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round", "trunc"])
def test_piecewise_constant_ops_have_zero_gradient(name):
    x = minidl.tensor([-1.7, -0.5, 0.3, 2.5, 1.5], requires_grad=True)
    y = getattr(minidl, name)(x)
    reference = {
        "sign": np.sign,
        "floor": np.floor,
        "ceil": np.ceil,
        "trunc": np.trunc,
        "round": np.round,
    }[name]
    np.testing.assert_array_equal(y.numpy(), reference(x.numpy()))
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(5))


def test_round_halves_to_even_and_decimals():
    x = minidl.tensor([0.5, 1.5, 2.5, -0.5, 1.25])
    np.testing.assert_array_equal(minidl.round(x).numpy(), [0.0, 2.0, 2.0, -0.0, 1.0])
    np.testing.assert_allclose(
        minidl.round(minidl.tensor([1.234, 5.678]), decimals=1).numpy(), [1.2, 5.7], rtol=1e-6
    )


# ---- binary functions over broadcasting shapes ------------------------------------------
SHAPES = [((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((3,), ())]


def _operands(shapes, a_domain, b_domain):
    return leaf(shapes[0], *a_domain), leaf(shapes[1], *b_domain)


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize(
    "name, reference, a_domain, b_domain",
    [
        ("atan2", np.arctan2, (-2, 2), (0.5, 2)),
        ("hypot", np.hypot, (0.5, 2), (-2, -0.5)),
        ("logaddexp", np.logaddexp, (-3, 3), (-3, 3)),
        ("pow", np.power, (0.5, 2), (-2, 2)),
        ("copysign", np.copysign, (0.5, 2), (-1, 1)),
    ],
    ids=["atan2", "hypot", "logaddexp", "pow", "copysign"],
)
def test_binary_functions(name, reference, a_domain, b_domain, shapes):
    a, b = _operands(shapes, a_domain, b_domain)
    fn = getattr(minidl, name)
    np.testing.assert_allclose(fn(a, b).numpy(), reference(a.numpy(), b.numpy()), rtol=1e-13)
    assert gradcheck(fn, [a, b])
    assert gradgradcheck(fn, [a, b])


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("name", ["fmod", "remainder"])
def test_fmod_and_remainder(name, shapes):
    b = leaf(shapes[1], 1.5, 2.5)
    whole = rng.integers(-3, 3, np.broadcast_shapes(*shapes))
    part = rng.uniform(0.2, 0.8, whole.shape)  # a / b stays away from the jumps
    a = minidl.tensor(b.numpy() * (whole + part), requires_grad=True)
    fn = getattr(minidl, name)
    reference = {"fmod": np.fmod, "remainder": np.remainder}[name]
    np.testing.assert_allclose(fn(a, b).numpy(), reference(a.numpy(), b.numpy()), rtol=1e-12)
    assert gradcheck(fn, [a, b])
    assert gradgradcheck(fn, [a, b])


def test_fmod_and_remainder_signs_follow_pytorch():
    a = minidl.tensor([-5.0, 5.0, -5.0, 3.0])
    b = minidl.tensor([3.0, -3.0, -3.0, -2.0])
    np.testing.assert_array_equal(minidl.remainder(a, b).numpy(), [1.0, -1.0, -2.0, -1.0])
    np.testing.assert_array_equal(minidl.fmod(a, b).numpy(), [-2.0, 2.0, -2.0, 1.0])
    np.testing.assert_array_equal((a % 3).numpy(), [1.0, 2.0, 1.0, 0.0])
    np.testing.assert_array_equal((minidl.tensor([-5, 5]) % 3).numpy(), [1, 2])
    np.testing.assert_array_equal((minidl.tensor([-5, 5]) // 3).numpy(), [-2, 1])
    assert (minidl.tensor([-5, 5]) // 3).dtype == np.int64


@pytest.mark.parametrize(
    "op", [lambda a: a // 0, lambda a: a % 0, lambda a: minidl.fmod(a, minidl.tensor([1, 0]))]
)
def test_integer_division_by_zero_raises(op):
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        op(minidl.tensor([5, 6]))


def test_floor_divide_refuses_inputs_that_require_grad():
    x = minidl.tensor([1.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="floor_divide"):
        x // 1
    with minidl.no_grad():
        assert (x // 1).item() == 1.0


def test_lerp_with_scalar_and_tensor_weight():
    start, end = leaf((3, 4), -1, 1), leaf((4,), -1, 1)
    weight = leaf((3, 1), 0, 1)
    expected = start.numpy() + weight.numpy() * (end.numpy() - start.numpy())
    np.testing.assert_allclose(minidl.lerp(start, end, weight).numpy(), expected)
    np.testing.assert_allclose(
        start.lerp(end, 0.25).numpy(), start.numpy() + 0.25 * (end.numpy() - start.numpy())
    )
    assert gradcheck(minidl.lerp, [start, end, weight])
    assert gradgradcheck(minidl.lerp, [start, end, weight])


# ---- pow with tensors on either side ------------------------------------------------------
def test_scalar_base_and_tensor_exponent():
    b = leaf((5,), -2, 2)
    y = 2.0**b
    np.testing.assert_allclose(y.numpy(), 2.0 ** b.numpy())
    assert gradcheck(lambda e: 3.0**e, [b]) and gradgradcheck(lambda e: 3.0**e, [b])
    (2**b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), 2.0 ** b.numpy() * math.log(2))


def test_pow_gradient_at_zero_base_is_zero_for_the_exponent():
    a = minidl.tensor([0.0, 2.0], requires_grad=True)
    b = minidl.tensor([2.0, 3.0], requires_grad=True)
    (a**b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 8.0 * math.log(2.0)])
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 12.0])
    z = minidl.tensor([0.0], requires_grad=True)
    (0.0**z).sum().backward()
    assert z.grad.item() == 0.0


def test_pow_with_numpy_exponent_is_a_constant_tensor():
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x ** np.array([2.0, 1.0, 0.5])
    np.testing.assert_allclose(y.numpy(), [1.0, 2.0, math.sqrt(3.0)], rtol=1e-6)
    assert y.dtype == np.float64  # a float64 array with dimensions promotes, as in PyTorch
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 1.0, 0.5 / math.sqrt(3.0)], rtol=1e-6)
    assert (x ** np.float64(2.0)).dtype == np.float32
    with pytest.raises(TypeError, match="str"):
        x ** "2"
    with pytest.raises(TypeError, match="NoneType"):
        x**None


def test_integer_to_negative_integer_power_raises():
    with pytest.raises(ValueError, match="negative integer powers"):
        minidl.tensor([2, 3]) ** -1


# ---- clamp with tensor bounds -------------------------------------------------------------
def test_clamp_with_tensor_bounds_values_and_gradients():
    a = leaf((3, 4), -2, 2)
    low, high = leaf((4,), -1.5, -0.2), leaf((3, 1), 0.2, 1.5)
    expected = np.minimum(np.maximum(a.numpy(), low.numpy()), high.numpy())
    np.testing.assert_array_equal(minidl.clamp(a, low, high).numpy(), expected)
    assert gradcheck(lambda a, lo, hi: minidl.clamp(a, lo, hi), [a, low, high])
    assert gradgradcheck(lambda a, lo, hi: minidl.clamp(a, lo, hi), [a, low, high])
    assert gradcheck(lambda a, lo: a.clamp(min=lo), [a, low])
    assert gradcheck(lambda a, hi: a.clamp(max=hi), [a, high])


def test_clamp_gradient_goes_to_whichever_bound_is_the_output():
    a = minidl.tensor([-3.0, 0.0, 3.0, 0.5], requires_grad=True)
    low = minidl.tensor([-1.0, -1.0, -1.0, 2.0], requires_grad=True)  # last: low > high
    high = minidl.tensor([1.0, 1.0, 1.0, 1.0], requires_grad=True)
    y = minidl.clamp(a, low, high)
    np.testing.assert_array_equal(y.numpy(), [-1.0, 0.0, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0, 1, 0, 0])
    np.testing.assert_array_equal(low.grad.numpy(), [1, 0, 0, 0])
    np.testing.assert_array_equal(high.grad.numpy(), [0, 0, 1, 1])


def test_clamp_promotes_and_needs_a_bound():
    assert minidl.tensor([1, 2]).clamp(0, 1).dtype == np.int64
    np.testing.assert_array_equal(minidl.tensor([1, 2]).clamp(0, 1).numpy(), [1, 1])
    assert minidl.tensor([1, 2]).clamp(0.5).dtype == np.float32
    with pytest.raises(ValueError, match="min and max"):
        minidl.clamp(minidl.tensor([1.0]))


# ---- type promotion, PyTorch's rule ------------------------------------------------------
i64 = minidl.tensor([1, 2])
i32 = minidl.tensor(np.array([1, 2], np.int32))
f32 = minidl.tensor([1.0, 2.0])
f64 = minidl.tensor(np.array([1.0, 2.0]))
b8 = minidl.tensor([True, False])
u8 = minidl.tensor(np.array([1, 2], np.uint8))
i8 = minidl.tensor(np.array([1, 2], np.int8))
f64_0d = minidl.tensor(np.float64(3.0))
f32_0d = minidl.tensor(3.0)
i64_0d = minidl.tensor(3)


@pytest.mark.parametrize(
    "expr, dtype",
    [
        (lambda: i64 + 2.5, np.float32),  # int tensor op Python float: the default float
        (lambda: 2.5 * i64, np.float32),
        (lambda: i64 / i64, np.float32),  # true division of integers
        (lambda: i64 / 2, np.float32),
        (lambda: i64 + f32_0d, np.float32),  # a 0-d float tensor lifts the category
        (lambda: i64 + f64_0d, np.float64),  # ... with its own dtype
        (lambda: f32 + f64_0d, np.float32),  # same category: the dimensioned tensor wins
        (lambda: f32 + f64, np.float64),
        (lambda: i32 + i64_0d, np.int32),
        (lambda: i32 + 7, np.int32),
        (lambda: i32 + i64, np.int64),
        (lambda: u8 + i8, np.int16),
        (lambda: b8 + 1, np.int64),
        (lambda: b8 + True, np.bool_),
        (lambda: b8 * 2.5, np.float32),
        (lambda: i64**2.0, np.float32),
        (lambda: i64**2, np.int64),
        (lambda: f32 * np.float64(2.0), np.float32),
        (lambda: minidl.atan2(i64, i64), np.float32),
        (lambda: minidl.copysign(i64, -1), np.float32),
        (lambda: minidl.fmod(i64, 2), np.int64),
        (lambda: minidl.fmod(i64, 1.5), np.float32),
    ],
)
def test_type_promotion(expr, dtype):
    assert expr().dtype == dtype


@pytest.mark.parametrize(
    "name",
    [
        "exp",
        "log",
        "sqrt",
        "sigmoid",
        "tanh",
        "sin",
        "erf",
        "reciprocal",
        "rsqrt",
        "log1p",
        "expm1",
        "atan",
    ],
)
def test_float_functions_of_integers_give_float32(name):
    y = getattr(minidl, name)(minidl.tensor([1, 2]))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), getattr(minidl, name)(f64).numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("abs", [1, 2]),
        ("square", [1, 4]),
        ("sign", [-1, 1]),
        ("floor", [-1, 2]),
        ("round", [-1, 2]),
        ("neg", [1, -2]),
        ("relu", [0, 2]),
    ],
)
def test_integer_preserving_functions(name, expected):
    y = getattr(minidl, name)(minidl.tensor([-1, 2]))
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), expected)


def test_bool_arithmetic_errors_like_pytorch():
    with pytest.raises(RuntimeError, match="Subtraction.*bool"):
        b8 - b8
    with pytest.raises(RuntimeError, match="Negation.*bool"):
        -b8  # noqa: B018
    with pytest.raises(TypeError, match="frac"):
        minidl.frac(i64)


def test_promotion_keeps_gradients_flowing():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * minidl.tensor(np.array([3.0, 4.0]))).sum()  # float32 * float64 -> float64
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_add_and_sub_alpha():
    a, b = minidl.tensor([1.0, 2.0]), minidl.tensor([10.0, 20.0])
    np.testing.assert_array_equal(minidl.add(a, b, alpha=2).numpy(), [21.0, 42.0])
    np.testing.assert_array_equal(a.sub(b, alpha=0.5).numpy(), [-4.0, -8.0])


def test_div_rounding_modes():
    a = minidl.tensor([-7.0, 7.0])
    np.testing.assert_array_equal(minidl.div(a, 2, rounding_mode="trunc").numpy(), [-3, 3])
    np.testing.assert_array_equal(minidl.div(a, 2, rounding_mode="floor").numpy(), [-4, 3])
    ints = minidl.div(minidl.tensor([-7, 7]), minidl.tensor([2, -2]), rounding_mode="trunc")
    assert ints.dtype == np.int64
    np.testing.assert_array_equal(ints.numpy(), [-3, -3])
    with pytest.raises(ValueError, match="rounding_mode"):
        minidl.div(a, 2, rounding_mode="up")


def test_unary_ops_refuse_non_tensors():
    with pytest.raises(TypeError, match="Tensor"):
        minidl.sin(1.0)
    with pytest.raises(TypeError, match="Tensor"):
        minidl.exp([1.0])


# ---- tests and comparisons ------------------------------------------------------------------
def test_nan_inf_finite_tests():
    x = minidl.tensor([1.0, float("nan"), float("inf"), -float("inf")])
    assert minidl.isnan(x).tolist() == [False, True, False, False]
    assert x.isinf().tolist() == [False, False, True, True]
    assert minidl.isfinite(x).tolist() == [True, False, False, False]
    assert minidl.isposinf(x).tolist() == [False, False, True, False]
    assert minidl.isfinite(minidl.tensor([1, 2])).tolist() == [True, True]
    assert minidl.isnan(minidl.tensor([1, 2])).dtype == np.bool_


def test_isclose_allclose_equal():
    a = minidl.tensor([1.0, 2.0, float("nan")])
    b = minidl.tensor([1.0 + 1e-7, 2.1, float("nan")])
    assert minidl.isclose(a, b).tolist() == [True, False, False]
    assert minidl.isclose(a, b, equal_nan=True).tolist() == [True, False, True]
    assert minidl.isclose(a, b, atol=0.2, equal_nan=True).tolist() == [True, True, True]
    assert minidl.allclose(a[:1], b[:1]) is True and minidl.allclose(a, b) is False
    assert minidl.allclose(minidl.tensor([1.0]), minidl.tensor([1.0, 1.0]))  # broadcasts
    assert minidl.equal(a[:2], minidl.tensor([1.0, 2.0])) is True
    assert not minidl.equal(a[:1], minidl.tensor([1.0, 1.0]))  # shapes differ
    assert minidl.equal(minidl.tensor([1.0, 2.0]), minidl.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="float32 did not match int64"):
        minidl.isclose(minidl.tensor([1.0]), minidl.tensor([1]))
    with pytest.raises(RuntimeError, match="rtol"):
        minidl.isclose(a, b, rtol=-1)
    with pytest.raises(TypeError, match="must be Tensor"):
        minidl.equal(a, 1.0)


def test_bitwise_and_integer_operators():
    a = minidl.tensor([12, 10, -3])
    b = minidl.tensor([10, 6, 2])
    assert (a & b).tolist() == [8, 2, 0]  # -3 is ...1101 in two's complement
    assert (a | b).tolist() == [14, 14, -1]
    assert (a ^ b).tolist() == [6, 12, -1]
    assert (~a).tolist() == [-13, -11, 2]
    assert (a << 1).tolist() == [24, 20, -6] and (a >> 1).tolist() == [6, 5, -2]
    assert (1 << minidl.tensor([0, 3])).tolist() == [1, 8]
    assert (a // b).tolist() == [1, 1, -2] and (a % b).tolist() == [2, 4, 1]
    mask = minidl.tensor([True, False])
    assert (~mask).tolist() == [False, True] and (~mask).dtype == np.bool_
    assert (mask & minidl.tensor([True, True])).dtype == np.bool_
    assert (mask ^ mask).tolist() == [False, False]
    assert (mask & minidl.tensor([3, 3])).tolist() == [1, 0]  # bool & int -> int64


@pytest.mark.parametrize(
    "op",
    [
        lambda f: f & 1,
        lambda f: f | f,
        lambda f: f ^ 1,
        lambda f: ~f,
        lambda f: f << 1,
        lambda f: f >> 1,
        lambda f: minidl.tensor([3]) & 1.5,
    ],
)
def test_bitwise_operators_refuse_floats(op):
    with pytest.raises(TypeError, match="only integer and bool tensors"):
        op(minidl.tensor([1.5]))


def test_logical_ops():
    a = minidl.tensor([0.0, 1.5, -2.0])
    b = minidl.tensor([0, 0, 3])
    assert minidl.logical_and(a, b).tolist() == [False, False, True]
    assert minidl.logical_or(a, b).tolist() == [False, True, True]
    assert minidl.logical_xor(a, b).tolist() == [False, True, False]
    assert a.logical_not().tolist() == [True, False, False]


def test_tensor_power_at_zero_base_and_zero_exponent():
    x = minidl.tensor([0.0, 1.0, 2.0], requires_grad=True)
    with np.errstate(all="raise"):
        (x**x).sum().backward()
    # d/dx x^x = x^x (log x + 1); at 0 PyTorch gives 0 * 0^-1 masked to 0 plus 0 (log masked)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.0, 4.0 * (math.log(2.0) + 1)])


def test_erf_of_nan_and_infinities():
    for dtype in (np.float64, np.float32):
        t = minidl.tensor(np.array([np.nan, np.inf, -np.inf], dtype=dtype))
        with np.errstate(all="raise"):
            e, c = minidl.erf(t).numpy(), minidl.erfc(t).numpy()
        assert np.isnan(e[0]) and np.isnan(c[0])
        np.testing.assert_array_equal(e[1:], [1.0, -1.0])
        np.testing.assert_array_equal(c[1:], [0.0, 2.0])


# ---- on the GPU (CuPy; without one, PYTHONPATH=tests pytest -p fake_cupy -m gpu) ----------
def _on_gpu(array, requires_grad=False):
    from minidl import backend

    return minidl.tensor(backend.to_device(array, "gpu"), requires_grad=requires_grad)


GPU_CASES = [
    (name, lambda x, name=name: getattr(minidl, name)(x), domain) for name, _, domain in UNARY
] + [
    ("atan2", lambda x: minidl.atan2(x, x * 0.5 + 2), (-2, 2)),
    ("hypot", lambda x: minidl.hypot(x, 1.5), (-2, 2)),
    ("logaddexp", lambda x: minidl.logaddexp(x, -x), (-2, 2)),
    ("pow", lambda x: x ** (x * 0.5), (0.5, 2)),
    ("rpow", lambda x: 2.0**x, (-2, 2)),
    ("fmod", lambda x: minidl.fmod(x, 0.7), (0.1, 0.6)),
    ("remainder", lambda x: x % 0.7, (0.1, 0.6)),
    ("copysign", lambda x: minidl.copysign(x, -1.0), (0.5, 2)),
    ("clamp_tensor", lambda x: minidl.clamp(x, x * 0 - 0.5, 0.5), (-2, 2)),
    ("sign", minidl.sign, (-2, 2)),
    ("round", minidl.round, (-2, 2)),
]


@pytest.mark.gpu
@pytest.mark.parametrize("name, fn, domain", GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_gpu_values_and_gradients_match_the_cpu(name, fn, domain):
    from minidl import backend

    if not backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    host = rng.uniform(*domain, (3, 4))
    cpu = minidl.tensor(host, requires_grad=True)
    gpu = _on_gpu(host, requires_grad=True)
    out_cpu, out_gpu = fn(cpu), fn(gpu)
    assert out_gpu.device == "gpu" and out_gpu.dtype == out_cpu.dtype
    np.testing.assert_allclose(out_gpu.numpy(), out_cpu.numpy(), rtol=1e-12, atol=1e-14)
    out_cpu.sum().backward()
    out_gpu.sum().backward()
    np.testing.assert_allclose(gpu.grad.numpy(), cpu.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.gpu
def test_gpu_logical_promotion_and_in_place():
    from minidl import backend

    if not backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    i = _on_gpu(np.array([12, 10, -3]))
    assert (i & 6).tolist() == [4, 2, 4] and (~i).tolist() == [-13, -11, 2]
    assert (i // 4).tolist() == [3, 2, -1] and (i / 4).dtype == np.float32
    f = _on_gpu(np.array([1.0, np.nan, np.inf]))
    assert minidl.isfinite(f).tolist() == [True, False, False]
    assert minidl.isclose(f, f, equal_nan=True).tolist() == [True, True, True]
    w = _on_gpu(np.array([1.0, 2.0]), requires_grad=True)
    memory = w.data
    (w * w).sum().backward()
    with minidl.no_grad():
        w -= 0.5 * w.grad
        w.clamp_(min=0.25)
    assert w.data is memory and w.device == "gpu"
    np.testing.assert_allclose(w.numpy(), [0.25, 0.25])
    with pytest.raises(ZeroDivisionError):
        i // 0


# ---- clone, nan_to_num, addcmul/addcdiv, clamp_min/max --------------------------------------
def test_clone_is_a_differentiable_copy():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert y.data is not x.data and not np.shares_memory(y.data, x.data)
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert gradgradcheck(lambda t: minidl.clone(t) ** 2, [leaf((3,), -1, 1)])


def test_nan_to_num():
    x = minidl.tensor([1.0, float("nan"), float("inf"), -float("inf")], requires_grad=True)
    y = x.nan_to_num()
    big = np.finfo(np.float32).max
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0, big, -big])
    np.testing.assert_array_equal(
        minidl.nan_to_num(x, nan=7.0, posinf=1.0, neginf=-2.0).numpy(), [1.0, 7.0, 1.0, -2.0]
    )
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 0.0, 0.0])
    assert minidl.nan_to_num(minidl.tensor([1, 2])).tolist() == [1, 2]


def test_addcmul_addcdiv_clamp_min_max():
    a, t1, t2 = leaf((3, 4), -1, 1), leaf((4,), -1, 1), leaf((3, 1), 0.5, 2)
    np.testing.assert_allclose(
        minidl.addcmul(a, t1, t2, value=0.5).numpy(), a.numpy() + 0.5 * t1.numpy() * t2.numpy()
    )
    np.testing.assert_allclose(
        a.addcdiv(t1, t2, value=2).numpy(), a.numpy() + 2 * t1.numpy() / t2.numpy()
    )
    assert gradcheck(lambda a, b, c: minidl.addcdiv(a, b, c, value=0.3), [a, t1, t2])
    with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
        minidl.addcdiv(a, minidl.tensor([1, 2, 3, 4]), minidl.tensor([2, 2, 2, 2]))
    x = minidl.tensor([1, 2, 3])
    assert x.clamp_min(2).tolist() == [2, 2, 3] and x.clamp_max(2).tolist() == [1, 2, 2]
    assert x.clamp_min(1.5).dtype == np.float32


# ---- properties ------------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ints = st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=20)
_nonzero = st.integers(-1000, 1000).filter(lambda n: n != 0)


@settings(max_examples=60, deadline=None)
@given(_ints, _nonzero)
def test_integer_division_identities(values, divisor):
    a = minidl.tensor(values)
    q, r = a // divisor, a % divisor
    assert (q * divisor + r).tolist() == values  # a = (a // b) b + a % b
    assert all(0 <= v < divisor if divisor > 0 else divisor < v <= 0 for v in r.tolist())
    t = minidl.fmod(a, divisor).tolist()  # fmod: the sign of a, |t| < |b|
    assert all(abs(x) < abs(divisor) and (x == 0 or (x > 0) == (v > 0)) for x, v in zip(t, values))
    trunc = minidl.div(a, divisor, rounding_mode="trunc").tolist()
    assert trunc == [int(v / divisor) for v in values]  # exact in float64 for these sizes


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=20))
def test_erf_is_odd_bounded_and_complements_erfc(values):
    x = minidl.tensor(np.array(values))
    e, c = minidl.erf(x).numpy(), minidl.erfc(x).numpy()
    np.testing.assert_array_equal(minidl.erf(-x).numpy(), -e)
    assert (np.abs(e) <= 1).all() and (c >= 0).all() and (c <= 2).all()
    np.testing.assert_allclose(e + c, 1.0, rtol=0, atol=4.5e-16)  # two ulps of 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-700, 700), min_size=1, max_size=10),
    st.lists(st.floats(-700, 700), min_size=1, max_size=10),
)
def test_logaddexp_bounds(a, b):
    n = min(len(a), len(b))
    x, y = np.array(a[:n]), np.array(b[:n])
    out = minidl.logaddexp(minidl.tensor(x), minidl.tensor(y)).numpy()
    top = np.maximum(x, y)
    assert (out >= top).all() and (out <= top + np.log(2) + 1e-12).all()


def test_booleans_like_pytorch():
    b = minidl.tensor([True, False])
    assert b.sign().dtype == np.bool_ and b.sign().tolist() == [True, False]
    assert b.square().dtype == np.int64 and b.square().tolist() == [1, 0]
    assert (b * b).dtype == np.bool_ and (b + b).tolist() == [True, False]
    assert (b / minidl.tensor([True, True])).dtype == np.float32 and b.exp().dtype == np.float32
    for name in ("abs", "relu", "floor", "ceil", "trunc", "round"):
        with pytest.raises(TypeError, match=f"{name}: not implemented for bool"):
            getattr(minidl, name)(b)


def test_float_alpha_with_integer_operands_raises():
    i = minidl.tensor([1, 2])
    with pytest.raises(RuntimeError, match="alpha must not be a floating point"):
        minidl.add(i, i, alpha=0.5)
    with pytest.raises(RuntimeError, match="alpha must not be a floating point"):
        i.sub(1, alpha=1.5)
    assert minidl.add(i, i, alpha=3).tolist() == [4, 8]
    assert minidl.add(i, 1.0, alpha=0.5).dtype == np.float32


def test_bool_operands_are_refused_where_pytorch_refuses_them():
    b, i, f = minidl.tensor([True, False]), minidl.tensor([1, 2]), minidl.tensor([1.0, 2.0])
    for expr in (lambda: i - b, lambda: f - True, lambda: b - 1, lambda: 1.5 - b):
        with pytest.raises(RuntimeError, match="Subtraction.*with a bool tensor"):
            expr()
    for expr in (lambda: b // b, lambda: b % True, lambda: minidl.fmod(b, b)):
        with pytest.raises(TypeError, match="two bool operands"):
            expr()
    for expr in (lambda: b << b, lambda: b >> True):
        with pytest.raises(TypeError, match="integers for shifts"):
            expr()
    assert (b**True).dtype == np.bool_ and (b**True).tolist() == [True, False]
    assert (i - 1).tolist() == [0, 1] and (b + 1).tolist() == [2, 1]


def test_second_derivatives_of_the_composite_helpers():
    a, t1, t2 = leaf((3, 4), -1, 1), leaf((4,), -1, 1), leaf((3, 1), 0.5, 2)
    assert gradgradcheck(lambda a, b, c: minidl.addcmul(a, b, c, value=0.5) ** 2, [a, t1, t2])
    assert gradgradcheck(lambda a, b, c: minidl.addcdiv(a, b, c, value=0.3), [a, t1, t2])
    assert gradgradcheck(lambda a: minidl.nan_to_num(a) ** 2, [a])
    assert gradgradcheck(lambda a, b: minidl.clamp_min(a, b) * a, [a, t1])
