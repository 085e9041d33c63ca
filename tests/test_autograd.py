"""The engine: backward, accumulation, graph freeing, no_grad and user Functions."""

import numpy as np
import pytest

import minidl
from minidl import Function


def test_backward_of_a_diamond_graph():
    x = minidl.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = x * x  # used twice below: its gradients must add up
    z = (y * x + y.exp()).sum()
    z.backward()
    v = x.numpy().astype(np.float64)
    np.testing.assert_allclose(x.grad.numpy(), 3 * v**2 + 2 * v * np.exp(v**2), rtol=1e-6)


def test_backward_of_non_scalar_needs_a_gradient():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*\(2,\)"):
        y.backward()
    y.backward(minidl.tensor([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 30.0])


def test_backward_gradient_shape_and_requires_grad_errors():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        minidl.tensor([1.0]).sum().backward()


def test_gradient_has_the_leaf_dtype():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    (x * np.array([1.0, 2.0])).sum().backward()  # a float64 constant
    assert x.grad.dtype == np.float32
    y = x * 2
    y.backward(np.array([1.0, 1.0]))
    assert x.grad.dtype == np.float32


def test_backward_on_a_leaf():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([3.0, 4.0], dtype=np.float32)
    x.backward(g)
    g[0] = 0  # x.grad owns its own array
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_gradients_accumulate_across_backward_calls():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert isinstance(x.grad, minidl.Tensor) and not x.grad.requires_grad
    grad_array = x.grad.data
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    assert x.grad.data is grad_array  # accumulated in place
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_same_tensor_twice_in_one_op():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    (x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def _assert_own_memory(*tensors):
    for i, a in enumerate(tensors):
        assert a.grad.data.flags.writeable
        for b in tensors[i + 1 :]:
            assert not np.shares_memory(a.grad.data, b.grad.data)


def test_leaves_do_not_share_gradient_arrays():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = minidl.tensor([3.0, 4.0], requires_grad=True)
    z = minidl.tensor([5.0, 6.0], requires_grad=True)
    out = x + y + z
    out.backward(np.ones(2))
    assert x.grad.data is not y.grad.data
    _assert_own_memory(x, y, z)
    x.grad.data += 100  # an in-place change of one does not affect the others
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(z.grad.numpy(), [1.0, 1.0])


def test_leaf_gradients_from_views_are_writable_copies():
    x = minidl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = minidl.tensor([1.0, 2.0], requires_grad=True)
    w = minidl.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    (x.sum() + y.T.sum() + w.reshape(2, 2).sum()).backward()  # broadcast / view gradients
    _assert_own_memory(x, y, w)
    x.grad.data[0, 0] = 9.0
    assert x.grad.numpy()[1, 1] == 1.0


class Pair(Function):
    """out = a + b, whose backward hands the same fresh array to both inputs."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        shared = grad * 1.0
        return shared, shared


def test_leaves_do_not_share_when_a_function_returns_one_array_twice():
    x = minidl.tensor([1.0], requires_grad=True)
    y = minidl.tensor([1.0], requires_grad=True)
    (Pair.apply(x, y) * 2).sum().backward()
    _assert_own_memory(x, y)


# ---- freeing the graph ------------------------------------------------------------------
def test_second_backward_through_a_freed_graph_is_an_error():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_backward_through_a_part_freed_by_an_earlier_backward():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (y * 2).sum().backward()


def test_retain_graph_allows_a_second_backward():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 3 * x.numpy() ** 2)
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_graph_saved_arrays_are_released_after_backward():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    node = y.grad_fn
    assert node.saved_tensors
    y.sum().backward()
    assert not node.saved_tensors


# ---- long chains ------------------------------------------------------------------------
def test_chain_of_100000_ops_is_iterative():
    x = minidl.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y, factor = x, 1.000001
    for _ in range(100_000):
        y = y * factor
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [factor**100_000] * 2, rtol=1e-9)


def test_chain_of_100000_mixed_ops_with_retain_graph():
    x = minidl.tensor([0.5], requires_grad=True)
    y = x
    for i in range(50_000):
        y = (y + 1.0) if i % 2 else (y * 1.0)
    y.sum().backward(retain_graph=True)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0])


# ---- no_grad ----------------------------------------------------------------------------
def test_no_grad_context_manager_and_nesting():
    x = minidl.tensor([1.0], requires_grad=True)
    assert minidl.is_grad_enabled()
    with minidl.no_grad():
        y = x * 2
        assert not minidl.is_grad_enabled()
        with minidl.enable_grad():
            z = x * 2
            assert minidl.is_grad_enabled()
        w = x * 2
        with minidl.no_grad():
            pass
        assert not minidl.is_grad_enabled()
    assert minidl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    assert not w.requires_grad


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with minidl.no_grad():
            1 / 0  # noqa: B018
    assert minidl.is_grad_enabled()


def test_no_grad_as_decorator():
    x = minidl.tensor([1.0], requires_grad=True)

    @minidl.no_grad()
    def double(t):
        return t * 2

    @minidl.no_grad
    def triple(t):
        return t * 3

    @minidl.no_grad()
    def countdown(n):  # re-entering the same decorator must restore the mode each time
        return minidl.is_grad_enabled() if n == 0 else countdown(n - 1)

    assert not double(x).requires_grad and not triple(x).requires_grad
    np.testing.assert_array_equal(triple(x).numpy(), [3.0])
    assert countdown(3) is False
    assert minidl.is_grad_enabled()
    assert (x * 2).requires_grad

    @minidl.enable_grad()
    def inner(t):
        return t * 2

    with minidl.no_grad():
        assert inner(x).requires_grad
        assert not minidl.is_grad_enabled()


# ---- user Functions -------------------------------------------------------------------
class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        assert isinstance(x, np.ndarray)
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * grad


class ScaledAdd(Function):
    """out = a + scale * b with a constant ``scale`` that gets no gradient."""

    @staticmethod
    def forward(ctx, a, scale, b):
        ctx.scale = scale
        return a + scale * b

    @staticmethod
    def backward(ctx, grad):
        need_a, need_scale, need_b = ctx.needs_input_grad
        assert not need_scale
        return (grad if need_a else None, None, ctx.scale * grad if need_b else None)


def test_user_function():
    x = minidl.tensor([1.0, -2.0], requires_grad=True)
    y = Cube.apply(x)
    assert isinstance(y, minidl.Tensor) and isinstance(y.grad_fn, Cube)
    np.testing.assert_array_equal(y.numpy(), [1.0, -8.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0])


def test_user_function_with_constants_and_needs_input_grad():
    a = minidl.tensor([1.0, 2.0], requires_grad=True)
    b = minidl.tensor([3.0, 4.0])
    out = ScaledAdd.apply(a, 10.0, b)
    np.testing.assert_array_equal(out.numpy(), [31.0, 42.0])
    assert out.grad_fn.needs_input_grad == (True, False, False)
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])
    assert b.grad is None


def test_function_without_grad_records_nothing():
    y = Cube.apply(minidl.tensor([2.0]))
    assert not y.requires_grad and y.grad_fn is None
    with minidl.no_grad():
        assert Cube.apply(minidl.tensor([2.0], requires_grad=True)).grad_fn is None


def test_builtin_ops_are_functions():
    x = minidl.tensor([1.0], requires_grad=True)
    for y in (x + 1, x * x, x.exp(), x[0], x.sum(), minidl.cat([x, x])):
        assert isinstance(y.grad_fn, minidl.Function)


class WrongCount(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad


class WrongShape(Function):
    @staticmethod
    def forward(ctx, a):
        return a.sum()

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_bad_user_backward_gives_clear_errors():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="WrongCount.backward returned 1 gradients for 2"):
        WrongCount.apply(x, x).sum().backward()
    with pytest.raises(RuntimeError, match=r"WrongShape.backward returned a gradient of shape"):
        WrongShape.apply(x).backward()
