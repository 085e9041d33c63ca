"""Indexing with PyTorch's rules, assignment into a tensor, and selection ops (gather,
scatter, masks). Expected values are worked out by hand from y[a, b, c] = 12a + 4b + c."""

import numpy as np
import pytest

import minidl
from minidl import gradcheck, gradgradcheck

rng = np.random.default_rng(0)
Y = minidl.tensor(np.arange(24.0).reshape(2, 3, 4))  # Y[a, b, c] = 12a + 4b + c


def leaf(*shape):
    return minidl.tensor(rng.standard_normal(shape), requires_grad=True)


def check(tensor, expected):
    expected = np.asarray(expected, dtype=float)
    assert tensor.shape == expected.shape
    np.testing.assert_array_equal(tensor.numpy(), expected)


# ---- where the advanced-index dims go ----------------------------------------------
MIXED = [
    # an int selects first, so [0, 1] indexes the last of the two dims left, in place
    ("int, slice, list", (0, slice(None), [0, 1]), [[0, 1], [4, 5], [8, 9]]),
    ("list, slice, int", ([0, 1], slice(None), 0), [[0, 4, 8], [12, 16, 20]]),
    ("slice, int, list", (slice(None), 0, [0, 1]), [[0, 1], [12, 13]]),
    ("list, int, list", ([0, 1], 0, [0, 1]), [0, 13]),
    # two index lists apart: their dims go first
    ("list, slice, list", ([0, 1], slice(None), [0, 1]), [[0, 4, 8], [13, 17, 21]]),
    ("list, slice 1:, list", ([0, 1], slice(1, None), [0, 1]), [[4, 8], [17, 21]]),
    ("None, int, slice, list", (None, 0, slice(None), [1, 2]), [[[1, 2], [5, 6], [9, 10]]]),
    ("ellipsis, list, int", (Ellipsis, [0, 1], 0), [[0, 4], [12, 16]]),
    ("int, list", (1, [0, 2]), [[12, 13, 14, 15], [20, 21, 22, 23]]),
    ("slice, list, int", (slice(None), [0, 2], 1), [[1, 9], [13, 21]]),
    ("int, column, None, row", (0, [[0], [1]], None, [1, 2]), [[[1], [2]], [[5], [6]]]),
    ("list, None, list", ([0, 1], None, [0, 1]), [[[0, 1, 2, 3]], [[16, 17, 18, 19]]]),
    ("negative ints", (-1, -2, -1), 19),
    ("repeated list", ([1, 1], 2, 3), [23, 23]),
]


@pytest.mark.parametrize("name, index, expected", MIXED, ids=[m[0] for m in MIXED])
def test_mixed_indices_follow_torch(name, index, expected):
    check(Y[index], expected)


def test_index_tensors_and_zero_d_tensors():
    check(Y[minidl.tensor(1), :, minidl.tensor([0, 1])], [[12, 13], [16, 17], [20, 21]])
    mask = minidl.tensor([True, False, True, False])
    check(Y[0, :, mask], [[0, 2], [4, 6], [8, 10]])
    plane = minidl.tensor([[True, False, True], [False, True, True]])
    check(Y[plane], [np.arange(4) + s for s in (0, 8, 16, 20)])
    check(Y[plane, 3], [3, 11, 19, 23])


def test_python_bools_add_a_dim():
    assert Y[True].shape == (1, 2, 3, 4)
    assert Y[False].shape == (0, 2, 3, 4)
    check(Y[0, True], [Y[0].numpy()])
    # True is an index tensor [0] on the new dim, broadcast with [0, 1] next to it
    check(
        Y[:, True, [0, 1]], [[Y.numpy()[0, 0], Y.numpy()[0, 1]], [Y.numpy()[1, 0], Y.numpy()[1, 1]]]
    )


def test_bad_indices_raise():
    with pytest.raises(IndexError, match="too many indices"):
        Y[0, 0, 0, 0]
    with pytest.raises(IndexError, match="long, int, byte or bool"):
        Y[minidl.tensor([0.0, 1.0])]
    with pytest.raises(IndexError):
        Y[2]
    with pytest.raises(IndexError):
        Y[0, :, [4]]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        Y[::-1]  # as in PyTorch; flip() reverses
    with pytest.raises(IndexError, match="single ellipsis"):
        Y[..., 0, ...]


def test_backward_accumulates_repeated_indices_in_torch_layout():
    x = minidl.tensor(np.zeros((2, 3, 4)), requires_grad=True)
    out = x[0, :, [0, 0, 1]]  # (3, 3): the list indexes the last dim in place
    assert out.shape == (3, 3)
    (out * minidl.tensor(np.array([1.0, 10.0, 100.0]))).sum().backward()
    expected = np.zeros((2, 3, 4))
    expected[0, :, 0] = 11.0
    expected[0, :, 1] = 100.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)


GRAD_INDICES = [
    (0, slice(None), [0, 1]),
    ([0, 1], slice(None), [2, 2]),
    (slice(None), 1, [3, 0, 3]),
    (None, 1, Ellipsis, [[0], [1]], slice(1, 3)),
    (np.array([True, False]), 2),
    ([1, 1, 0], slice(None, None, 2)),
    (-1, [-1, 0], None),
]


@pytest.mark.parametrize("index", GRAD_INDICES, ids=str)
def test_indexing_gradients_to_second_order(index):
    x = leaf(2, 3, 4)
    assert gradcheck(lambda t: t[index], x)
    assert gradgradcheck(lambda t: t[index] * t[index], x)


# ---- assignment ---------------------------------------------------------------------
def test_setitem_writes_in_place_with_torch_placement():
    z = minidl.zeros(2, 3, 4, dtype="float64")
    data = z.data
    z[0, :, [0, 1]] = minidl.tensor(np.arange(6.0).reshape(3, 2))  # (3, 2), not NumPy's (2, 3)
    assert z.data is data and z._version == 1
    expected = np.zeros((2, 3, 4))
    expected[0, :, :2] = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(z.numpy(), expected)
    z[1] = 7  # a number, broadcast
    z[z > 6] = -1.0  # a mask
    expected[1] = -1
    np.testing.assert_array_equal(z.numpy(), expected)
    assert z._version == 3


def test_setitem_on_a_leaf_that_requires_grad():
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 5.0
    with minidl.no_grad():
        x[0] = 5.0
    np.testing.assert_array_equal(x.numpy(), [5.0, 2.0, 3.0])
    assert x.is_leaf and x.grad_fn is None


def test_setitem_on_a_non_leaf_is_recorded():
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = minidl.tensor([10.0, 20.0], requires_grad=True)
    y = x * 2
    y[[0, 2]] = v * 3
    np.testing.assert_array_equal(y.numpy(), [30.0, 4.0, 60.0])
    (y * minidl.tensor([1.0, 2.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 4.0, 0.0])  # overwritten: no grad
    np.testing.assert_array_equal(v.grad.numpy(), [3.0, 12.0])


def test_setitem_broadcast_value_gets_the_summed_gradient():
    v = minidl.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    z = minidl.zeros(2, 3, 4, dtype="float64")
    z[0] = v  # written into 3 rows
    z.sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [3.0, 3.0, 3.0, 3.0])


def test_setitem_after_a_saved_use_refuses_backward():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y * y  # saves y
    y[0] = 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_setitem_second_order():
    def f(x, v):
        y = x * 1
        y[0, :, [0, 1]] = v * v
        return y * y

    assert gradcheck(f, [leaf(2, 3, 4), leaf(3, 2)])
    assert gradgradcheck(f, [leaf(2, 3, 4), leaf(3, 2)])


# ---- gather, scatter and friends --------------------------------------------------
def test_gather_and_scatter_values():
    x = minidl.tensor([[1.0, 2.0], [3.0, 4.0]])
    check(minidl.gather(x, 1, minidl.tensor([[0, 0], [1, 0]])), [[1, 1], [4, 3]])
    check(x.gather(0, minidl.tensor([[1, 0]])), [[3, 2]])
    src = minidl.tensor(np.arange(1.0, 11.0).reshape(2, 5))
    index = minidl.tensor([[0, 1, 2, 0]])
    check(
        minidl.zeros(3, 5).scatter(0, index, src),
        [[1, 0, 0, 4, 0], [0, 2, 0, 0, 0], [0, 0, 3, 0, 0]],
    )
    check(
        minidl.zeros(3, 5).scatter_add(0, minidl.tensor([[0, 1, 2, 0, 0]]), minidl.ones(2, 5)),
        [[1, 0, 0, 1, 1], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0]],
    )
    check(minidl.zeros(3).scatter_add(0, minidl.tensor([1, 1, 1]), minidl.ones(3)), [0, 3, 0])
    np.testing.assert_allclose(
        minidl.zeros(2, 4).scatter(1, minidl.tensor([[2], [3]]), value=1.5).numpy(),
        [[0, 0, 1.5, 0], [0, 0, 0, 1.5]],
    )


def test_gather_scatter_errors():
    x = minidl.zeros(2, 3)
    with pytest.raises(RuntimeError, match="out of bounds"):
        x.gather(1, minidl.tensor([[3]]))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(1, minidl.tensor([0]))
    with pytest.raises(IndexError, match=r"range of \[-2, 1\]"):
        x.gather(2, minidl.tensor([[0]]))
    with pytest.raises(RuntimeError, match="int64"):
        x.gather(1, minidl.tensor([[0.0]]))


def test_selection_values():
    x = minidl.tensor(np.arange(12.0).reshape(3, 4))
    check(x.index_select(1, minidl.tensor([3, 0, 3])), [[3, 0, 3], [7, 4, 7], [11, 8, 11]])
    check(minidl.take_along_dim(x, minidl.tensor([[1], [0], [3]]), 1), [[1], [4], [11]])
    check(minidl.take_along_dim(x, minidl.tensor([5, 0])), [5, 0])  # flattened
    check(x.masked_fill(x > 8, -1.0), [[0, 1, 2, 3], [4, 5, 6, 7], [8, -1, -1, -1]])
    check(x.masked_select(x % 5 == 0), [0, 5, 10])
    check(x.masked_select(minidl.tensor([True, False, False, True])), [0, 3, 4, 7, 8, 11])
    nz = minidl.nonzero(minidl.tensor([[0, 1], [2, 0]]))
    assert nz.dtype == np.int64
    check(nz, [[0, 1], [1, 0]])
    rows, cols = minidl.nonzero(minidl.tensor([[0, 1], [2, 0]]), as_tuple=True)
    check(rows, [0, 1])
    check(cols, [1, 0])
    onehot = minidl.nn.functional.one_hot(minidl.tensor([2, 0]), 4)
    assert onehot.dtype == np.int64
    check(onehot, [[0, 0, 1, 0], [1, 0, 0, 0]])
    check(minidl.nn.functional.one_hot(minidl.tensor([[1], [2]])), [[[0, 1, 0]], [[0, 0, 1]]])
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        minidl.nn.functional.one_hot(minidl.tensor([3]), 3)


def test_where_with_numbers_follows_torch_dtypes():
    cond = minidl.tensor([True, False])
    out = minidl.where(cond, 1.0, 0.0)
    assert out.dtype == np.float32
    check(out, [1, 0])
    assert minidl.where(cond, 1, 0).dtype == np.int64
    ints = minidl.tensor([5, 6])
    assert minidl.where(cond, ints, 0.5).dtype == np.float32
    x = minidl.tensor([1.0, 2.0], dtype="float64")
    assert minidl.where(cond, x, 0).dtype == np.float64
    (rows,) = minidl.where(minidl.tensor([0, 3, 0, 1]))
    check(rows, [1, 3])
    with pytest.raises(RuntimeError, match="boolean"):
        minidl.where(minidl.tensor([1, 0]), x, x)


SELECTION = {
    "gather": lambda t: t.gather(1, minidl.tensor([[0, 0, 3], [2, 1, 1], [3, 3, 3]])),
    "scatter": lambda t: t.scatter(1, minidl.tensor([[3], [1], [0]]), t[:, :1] * t[:, 1:2]),
    "scatter_value": lambda t: t.scatter(0, minidl.tensor([[2, 0, 1, 1]]), value=2.0) * t,
    "scatter_add": lambda t: t.scatter_add(
        0, minidl.tensor([[0, 0, 2, 0], [0, 1, 1, 0]]), t[1:] * t[1:]
    ),
    "index_select": lambda t: t.index_select(0, minidl.tensor([2, 2, 0])),
    "take_along_dim": lambda t: minidl.take_along_dim(t, minidl.tensor([[0], [3], [1]]), 1),
    "masked_fill": lambda t: t.masked_fill(minidl.tensor([True, False, True, False]), 0.5),
    "masked_fill_tensor": lambda t: t.masked_fill(
        minidl.tensor([[True], [False], [True]]), t[0, 0] * 2
    ),
    "masked_select": lambda t: t.masked_select(minidl.tensor([[True, False, True, True]])),
    "where_scalar": lambda t: minidl.where(minidl.tensor([True, False, False, True]), t, 2.0),
}


@pytest.mark.parametrize("name", SELECTION)
def test_selection_gradients_to_second_order(name):
    fn = SELECTION[name]
    x = leaf(3, 4)
    assert gradcheck(fn, x)
    assert gradgradcheck(lambda t: fn(t) * fn(t), x)


def test_non_differentiable_outputs_have_no_grad():
    x = leaf(3, 4)
    assert not minidl.nonzero(x > 0).requires_grad
    assert not minidl.argsort(x).requires_grad
    assert not x.topk(2)[1].requires_grad
    assert not x.cummax(0)[1].requires_grad
    assert not minidl.nn.functional.one_hot(minidl.tensor([1])).requires_grad


def test_setitem_keeps_the_history_earlier_ops_saw():
    # z used y before the write: its gradient flows to y's old history, unmasked
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    z = y + 1
    y[0] = 5.0
    (z.sum() + (y * minidl.tensor([1.0, 10.0, 100.0])).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 22.0, 202.0])


def test_in_place_selection_forms():
    x = minidl.tensor([[1.0, 2.0], [3.0, 4.0]])
    data = x.data
    x.masked_fill_(x > 2, 0.0)
    x.scatter_(1, minidl.tensor([[1], [0]]), value=9.0)
    x.scatter_add_(0, minidl.tensor([[1, 1]]), minidl.tensor([[10.0, 20.0]]))
    x.triu_()
    check(x, [[1, 9], [0, 20]])
    assert x.data is data and x._version == 4


def test_where_promotes_like_torch():
    cond = minidl.tensor([True, False])
    f32, f64_0d = minidl.tensor([1.0, 2.0]), minidl.tensor(3.0, dtype="float64")
    assert minidl.where(cond, f32, f64_0d).dtype == np.float32  # a 0-d tensor does not upcast
    assert (
        minidl.where(cond, minidl.tensor([1, 2], dtype="int32"), minidl.tensor(3)).dtype == np.int32
    )
    assert minidl.where(cond, True, False).dtype == bool
    check(minidl.where(cond, 1, 2.5), [1.0, 2.5])
    check(minidl.where(cond, np.array([7.0, 8.0]), f32), [7.0, 2.0])  # an array: a constant


@pytest.mark.parametrize(
    "cond_shape, x_shape, y_shape",
    [((3, 1), (1, 4), (3, 4)), ((4,), (3, 4), ()), ((2, 1, 4), (3, 1), (1, 3, 4))],
)
def test_where_broadcasts_and_sums_gradients_back(cond_shape, x_shape, y_shape):
    cond = minidl.tensor(rng.random(cond_shape) > 0.5)
    x, y = leaf(*x_shape), leaf(*y_shape)
    assert gradcheck(lambda a, b: minidl.where(cond, a, b), [x, y])
    assert gradgradcheck(lambda a, b: minidl.where(cond, a * b, b * b), [x, y])


def test_setitem_into_a_view_while_recording_is_refused():
    x = minidl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 2
    row = y[0]  # shares y's memory
    with pytest.raises(RuntimeError, match="view of another one"):
        row[1] = 5.0
    np.testing.assert_array_equal(y.numpy(), [[2, 4], [6, 8]])  # untouched
    y[0, 1] = 5.0  # into the base: recorded
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 0], [2, 2]])
    with minidl.no_grad():  # outside autograd a view writes through, as in PyTorch
        z = minidl.zeros(2, 2)
        z[1][0] = 7.0
    np.testing.assert_array_equal(z.numpy(), [[0, 0], [7, 0]])
