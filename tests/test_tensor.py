"""Tensor construction, dtypes, conversions, repr and the creation functions."""

import numpy as np
import pytest

import minidl
from minidl import Tensor


# ---- dtypes ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, dtype",
    [
        (1.5, np.float32),
        ([1.0, 2.0], np.float32),
        ([[1, 2.5]], np.float32),
        (3, np.int64),
        ([1, 2], np.int64),
        (True, np.bool_),
        ([True, False], np.bool_),
        (np.array([1.0, 2.0]), np.float64),
        (np.float64(2.0), np.float64),
        (np.array([1, 2], dtype=np.int32), np.int32),
        (np.ones(2, np.float32), np.float32),
    ],
)
def test_default_dtypes(data, dtype):
    t = minidl.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))


@pytest.mark.parametrize("dtype", [np.float64, "float64", np.dtype("float64"), minidl.float64])
def test_explicit_dtype(dtype):
    assert minidl.tensor([1, 2], dtype=dtype).dtype == np.float64
    assert minidl.zeros(2, dtype=dtype).dtype == np.float64
    assert minidl.ones((2, 1), dtype=dtype).dtype == np.float64
    assert minidl.randn(3, dtype=dtype).dtype == np.float64
    assert minidl.rand(3, dtype=dtype).dtype == np.float64
    assert minidl.full((2,), 7, dtype=dtype).dtype == np.float64


def test_float64_is_kept_through_ops():
    x = minidl.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ((x * 2.5 + 1) / 3 - x**2).exp().sum()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_python_and_numpy_scalars_keep_float32():
    x = minidl.tensor([1.0, 2.0])
    for y in (
        x + 1,
        2 * x,
        x / 3.0,
        1 - x,
        x**2,
        x * np.float64(2.0),
        np.float64(2.0) * x,
        x + np.int64(1),
        np.float32(2) * x,
    ):
        assert y.dtype == np.float32


def test_requires_grad_on_integer_tensor_raises():
    with pytest.raises(TypeError, match="floating point"):
        minidl.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating point"):
        minidl.arange(3).requires_grad_()
    with pytest.raises(TypeError, match="floating point"):
        minidl.zeros(2, dtype="int64", requires_grad=True)


# ---- construction and copies --------------------------------------------------------
def test_tensor_copies_and_Tensor_wraps():
    source = np.array([1.0, 2.0, 3.0])
    copied, wrapped = minidl.tensor(source), Tensor(source)
    source[0] = 100.0
    assert copied.numpy()[0] == 1.0
    assert wrapped.data is source
    again = minidl.tensor(copied)
    assert again.data is not copied.data and not np.shares_memory(again.data, copied.data)


def test_attributes():
    t = minidl.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert isinstance(t.data, np.ndarray)
    assert t.shape == (2, 3) and t.ndim == 2 and t.dtype == np.float32
    assert t.grad is None and t.requires_grad and t.is_leaf and t.grad_fn is None
    assert t.device == "cpu" and len(t) == 2 and t.numel() == 6 and t.size(1) == 3
    assert t.T.shape == (3, 2)
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_numpy_returns_an_independent_host_copy():
    t = minidl.tensor([1.0, 2.0])
    host = t.numpy()
    assert isinstance(host, np.ndarray)
    host[0] = 50.0
    assert t.numpy()[0] == 1.0


def test_item_and_python_conversions():
    assert minidl.tensor(2.5).item() == 2.5 and isinstance(minidl.tensor(2.5).item(), float)
    assert minidl.tensor([[7]]).item() == 7 and isinstance(minidl.tensor([7]).item(), int)
    assert float(minidl.tensor([1.5])) == 1.5 and int(minidl.tensor(3)) == 3
    with pytest.raises(ValueError, match="shape"):
        minidl.tensor([1.0, 2.0]).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(minidl.tensor([1.0, 2.0]))
    assert bool(minidl.tensor([1.0])) and not bool(minidl.tensor(0.0))
    with pytest.raises(TypeError):
        len(minidl.tensor(1.0))


def test_detach_shares_data_and_leaves_the_graph():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert d.data is y.data
    (d * x).sum().backward()  # gradient only reaches x through the second factor
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])


def test_requires_grad_():
    x = minidl.tensor([1.0])
    assert x.requires_grad_() is x and x.requires_grad
    assert not x.requires_grad_(False).requires_grad
    y = minidl.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)


def test_to_dtype_is_differentiable_and_integer_cast_leaves_the_graph():
    x = minidl.tensor([1.5, 2.5], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 5.0])
    z = x.long()
    assert z.dtype == np.int64 and not z.requires_grad
    np.testing.assert_array_equal(z.numpy(), [1, 2])
    assert x.to(dtype="float32") is x and x.float() is x


def test_cpu_to_cpu_is_the_same_tensor():
    x = minidl.tensor([1.0])
    assert x.cpu() is x and x.to("cpu") is x and x.to("numpy") is x


def test_ndarray_on_the_left_gives_a_tensor():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([10.0, 20.0]) * x + np.ones(2)
    assert isinstance(y, Tensor) and y.requires_grad
    np.testing.assert_allclose(y.numpy(), [11.0, 41.0])


# ---- repr ---------------------------------------------------------------------------
def test_repr():
    assert repr(minidl.tensor([1.0, 2.5])) == "tensor([1. , 2.5])"
    leaf = minidl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert repr(leaf) == "tensor([[1., 2.],\n        [3., 4.]], requires_grad=True)"
    assert repr(minidl.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(minidl.tensor(np.array([0.5]))) == "tensor([0.5], dtype=float64)"
    assert repr(minidl.tensor([True])) == "tensor([ True], dtype=bool)"
    assert repr(leaf * 2).endswith("grad_fn=<MulBackward>)")
    assert repr(minidl.tensor(3.0)) == "tensor(3.)"


# ---- creation -----------------------------------------------------------------------
def test_zeros_ones_full_like():
    for shape_args in [(2, 3), ((2, 3),), ([2, 3],)]:
        z = minidl.zeros(*shape_args)
        assert z.shape == (2, 3) and z.dtype == np.float32 and not z.numpy().any()
        assert (minidl.ones(*shape_args).numpy() == 1).all()
    assert minidl.zeros(()).shape == ()
    np.testing.assert_array_equal(minidl.full((2,), 7.0).numpy(), [7.0, 7.0])
    x = minidl.tensor(np.ones((2, 2)))
    for like in (minidl.zeros_like(x), minidl.ones_like(x)):
        assert like.shape == (2, 2) and like.dtype == np.float64
    assert minidl.ones_like(x, dtype="float32").dtype == np.float32
    assert minidl.ones(2, requires_grad=True).requires_grad


@pytest.mark.parametrize(
    "args, expected",
    [
        ((5,), np.arange(5)),
        ((2, 7, 2), np.arange(2, 7, 2)),
        ((0.0, 1.0, 0.25), np.arange(0, 1, 0.25)),
        ((3.0,), np.arange(3.0)),
    ],
)
def test_arange(args, expected):
    t = minidl.arange(*args)
    assert t.dtype == (np.int64 if expected.dtype.kind == "i" else np.float32)
    np.testing.assert_allclose(t.numpy(), expected)


def test_rand_randn_manual_seed():
    minidl.manual_seed(123)
    a, b = minidl.rand(4000), minidl.randn(4000)
    minidl.manual_seed(123)
    np.testing.assert_array_equal(minidl.rand(4000).numpy(), a.numpy())
    np.testing.assert_array_equal(minidl.randn(4000).numpy(), b.numpy())
    minidl.manual_seed(124)
    assert not np.array_equal(minidl.rand(4000).numpy(), a.numpy())
    assert a.dtype == b.dtype == np.float32 and a.shape == (4000,)
    assert a.numpy().min() >= 0 and a.numpy().max() < 1 and abs(a.numpy().mean() - 0.5) < 0.05
    assert abs(b.numpy().mean()) < 0.1 and abs(b.numpy().std() - 1) < 0.1
    assert minidl.randn(2, 3).shape == (2, 3) and minidl.rand((3, 1)).shape == (3, 1)
    assert minidl.randn(2, requires_grad=True).requires_grad


# ---- methods ------------------------------------------------------------------------
def test_every_forwarding_method_is_its_op():
    from minidl import ops
    from minidl.tensor import _OP_METHODS

    assert len(set(_OP_METHODS)) == len(_OP_METHODS), "a name is listed twice"
    x = minidl.tensor([[1.0, -2.0], [3.0, 4.0]])
    for name in _OP_METHODS:
        assert getattr(Tensor, name) is getattr(ops, name), name
    np.testing.assert_array_equal(x.add(1).numpy(), x.numpy() + 1)
    np.testing.assert_array_equal(x.mul(x).numpy(), x.numpy() ** 2)
    np.testing.assert_array_equal(x.neg().numpy(), -x.numpy())
    assert x.sum(dim=1).shape == (2,) and x.view(4).shape == (4,)


# ---- construction from Python data, iteration ---------------------------------------------
def test_tensor_from_a_list_of_zero_d_tensors_is_numeric():
    a, b = minidl.tensor(1.0), minidl.tensor(2.5)
    t = minidl.tensor([a, b])
    assert t.dtype == np.float32 and t.tolist() == [1.0, 2.5]
    assert minidl.tensor([minidl.tensor(1), minidl.tensor(2)]).dtype == np.int64
    assert minidl.tensor([minidl.tensor(1), minidl.tensor(2.0)]).dtype == np.float32
    assert minidl.tensor([[a], [b]]).shape == (2, 1)
    with pytest.raises(ValueError, match="one-element tensors.*shape \\(2,\\).*stack"):
        minidl.tensor([minidl.tensor([1.0, 2.0])])


@pytest.mark.parametrize(
    "data, named",
    [
        (None, "NoneType"),
        (["a"], "str"),
        ([1, None], "NoneType"),
        ("abc", "str"),
        ({"a": 1}, "dict"),
        ([[1.0, object()]], "object"),
        (b"ab", "bytes"),
    ],
)
def test_non_numeric_data_is_refused(data, named):
    with pytest.raises(TypeError, match=f"numeric dtype from data of type {named}"):
        minidl.tensor(data)
    with pytest.raises(TypeError, match="numeric dtype"):
        Tensor(data)


def test_ragged_lists_are_refused():
    with pytest.raises(ValueError, match="inhomogeneous"):
        minidl.tensor([[1], [2, 3]])


def test_iteration_yields_rows_and_refuses_zero_d():
    t = minidl.tensor([[1, 2], [3, 4], [5, 6]])
    rows = list(t)
    assert len(rows) == 3 and all(isinstance(r, Tensor) for r in rows)
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4], [5, 6]]
    assert [x.item() for x in minidl.tensor([7.0, 8.0])] == [7.0, 8.0]
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(minidl.tensor(1.0))
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    sum(v * v for v in x).backward()  # rows are differentiable views
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_small_methods_like_pytorch():
    x = minidl.tensor([[1.5, -2.0, 3.0]])
    assert x.t().shape == (3, 1) and minidl.tensor([1.0, 2.0]).t().shape == (2,)
    with pytest.raises(RuntimeError, match="<= 2 dimensions, but self is 3D"):
        minidl.zeros(1, 2, 3).t()
    assert x.int().dtype == np.int32 and x.int().tolist() == [[1, -2, 3]]
    assert x.half().dtype == np.float16 and x.bool().tolist() == [[True, True, True]]
    assert x.type_as(minidl.tensor([1])).dtype == np.int64
    assert x.is_floating_point() and not x.long().is_floating_point()
    assert x.element_size() == 4 and x.nelement() == 3 and x.ndimension() == 2
    assert x.is_contiguous() and x.contiguous() is x
    transposed = minidl.tensor(np.ones((3, 2))).T
    assert not transposed.is_contiguous() and transposed.contiguous().is_contiguous()
    d = minidl.tensor(np.array([1.0], np.float64))
    assert d.new_zeros(2, 3).dtype == np.float64 and d.new_zeros((2, 3)).shape == (2, 3)
    assert d.new_ones(2).tolist() == [1.0, 1.0] and d.new_empty(1).shape == (1,)
    assert d.new_full((2,), 3).dtype == np.float64 and d.new_tensor([1, 2]).dtype == np.float64


def test_uniform_and_normal_fill_in_place():
    minidl.manual_seed(0)
    x = minidl.zeros(4000)
    memory = x.data
    x.uniform_(2.0, 3.0)
    assert x.data is memory and x._version == 1
    assert x.numpy().min() >= 2.0 and x.numpy().max() < 3.0 and abs(x.numpy().mean() - 2.5) < 0.05
    x.normal_(1.0, 2.0)
    assert abs(x.numpy().mean() - 1.0) < 0.15 and abs(x.numpy().std() - 2.0) < 0.15
    with pytest.raises(TypeError, match="floating point"):
        minidl.tensor([1, 2]).uniform_()
    w = minidl.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.normal_()
    with minidl.no_grad():
        w.normal_()


def test_contains_looks_at_every_element():
    t = minidl.tensor([[1, 2], [3, 4]])
    assert 3 in t and 5 not in t and 2.0 in t and minidl.tensor(4) in t
    with pytest.raises(RuntimeError, match="only supports Tensor or scalar"):
        "a" in t  # noqa: B015


def test_to_takes_a_dtype_or_a_tensor_first_as_pytorch():
    x = minidl.tensor([1.5, 2.5])
    assert x.to(np.float64).dtype == np.float64
    assert x.to("float16").dtype == np.float16
    assert x.to(minidl.tensor([1, 2])).dtype == np.int64  # the other tensor's dtype
    assert x.to("cpu") is x and x.to("cpu", np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        x.to("tpu")


def test_only_integer_tensors_are_indices_and_fill_refuses_overflow():
    items = [10, 11, 12]
    assert items[minidl.tensor(2)] == 12
    with pytest.raises(TypeError, match="only integer tensors"):
        items[minidl.tensor(1.0)]  # torch: TypeError too (int() would truncate 1.7)
    ints = minidl.zeros(3, dtype=np.int64)
    with pytest.raises(RuntimeError, match="cannot be converted to int64"):
        ints.fill_(float("nan"))  # NumPy would write -2**63
    with pytest.raises(RuntimeError, match="cannot be converted to float32"):
        minidl.zeros(2).fill_(1e40)
    assert minidl.zeros(2, dtype=np.uint8).fill_(-1).tolist() == [255, 255]  # wraps, as torch
    u = minidl.zeros(2, dtype=np.uint8)
    for write in (lambda: u.fill_(-1.5), lambda: u.__setitem__(0, -1.0)):
        with pytest.raises(RuntimeError, match="cannot be converted to uint8"):
            write()  # a negative float into uint8: torch refuses it, as full() does
