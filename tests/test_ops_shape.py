"""Shape ops: values worked out by hand, gradients against finite differences (first and
second order, float64), PyTorch's dim checks and ``axis=`` aliases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import gradcheck, gradgradcheck

rng = np.random.default_rng(0)
A = minidl.tensor(np.arange(6.0).reshape(2, 3))  # [[0, 1, 2], [3, 4, 5]]


def leaf(*shape):
    return minidl.tensor(rng.standard_normal(shape), requires_grad=True)


def check(tensor, expected):
    expected = np.asarray(expected, dtype=float)
    assert tensor.shape == expected.shape
    np.testing.assert_array_equal(tensor.numpy(), expected)


def test_expand_and_repeat_values():
    col = minidl.tensor([[1.0], [2.0]])
    check(col.expand(2, 3), [[1, 1, 1], [2, 2, 2]])
    check(col.expand(2, -1, 2), [[[1, 1], [2, 2]], [[1, 1], [2, 2]]])
    check(col.expand_as(A), [[1, 1, 1], [2, 2, 2]])
    with pytest.raises(
        RuntimeError,
        match=r"expanded size of the tensor \(3\) must match the "
        r"existing size \(2\) at non-singleton dimension 0",
    ):
        col.expand(3, 2)
    check(minidl.tensor([1.0, 2.0]).repeat(2, 2), [[1, 2, 1, 2], [1, 2, 1, 2]])
    check(A.repeat(1, 2), [[0, 1, 2, 0, 1, 2], [3, 4, 5, 3, 4, 5]])
    check(A.repeat(2, 1, 1), [A.numpy(), A.numpy()])
    with pytest.raises(RuntimeError, match="can not be smaller"):
        A.repeat(2)
    check(minidl.tile(A, (2,)), [[0, 1, 2, 0, 1, 2], [3, 4, 5, 3, 4, 5]])  # missing dims: 1


def test_flip_roll_triangles_diagonals():
    check(A.flip(0), [[3, 4, 5], [0, 1, 2]])
    check(A.flip((0, 1)), [[5, 4, 3], [2, 1, 0]])
    check(A.roll(1, 1), [[2, 0, 1], [5, 3, 4]])
    check(A.roll((-1, 1), (1, 0)), [[4, 5, 3], [1, 2, 0]])
    check(A.roll(2), [[4, 5, 0], [1, 2, 3]])  # over the flattened tensor
    square = minidl.tensor(np.arange(1.0, 10.0).reshape(3, 3))
    check(square.tril(), [[1, 0, 0], [4, 5, 0], [7, 8, 9]])
    check(square.triu(1), [[0, 2, 3], [0, 0, 6], [0, 0, 0]])
    check(A.tril(-1), [[0, 0, 0], [3, 0, 0]])
    check(square.diagonal(), [1, 5, 9])
    check(A.diagonal(1), [1, 5])
    check(A.diagonal(-1), [3])
    check(minidl.tensor(np.arange(8.0).reshape(2, 2, 2)).diagonal(0, 1, 2), [[0, 3], [4, 7]])
    check(minidl.diag(minidl.tensor([1.0, 2.0])), [[1, 0], [0, 2]])
    check(minidl.diag(minidl.tensor([1.0, 2.0]), 1), [[0, 1, 0], [0, 0, 2], [0, 0, 0]])
    check(minidl.diag(square, -1), [4, 8])


def test_unfold_split_chunk_narrow_movedim():
    x = minidl.tensor(np.arange(1.0, 8.0))
    check(x.unfold(0, 2, 1)[:3], [[1, 2], [2, 3], [3, 4]])
    check(x.unfold(0, 2, 2), [[1, 2], [3, 4], [5, 6]])
    check(A.unfold(1, 2, 1), [[[0, 1], [1, 2]], [[3, 4], [4, 5]]])
    with pytest.raises(RuntimeError, match="maximum size"):
        x.unfold(0, 8, 1)
    pieces = x.split(3)
    assert [p.shape for p in pieces] == [(3,), (3,), (1,)]
    check(pieces[2], [7])
    check(x.split([2, 5])[1], [3, 4, 5, 6, 7])
    with pytest.raises(RuntimeError, match="sum exactly to 7"):
        x.split([2, 4])
    assert [p.shape for p in x.chunk(3)] == [(3,), (3,), (1,)]
    assert [p.shape for p in minidl.ones(6, 2).chunk(4)] == [(2, 2)] * 3  # like PyTorch
    check(A.narrow(1, 1, 2), [[1, 2], [4, 5]])
    with pytest.raises(RuntimeError, match="exceeds dimension size"):
        A.narrow(1, 2, 2)
    y = minidl.zeros(2, 3, 4)
    assert y.movedim(0, -1).shape == (3, 4, 2)
    assert y.movedim((0, 1), (2, 0)).shape == (3, 4, 2)
    assert y.swapaxes(0, 2).shape == (4, 3, 2)
    check(A.view_as(minidl.zeros(3, 2)), [[0, 1], [2, 3], [4, 5]])
    assert A.reshape_as(minidl.zeros(6)).shape == (6,)
    check(minidl.unbind(A, 1)[2], [2, 5])


SHAPE_OPS = {
    "expand": (lambda t: t.expand(2, 3, 4), (3, 1)),
    "repeat": (lambda t: t.repeat(2, 1, 3), (3, 2)),
    "tile": (lambda t: minidl.tile(t, (2, 1)), (2, 3)),
    "flip": (lambda t: t.flip((0, 2)), (2, 3, 4)),
    "roll": (lambda t: t.roll((1, -2), (0, 1)), (3, 4)),
    "tril": (lambda t: t.tril(-1), (2, 3, 4)),
    "triu": (lambda t: t.triu(1), (3, 4)),
    "diagonal": (lambda t: t.diagonal(1, 0, 2), (3, 2, 4)),
    "diag_embed": (lambda t: minidl.diag(t, -1), (3,)),
    "diag_take": (lambda t: minidl.diag(t, 1), (3, 4)),
    "unfold": (lambda t: t.unfold(1, 2, 2), (2, 5, 3)),
    "split": (lambda t: t.split([1, 3], 1)[1], (2, 4)),
    "chunk": (lambda t: t.chunk(3, 0)[2], (5, 2)),
    "narrow": (lambda t: t.narrow(1, 1, 2), (2, 4)),
    "movedim": (lambda t: t.movedim((0, 1), (2, 0)), (2, 3, 4)),
    "broadcast_to": (lambda t: minidl.broadcast_to(t, (2, 3, 4)), (3, 1)),
    "unbind": (lambda t: minidl.unbind(t, 1)[1], (2, 3)),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_op_gradients_to_second_order(name):
    fn, shape = SHAPE_OPS[name]
    assert gradcheck(fn, leaf(*shape))
    assert gradgradcheck(lambda t: fn(t) * fn(t), leaf(*shape))


def test_repeat_gradient_sums_the_copies():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    (x.repeat(3) * minidl.tensor([1.0, 2, 10, 20, 100, 200])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [111.0, 222.0])


# ---- PyTorch's dim checks and aliases ---------------------------------------------
OUT_OF_RANGE = {
    "squeeze": lambda t: t.squeeze(2),
    "unsqueeze": lambda t: t.unsqueeze(3),
    "permute": lambda t: t.permute(0, 2),
    "transpose": lambda t: t.transpose(0, -3),
    "cat": lambda t: minidl.cat([t, t], 2),
    "stack": lambda t: minidl.stack([t, t], -4),
    "flip": lambda t: t.flip(2),
    "roll": lambda t: t.roll(1, 2),
    "diagonal": lambda t: t.diagonal(0, 0, 2),
    "unfold": lambda t: t.unfold(2, 1, 1),
    "split": lambda t: t.split(1, 2),
    "chunk": lambda t: t.chunk(2, -3),
    "narrow": lambda t: t.narrow(2, 0, 1),
    "movedim": lambda t: t.movedim(2, 0),
    "gather": lambda t: t.gather(2, minidl.tensor([[0]])),
    "index_select": lambda t: t.index_select(2, minidl.tensor([0])),
    "cumsum": lambda t: t.cumsum(2),
    "sort": lambda t: t.sort(2),
    "topk": lambda t: t.topk(1, 2),
    "var": lambda t: t.var(2),
    "prod": lambda t: t.prod(-3),
    "norm": lambda t: t.norm(dim=2),
    "logsumexp": lambda t: t.logsumexp(2),
    "any": lambda t: t.any(2),
    "softmax": lambda t: t.softmax(2),
    "argmax": lambda t: t.argmax(2),
}


@pytest.mark.parametrize("name", OUT_OF_RANGE)
def test_out_of_range_dims_name_the_valid_range(name):
    x = minidl.zeros(2, 3)
    expected = r"range of \[-3, 2\]" if name in ("unsqueeze", "stack") else r"range of \[-2, 1\]"
    with pytest.raises(IndexError, match=expected):
        OUT_OF_RANGE[name](x)


def test_numpy_spellings_where_torch_takes_them():
    x = minidl.tensor(np.arange(6.0).reshape(2, 3))
    check(minidl.cat([x, x], axis=1)[:, 3:], x.numpy())
    check(minidl.stack([x, x], axis=0)[1], x.numpy())
    assert x.unsqueeze(axis=0).shape == (1, 2, 3)
    assert x[None].squeeze(axis=0).shape == (2, 3)
    check(x.argmax(axis=1, keepdims=True), [[2], [2]])
    np.testing.assert_allclose(x.softmax(axis=0).sum(0).numpy(), [1, 1, 1])
    check(x.prod(axis=1, keepdims=True), [[0], [60]])
    check(x.cumsum(axis=1), [[0, 1, 3], [3, 7, 12]])
    check(x.sort(axis=0, descending=True).values, [[3, 4, 5], [0, 1, 2]])
    check(x.narrow(axis=1, start=0, length=1), [[0], [3]])
    assert x.var(axis=0, keepdims=True).shape == (1, 3)
    assert x.logsumexp(axis=1).shape == (2,)
    with pytest.raises(TypeError, match="unexpected keyword"):
        x.cumsum(axis=1, keepdims=True)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 20))
def test_flip_twice_and_roll_back_are_identities(shape, shift):
    x = minidl.tensor(np.arange(float(np.prod(shape))).reshape(shape))
    dims = tuple(range(len(shape)))
    check(x.flip(dims).flip(dims), x.numpy())
    check(x.roll(shift, 0).roll(-shift, 0), x.numpy())
    check(x.roll(shift, 0), np.roll(x.numpy(), shift, 0))
