"""Where PyTorch raises, minidl raises (shape, indexing, gather/scatter, sorting, linear
algebra, conversions): each case here once returned a silent wrong result, a raw NumPy
error, or refused what PyTorch accepts. Expected values are worked out by hand."""

import numpy as np
import pytest

import minidl

F32, I64 = minidl.float32, minidl.int64


def arange(*shape, dtype=F32):
    return minidl.tensor(np.arange(int(np.prod(shape))).reshape(shape), dtype=dtype)


def check(tensor, expected, dtype=None):
    expected = np.asarray(expected)
    assert tensor.shape == expected.shape
    if dtype is not None:
        assert tensor.dtype == dtype
    np.testing.assert_array_equal(tensor.numpy(), expected)


# ---- shape ops ---------------------------------------------------------------------------
def test_reshape_refuses_negative_sizes_other_than_minus_one():
    with pytest.raises(RuntimeError, match="invalid shape dimension -6"):
        arange(2, 3).reshape(-6)
    check(arange(2, 3).reshape(-1), np.arange(6))


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.expand(2.0, 3),
        lambda x: x.repeat(2.5, 1),
        lambda x: x.tile((2.5,)),
        lambda x: x.split(1.5),
        lambda x: x.chunk(2.5),
        lambda x: x.tril(0.5),
        lambda x: x.narrow(1, 1.0, 2),
        lambda x: x.roll(1.5, 1),
    ],
)
def test_float_sizes_are_type_errors_not_truncated(call):
    with pytest.raises(TypeError):
        call(arange(1, 3))


def test_dims_of_a_0d_tensor_are_checked():
    x = minidl.tensor(2.0)
    for call in (
        lambda: x.flatten(1),
        lambda: minidl.sort(x, 1),
        lambda: minidl.argsort(x, 1),
        lambda: minidl.topk(x, 1, 1),
    ):
        with pytest.raises(IndexError, match="Dimension out of range"):
            call()
    check(x.flatten(0, -1), [2.0])
    check(x.transpose(0, -1), 2.0)
    check(x.movedim(0, -1), 2.0)
    for call in (lambda: x.split(1), lambda: x.chunk(1), lambda: x.unbind(0), lambda: x.roll(1, 0)):
        with pytest.raises(IndexError, match="no dimensions"):
            call()
    with pytest.raises(RuntimeError, match="0-dim"):
        x.narrow(0, 0, 1)
    with pytest.raises(TypeError, match="dims"):
        x.permute()
    with pytest.raises(TypeError, match="repeats"):
        x.repeat()


def test_expand_and_broadcast_to_errors_and_minus_one():
    x = arange(2, 3)
    with pytest.raises(RuntimeError, match="must match the existing size"):
        minidl.broadcast_to(x, (3, 3))
    with pytest.raises(RuntimeError, match="number of sizes provided"):
        minidl.broadcast_to(x, (3,))
    with pytest.raises(RuntimeError, match="invalid size -5"):
        arange(1, 3).expand(-5, 3)
    check(
        minidl.broadcast_to(x, (2, -1, 3)), np.broadcast_to(np.arange(6.0).reshape(2, 3), (2, 2, 3))
    )
    with pytest.raises(RuntimeError, match="negative"):
        x.repeat(-1, 2)


def test_cat_and_stack_promote_like_pytorch():
    f, i = minidl.tensor([0.5, 1.5]), minidl.tensor([1, 2])
    check(minidl.cat([f, i]), [0.5, 1.5, 1.0, 2.0], F32)  # NumPy would give float64
    check(minidl.stack([i, f]), [[1.0, 2.0], [0.5, 1.5]], F32)
    b = minidl.tensor([True])
    check(minidl.cat([b, i]), [1, 1, 2], I64)
    y = minidl.tensor([1.0, 2.0], requires_grad=True)
    minidl.cat([y.double(), minidl.tensor([3.0])]).sum().backward()
    check(y.grad, [1.0, 1.0], F32)


def test_cat_and_stack_argument_errors():
    x = arange(2, 3)
    with pytest.raises(TypeError, match="single Tensor"):
        minidl.cat(x)  # would have joined x's rows
    with pytest.raises(TypeError, match="single Tensor"):
        minidl.stack(x)
    with pytest.raises(TypeError, match="element 1"):
        minidl.cat([x, [[1.0, 2.0, 3.0]]])
    with pytest.raises(RuntimeError, match="zero-dimensional"):
        minidl.cat([minidl.tensor(1.0), minidl.tensor(2.0)])
    # PyTorch skips 1-D empty tensors in cat
    check(minidl.cat([minidl.tensor([]), x, minidl.tensor([])]), np.arange(6.0).reshape(2, 3))


def test_split_chunk_narrow_messages_and_empty_chunks():
    x = arange(4)
    with pytest.raises(RuntimeError, match="non-negative entries"):
        x.split([5, -1])
    with pytest.raises(RuntimeError, match="length must be non-negative"):
        x.narrow(0, 1, -1)
    pieces = minidl.zeros(0, 3).chunk(2)
    assert [p.shape for p in pieces] == [(0, 3), (0, 3)]


def test_roll_needs_shifts_tril_keeps_bool_unfold_size():
    with pytest.raises(RuntimeError, match="shifts"):
        arange(2, 3).roll((), ())
    b = minidl.tensor([[True, True], [True, True]])
    check(b.tril(), [[True, False], [True, True]], minidl.bool_)
    check(arange(2, 2, dtype=I64).triu(), [[0, 1], [0, 3]], I64)
    with pytest.raises(RuntimeError, match="size is -1"):
        arange(4).unfold(0, -1, 1)


# ---- indexing, masks, gather/scatter ----------------------------------------------------
@pytest.mark.parametrize("value", [None, [1.0, 2.0, 3.0], "a"])
def test_setitem_refuses_what_is_not_a_number_or_tensor(value):
    x = arange(3)
    with pytest.raises(TypeError, match="can't assign"):
        x[:] = value  # None used to write nan
    check(x, [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    "dtype, value",
    [(I64, float("nan")), (I64, float("inf")), (minidl.int32, 2**40), (F32, 1e40)],
)
def test_numbers_that_overflow_the_dtype_raise(dtype, value):
    x, mask = arange(3, dtype=dtype), minidl.tensor([True, False, True])
    index = minidl.tensor([0])
    for write in (
        lambda: x.__setitem__(0, value),
        lambda: x.masked_fill(mask, value),
        lambda: x.scatter(0, index, value=value),
    ):
        with pytest.raises(RuntimeError, match="overflow"):
            write()
    check(x, [0, 1, 2])


def test_numbers_that_fit_still_write():
    x = arange(3, dtype=I64)
    x[0] = 7.9  # truncated toward zero, as PyTorch
    check(x, [7, 1, 2], I64)
    f = arange(3)
    f[1] = float("inf")
    check(f.masked_fill(minidl.tensor([True, False, False]), float("nan"))[1:], [np.inf, 2.0])
    u = minidl.tensor([0, 1], dtype=np.uint8)
    u[0] = -1  # PyTorch wraps (NumPy raises)
    check(u, [255, 1])


def test_masked_fill_broadcasts_and_names_bad_shapes():
    out = arange(3).masked_fill(minidl.tensor([[True, False, True], [False] * 3]), 9.0)
    check(out, [[9.0, 1.0, 9.0], [0.0, 1.0, 2.0]])
    with pytest.raises(RuntimeError, match="broadcast"):
        arange(2, 3).masked_fill(minidl.tensor([True, False]), 9.0)
    with pytest.raises(RuntimeError, match="broadcast"):
        minidl.where(minidl.tensor([True, False]), arange(3), arange(2))


def test_one_hot_of_nothing_needs_num_classes():
    empty = minidl.tensor(np.zeros(0, np.int64))
    with pytest.raises(RuntimeError, match="infer"):
        minidl.nn.functional.one_hot(empty)
    assert minidl.nn.functional.one_hot(empty, 3).shape == (0, 3)


def test_gather_scatter_index_select_refuse_negative_indices():
    x, neg = arange(3, 4), minidl.tensor([[0, -1]])
    with pytest.raises(RuntimeError, match="index -1 is out of bounds"):
        x.gather(1, neg)  # NumPy would read the last column
    with pytest.raises(RuntimeError, match="index -1 is out of bounds"):
        x.scatter(1, neg, arange(1, 2))
    with pytest.raises(RuntimeError, match="index -1 is out of bounds"):
        x.index_select(1, minidl.tensor([-1]))
    with pytest.raises(RuntimeError, match="index 4 is out of bounds"):
        x.index_select(1, minidl.tensor([4]))
    # take_along_dim counts from the end, as PyTorch
    check(minidl.take_along_dim(x, minidl.tensor([[-1]]), 1), [[3.0], [7.0], [11.0]])
    with pytest.raises(RuntimeError, match="broadcast"):
        minidl.take_along_dim(x, minidl.tensor([[0], [1]]), 1)


def test_gather_index_types_and_0d_input():
    x = arange(3, 4)
    with pytest.raises(TypeError, match="must be Tensor"):
        minidl.gather(x, 1, [[0, 1]])
    with pytest.raises(RuntimeError, match="dtype"):
        arange(3, dtype=I64).scatter(0, minidl.tensor([0]), minidl.tensor([1.5]))
    s = minidl.tensor(5.0)
    check(s.gather(0, minidl.tensor(0)), 5.0)
    check(s.gather(0, minidl.tensor([0, 0])), [5.0, 5.0])


# ---- linear algebra -------------------------------------------------------------------
def test_products_promote_like_pytorch_and_refuse_bool_and_lists():
    i, f = arange(2, 2, dtype=I64), arange(2, 2)
    check(i @ f, [[2.0, 3.0], [6.0, 11.0]], F32)  # NumPy: float64
    check(minidl.dot(arange(2, dtype=I64), arange(2)), 1.0, F32)
    check(minidl.einsum("ij,jk->ik", i, f), [[2.0, 3.0], [6.0, 11.0]], F32)
    check(minidl.outer(arange(2, dtype=I64), arange(2)), [[0.0, 0.0], [0.0, 1.0]], F32)
    b = minidl.tensor([[True]])
    for call in (lambda: b @ b, lambda: minidl.trace(b), lambda: minidl.einsum("ij->", b)):
        with pytest.raises(RuntimeError, match="bool"):
            call()
    with pytest.raises(TypeError, match="must be a Tensor"):
        arange(3) @ [1.0, 2.0, 3.0]
    check(minidl.trace(arange(2, 2, dtype=minidl.int32)), 3, I64)


def test_outer_of_bools_is_their_and():
    out = minidl.outer(minidl.tensor([True, False]), minidl.tensor([True, True]))
    check(out, [[True, True], [False, False]], minidl.bool_)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.uint32])
def test_index_tensors_of_small_or_unsigned_ints_raise(dtype):
    with pytest.raises(IndexError, match="long, int, byte or bool"):
        arange(3)[minidl.tensor(np.array([1, 0], dtype))]


def test_view_with_a_dtype_says_it_is_not_supported():
    with pytest.raises(TypeError, match=r"view\(dtype\)"):
        arange(2).view(minidl.int32)


def test_sort_of_a_0d_tensor_keeps_its_dtype():
    check(minidl.sort(minidl.tensor(True)).values, True, minidl.bool_)  # a * 1 gave int64
    check(minidl.topk(minidl.tensor(2.5, dtype=minidl.float64), 1).values, 2.5, minidl.float64)
