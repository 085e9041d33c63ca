"""Fused fast paths give the numbers of the ops they stand for, bit for bit in float32,
and their gradients to any order (gradcheck and gradgradcheck in float64).

Each reference below is built from the plain differentiable ops (Sub, Mul, Mean) that
the fused Function replaces.
"""

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import ops

rng = np.random.default_rng(0)


def leaves(*shapes, dtype=np.float32):
    return [minidl.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def grads_of(loss, tensors):
    loss.backward()
    return [t.grad.numpy().copy() for t in tensors]


def assert_same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8))


# ---- mse_loss: one MSE node for Sub, Mul and Mean -------------------------------------
def mse_by_ops(x, y, reduction):
    diff = ops.sub(x, y)
    return {"mean": ops.mean, "sum": ops.sum, "none": lambda t: t}[reduction](diff * diff)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_is_the_unfused_ops_bit_for_bit(reduction, dtype):
    x, y = leaves((9, 5), (9, 5), dtype=dtype)
    out = F.mse_loss(x, y, reduction=reduction)
    assert type(out._ctx).__name__ == "MSE"  # the fused node, one for the whole loss
    seed = minidl.tensor(rng.standard_normal(out.shape).astype(dtype))
    fused = grads_of((out * seed).sum(), [x, y])
    x.grad = y.grad = None
    ref = mse_by_ops(x, y, reduction)
    unfused = grads_of((ref * seed).sum(), [x, y])
    assert_same_bits(out.numpy(), ref.numpy())
    for a, b in zip(fused, unfused):
        assert_same_bits(a, b)


def test_mse_target_without_grad_gets_none_and_mixed_dtypes_promote():
    (x,) = leaves((4, 3))
    y = minidl.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    F.mse_loss(x, y).backward()
    assert y.grad is None
    np.testing.assert_allclose(x.grad.numpy(), 2 * (x.numpy() - y.numpy()) / 12, rtol=1e-6)
    y64 = minidl.tensor(y.numpy().astype(np.float64))
    assert F.mse_loss(x, y64).dtype == np.float64  # promotion, as x - y64 does


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_gradcheck_and_gradgradcheck(reduction):
    x, y = leaves((3, 4), (3, 4), dtype=np.float64)
    fn = lambda a, b: F.mse_loss(a * b, b, reduction=reduction)
    assert minidl.gradcheck(fn, [x, y])
    assert minidl.gradgradcheck(fn, [x, y])
