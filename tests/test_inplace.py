"""In-place ops (x.add_(y), x += y, fill_, copy_, ...) with PyTorch's rules: leaves that
require grad only under no_grad, every write bumps the version counter (so a backward
that saved the old values refuses), a recorded in-place op on a non-leaf re-bases it."""

import numpy as np
import pytest

import minidl
from minidl import gradcheck


def test_in_place_arithmetic_writes_into_the_same_memory():
    x = minidl.tensor([1.0, 2.0, 3.0])
    memory = x.data
    assert x.add_(1) is x and x.data is memory
    np.testing.assert_array_equal(x.numpy(), [2.0, 3.0, 4.0])
    x.mul_(minidl.tensor([1.0, 2.0, 3.0])).sub_(1).div_(2)
    np.testing.assert_array_equal(x.numpy(), [0.5, 2.5, 5.5])
    x.clamp_(1, 5).neg_()
    np.testing.assert_array_equal(x.numpy(), [-1.0, -2.5, -5.0])
    x.abs_().sqrt_().pow_(2).exp_().log_()
    np.testing.assert_allclose(x.numpy(), [1.0, 2.5, 5.0], rtol=1e-6)
    assert x.data is memory and x._version == 11


def test_augmented_assignment_is_in_place():
    x = minidl.tensor([4.0, 6.0])
    alias = x
    x += 1
    x -= minidl.tensor([1.0, 1.0])
    x *= 3
    x /= 2
    x **= 2
    assert x is alias
    np.testing.assert_array_equal(x.numpy(), [36.0, 81.0])
    i = minidl.tensor([7, 9])
    i //= 2
    i %= 3
    i &= 1
    i |= 2
    i ^= 1
    i <<= 2
    i >>= 1
    np.testing.assert_array_equal(i.numpy(), [6, 4])  # [3,4] [0,1] [0,1] [2,3] [3,2] [12,8]


def test_sgd_step_under_no_grad_updates_the_parameter_in_place():
    w = minidl.tensor([1.0, 2.0], requires_grad=True)
    reference = w.data
    (w * w).sum().backward()
    with minidl.no_grad():
        w -= 0.1 * w.grad
    assert w.data is reference and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6])


def test_leaf_that_requires_grad_refuses_in_place_outside_no_grad():
    w = minidl.tensor([1.0], requires_grad=True)
    for op in (
        lambda: w.add_(1),
        lambda: w.mul_(2),
        lambda: w.zero_(),
        lambda: w.fill_(3.0),
        lambda: w.copy_(minidl.tensor([2.0])),
        lambda: w.exp_(),
    ):
        with pytest.raises(
            RuntimeError,
            match="a leaf Variable that requires grad is being used in an in-place operation.",
        ):
            op()
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w += 1
    assert w.item() == 1.0 and w._version == 0


def test_modifying_a_saved_tensor_makes_backward_refuse():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    w = minidl.tensor([3.0, 4.0], requires_grad=True)
    y = x * w
    with minidl.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_every_write_bumps_the_version():
    x = minidl.tensor([1.0, 2.0])
    versions = [x._version]
    for op in (
        lambda: x.add_(1),
        lambda: x.zero_(),
        lambda: x.fill_(2),
        lambda: x.copy_(minidl.tensor([5.0, 6.0])),
        lambda: x.clamp_(max=5),
    ):
        op()
        versions.append(x._version)
    assert versions == [0, 1, 2, 3, 4, 5]


def test_in_place_on_a_non_leaf_rebases_its_history():
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.mul_(x)  # y = 2 x^2
    y.add_(1).exp_()  # y = exp(2 x^2 + 1)
    assert y.grad_fn is not None and not y.is_leaf
    v = x.numpy()
    np.testing.assert_allclose(y.numpy(), np.exp(2 * v * v + 1), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(2 * v * v + 1) * 4 * v, rtol=1e-5)


def test_in_place_rebase_matches_finite_differences():
    def fn(x, w):
        y = x * 1.0
        y.mul_(w).sin_()
        y.clamp_(-0.5, 0.9)
        y += w
        return y

    x = minidl.tensor(np.random.default_rng(0).uniform(-1, 1, (3, 4)), requires_grad=True)
    w = minidl.tensor(np.random.default_rng(1).uniform(-1, 1, (4,)), requires_grad=True)
    assert gradcheck(fn, [x, w])


def test_in_place_on_a_plain_tensor_with_an_operand_that_requires_grad():
    x = minidl.zeros(2)
    w = minidl.tensor([2.0, 3.0], requires_grad=True)
    x.add_(w).mul_(w)
    assert x.requires_grad
    x.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 6.0])


def test_copy_is_differentiable_with_respect_to_the_source():
    src = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = minidl.tensor([[5.0, 5.0], [5.0, 5.0]], requires_grad=True) * 1
    y.copy_(src)
    np.testing.assert_array_equal(y.numpy(), [[1.0, 2.0], [1.0, 2.0]])
    (y * 3).sum().backward()
    np.testing.assert_array_equal(src.grad.numpy(), [6.0, 6.0])


def test_fill_and_copy_cast_to_the_tensors_dtype():
    i = minidl.tensor([1, 2])
    i.fill_(2.5)
    assert i.dtype == np.int64 and i.tolist() == [2, 2]
    i.copy_(minidl.tensor([7.9, -1.2]))
    assert i.tolist() == [7, -1]
    with pytest.raises(RuntimeError, match="0-dimension"):
        i.fill_(minidl.tensor([1, 2]))
    f = minidl.tensor([0.0, 0.0])
    f.fill_(minidl.tensor(3.5))
    assert f.tolist() == [3.5, 3.5]


def test_in_place_result_must_fit_dtype_and_shape():
    i = minidl.tensor([1, 2])
    with pytest.raises(
        RuntimeError, match="result type float32 can't be cast to the desired output type int64"
    ):
        i.add_(1.5)
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.exp_()
    with pytest.raises(RuntimeError, match="can't be cast"):
        minidl.tensor([True]).add_(1)
    with pytest.raises(
        RuntimeError,
        match=r"output with shape \[1\] doesn't match the "
        r"broadcast shape \[2, 1\]",
    ):
        minidl.tensor([1.0]).add_(minidl.ones(2, 1))
    assert i.tolist() == [1, 2] and i._version == 0
    f = minidl.tensor([1.0, 2.0])
    f.add_(minidl.tensor(np.array([0.5, 0.5])))  # float64 into float32: allowed, cast
    assert f.dtype == np.float32 and f.tolist() == [1.5, 2.5]


def test_parameter_references_stay_live_through_in_place_updates():
    layer = minidl.nn.Linear(2, 2)
    weight_data = layer.weight.data
    with minidl.no_grad():
        layer.weight.zero_()
        layer.weight.add_(1)
    assert layer.weight.data is weight_data and (weight_data == 1).all()


def test_in_place_on_a_non_leaf_that_an_earlier_op_saved_makes_backward_refuse():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y  # saves y's values
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_ops_recorded_before_an_in_place_rebase_keep_their_gradient_path():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y + 1  # does not save y
    y.mul_(3)  # y = 6 x, a new node
    (z.sum() + y.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0 + 6.0, 2.0 + 6.0])


def test_fill_and_copy_refuse_bad_values_and_shapes():
    x = minidl.ones(2, 3)
    with pytest.raises(TypeError, match="fill_: value must be a number.*str"):
        x.fill_("a")
    with pytest.raises(
        RuntimeError,
        match=r"copy_: the source's shape \(4,\) cannot be "
        r"broadcast to the tensor's shape \(2, 3\)",
    ):
        x.copy_(minidl.ones(4))
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        x.copy_(minidl.ones(1, 2, 3))
    x.copy_(minidl.tensor([[5.0], [6.0]]))
    assert x.tolist() == [[5.0] * 3, [6.0] * 3] and x._version == 1
    x.copy_([1, 2, 3])  # array-likes are accepted, as tensors
    assert x.tolist() == [[1.0, 2.0, 3.0]] * 2


def test_every_listed_in_place_method_exists_and_writes_in_place():
    from minidl.tensor import _IN_PLACE_METHODS

    assert len(set(_IN_PLACE_METHODS)) == len(_IN_PLACE_METHODS)
    for name in ("clamp_min", "clamp_max", "addcmul", "addcdiv", "nan_to_num", "sin", "lerp"):
        assert name in _IN_PLACE_METHODS and hasattr(minidl.Tensor, name + "_")
    x = minidl.tensor([0.5, float("nan"), 3.0])
    x.nan_to_num_().clamp_min_(1.0).clamp_max_(2.0)
    x.addcmul_(minidl.tensor([1.0, 2.0, 3.0]), minidl.tensor([2.0, 2.0, 2.0]), value=0.5)
    assert x.tolist() == [2.0, 3.0, 5.0] and x._version == 4


# ---- writes into an output that its op's backward reads ---------------------------------
@pytest.mark.parametrize("make", [minidl.exp, minidl.sigmoid, lambda t: minidl.log_softmax(t, 0)])
@pytest.mark.parametrize("write", ["mul_", "setitem", "no_grad add_"])
def test_writing_into_a_saved_output_makes_backward_refuse(make, write):
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = make(x)
    if write == "mul_":
        y.mul_(2)
    elif write == "setitem":
        y[0] = 5.0
    else:
        with minidl.no_grad():
            y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation: the output of"):
        y.sum().backward()


def test_writing_into_an_output_backward_does_not_read_is_fine():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3  # Mul saves its inputs, not its output
    y.mul_(2)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])


def test_two_writes_into_the_same_non_leaf():
    x = minidl.tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 2
    y[0] = 5.0
    y[1, 0] = 3.0
    (y * x).sum().backward()
    # y = [[5, 5], [3, 2x]]: d/dx sum(y * x) = y + x * dy/dx
    np.testing.assert_array_equal(x.grad.numpy(), [[5.0, 5.0], [3.0, 4.0]])


# ---- views share their base's version (PyTorch's shared version counter) -------------------
MODIFIED = "modified by an inplace operation"


def test_writing_through_a_view_of_a_saved_input_makes_backward_refuse():
    w = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    base = minidl.tensor([1.0, 1.0, 1.0])
    loss = (w * base).sum()  # Mul saves base for w's gradient
    base[0:2].add_(5)  # before: no error, and w.grad came out [6, 6, 1] instead of [1, 1, 1]
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


@pytest.mark.parametrize(
    "view",
    [lambda t: t[1:], lambda t: t.reshape(2, 2), lambda t: t.T, lambda t: t.detach()],
    ids=["slice", "reshape", "T", "detach"],
)
def test_a_view_and_its_base_count_each_others_writes(view):
    base = minidl.tensor([[1.0, 2.0], [3.0, 4.0]])
    v = view(base)
    w = minidl.tensor(np.ones(v.shape, np.float32), requires_grad=True)
    loss = (w * v).sum()  # saves the view
    base.mul_(2)  # a write into the base changes what the view shows
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()
    other = view(minidl.tensor([[1.0, 2.0], [3.0, 4.0]]))
    before = other._version
    other.add_(1)
    assert other._version == before + 1


def test_writing_into_a_saved_output_through_a_view_or_detach_makes_backward_refuse():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # Exp's backward reads its output
    with minidl.no_grad():
        y[0:1].mul_(2)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()
    y = x.exp()
    y.detach().add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()


def test_a_copy_does_not_share_versions():
    w = minidl.tensor([1.0, 2.0], requires_grad=True)
    base = minidl.tensor([1.0, 1.0])
    loss = (w * base).sum()
    base.clone().add_(1)
    base[[0, 1]].add_(1)  # advanced indexing copies
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])


def test_views_made_every_step_do_not_pile_up():
    base = minidl.tensor(np.ones(4, np.float32))
    for _ in range(1000):
        base[1:].sum()
    assert len(base._shared) <= 18  # the dead views' references are dropped as it goes
