"""Property tests over random shapes: broadcast gradients equal the NumPy formulas,
and reductions and shape ops round-trip."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import minidl

SETTINGS = settings(max_examples=40, deadline=None)


def reduce_to(grad, shape):
    """The adjoint of broadcasting ``shape`` to ``grad.shape``: sum the copies."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def data(seed, shape, positive=False):
    values = np.random.default_rng(seed).standard_normal(shape)
    return np.abs(values) + 0.5 if positive else values


OPS = {
    # name: (op, d out / d a, d out / d b) as NumPy formulas of a, b and upstream g
    "add": (lambda a, b: a + b, lambda a, b, g: g, lambda a, b, g: g),
    "sub": (lambda a, b: a - b, lambda a, b, g: g, lambda a, b, g: -g),
    "mul": (lambda a, b: a * b, lambda a, b, g: g * b, lambda a, b, g: g * a),
    "div": (lambda a, b: a / b, lambda a, b, g: g / b, lambda a, b, g: -g * a / b**2),
}


@SETTINGS
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
    name=st.sampled_from(sorted(OPS)),
    seed=st.integers(0, 2**16),
)
def test_broadcast_binary_gradients(shapes, name, seed):
    (shape_a, shape_b), out_shape = shapes.input_shapes, shapes.result_shape
    op, grad_a, grad_b = OPS[name]
    a_np, b_np = data(seed, shape_a), data(seed + 1, shape_b, positive=(name == "div"))
    g_np = data(seed + 2, out_shape)
    a = minidl.tensor(a_np, requires_grad=True)
    b = minidl.tensor(b_np, requires_grad=True)
    out = op(a, b)
    assert out.shape == out_shape
    np.testing.assert_allclose(out.numpy(), op(a_np, b_np), rtol=1e-12)
    out.backward(g_np)
    a_full, b_full = np.broadcast_to(a_np, out_shape), np.broadcast_to(b_np, out_shape)
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    np.testing.assert_allclose(
        a.grad.numpy(), reduce_to(grad_a(a_full, b_full, g_np), shape_a), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        b.grad.numpy(), reduce_to(grad_b(a_full, b_full, g_np), shape_b), rtol=1e-10, atol=1e-12
    )


@st.composite
def shape_and_axes(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=4, max_side=4))
    axes = draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
    negative = draw(st.booleans())
    return shape, tuple(a - len(shape) if negative else a for a in axes)


@SETTINGS
@given(case=shape_and_axes(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_sum_and_mean_match_numpy_and_spread_gradients(case, keepdim, seed):
    shape, axes = case
    dim = axes if axes else None  # empty list: reduce everything
    x_np = data(seed, shape)
    count = int(np.prod([shape[a] for a in axes])) if axes else x_np.size
    for name, scale in (("sum", 1.0), ("mean", 1.0 / count)):
        x = minidl.tensor(x_np, requires_grad=True)
        out = getattr(x, name)(dim, keepdim)
        expected = getattr(np, name)(x_np, axis=dim, keepdims=keepdim)
        assert out.shape == np.shape(expected)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
        g_np = data(seed + 1, out.shape)
        out.backward(g_np)
        reduced = axes if axes else tuple(range(len(shape)))
        g_kept = g_np if keepdim else np.expand_dims(g_np, reduced)
        np.testing.assert_allclose(
            x.grad.numpy(), np.broadcast_to(g_kept * scale, shape), rtol=1e-12
        )


@SETTINGS
@given(
    shape=array_shapes(min_dims=0, max_dims=4, max_side=4),
    seed=st.integers(0, 2**16),
    data_=st.data(),
)
def test_reshape_round_trip(shape, seed, data_):
    x_np = data(seed, shape)
    size = x_np.size
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    first = data_.draw(st.sampled_from(divisors))
    new_shape = (first, -1) if data_.draw(st.booleans()) else (first, size // first)
    x = minidl.tensor(x_np, requires_grad=True)
    y = x.reshape(new_shape)
    np.testing.assert_array_equal(y.numpy(), x_np.reshape(new_shape))
    back = y.reshape(shape)
    np.testing.assert_array_equal(back.numpy(), x_np)
    g_np = data(seed + 1, shape)
    back.backward(g_np)
    np.testing.assert_array_equal(x.grad.numpy(), g_np)
    np.testing.assert_array_equal(x.flatten().numpy(), x_np.reshape(-1))


@SETTINGS
@given(
    shape=array_shapes(min_dims=1, max_dims=5, max_side=3),
    seed=st.integers(0, 2**16),
    data_=st.data(),
)
def test_permute_round_trip_and_gradient(shape, seed, data_):
    dims = tuple(data_.draw(st.permutations(range(len(shape)))))
    x_np = data(seed, shape)
    x = minidl.tensor(x_np, requires_grad=True)
    y = x.permute(dims)
    np.testing.assert_array_equal(y.numpy(), np.transpose(x_np, dims))
    np.testing.assert_array_equal(y.permute(tuple(np.argsort(dims))).numpy(), x_np)
    g_np = data(seed + 1, y.shape)
    y.backward(g_np)
    np.testing.assert_array_equal(x.grad.numpy(), np.transpose(g_np, np.argsort(dims)))


@SETTINGS
@given(
    shape=array_shapes(min_dims=1, max_dims=3, max_side=5),
    seed=st.integers(0, 2**16),
    data_=st.data(),
)
def test_getitem_integer_arrays_scatter_with_accumulation(shape, seed, data_):
    index = np.array(
        data_.draw(st.lists(st.integers(-shape[0], shape[0] - 1), max_size=8)), dtype=np.int64
    )
    x_np = data(seed, shape)
    x = minidl.tensor(x_np, requires_grad=True)
    y = x[index]
    np.testing.assert_array_equal(y.numpy(), x_np[index])
    g_np = data(seed + 1, y.shape)
    y.backward(g_np)
    expected = np.zeros(shape)
    for k, i in enumerate(index):
        expected[i] += g_np[k]
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
