"""minidl.nn.utils: gradient clipping against NumPy."""

import math

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.nn.utils import clip_grad_norm_, clip_grad_value_


def params_with_grads(*grads):
    params = []
    for g in grads:
        p = nn.Parameter(minidl.zeros(*np.shape(g), dtype=np.float64))
        p.grad = minidl.tensor(np.asarray(g, dtype=np.float64))
        params.append(p)
    return params


GRADS = [np.arange(6.0).reshape(2, 3) - 2, np.array([3.0, -4.0])]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_matches_numpy(norm_type):
    params = params_with_grads(*GRADS)
    flat = np.concatenate([g.ravel() for g in GRADS])
    total = np.linalg.norm(flat, ord=norm_type)
    returned = clip_grad_norm_(iter(params), max_norm=1.5, norm_type=norm_type)
    assert returned == pytest.approx(total, rel=1e-14)
    scale = 1.5 / (total + 1e-6)
    for p, g in zip(params, GRADS):
        np.testing.assert_allclose(p.grad.numpy(), g * scale, rtol=1e-14)
    clipped = np.concatenate([p.grad.numpy().ravel() for p in params])
    assert np.linalg.norm(clipped, ord=norm_type) == pytest.approx(1.5, rel=1e-5)


def test_clip_grad_norm_leaves_small_gradients_alone():
    params = params_with_grads(*GRADS)
    total = clip_grad_norm_(params, max_norm=100.0)
    assert total == pytest.approx(math.sqrt(sum((g**2).sum() for g in GRADS)))
    for p, g in zip(params, GRADS):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_clip_grad_norm_skips_missing_grads_and_takes_one_tensor():
    (p,) = params_with_grads([6.0, 8.0])
    empty = nn.Parameter(minidl.zeros(3))
    assert clip_grad_norm_([p, empty], 5.0) == pytest.approx(10.0)
    assert empty.grad is None
    np.testing.assert_allclose(p.grad.numpy(), [3.0, 4.0], rtol=1e-6)
    assert clip_grad_norm_(p, 1.0) == pytest.approx(5.0)
    assert clip_grad_norm_([empty], 1.0) == 0.0


def test_clip_grad_norm_nonfinite():
    (p,) = params_with_grads([1.0, np.inf])
    assert clip_grad_norm_([p], 1.0) == math.inf
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, np.inf])  # left alone, no nan
    with pytest.raises(RuntimeError, match="inf"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    params = params_with_grads(*GRADS)
    clip_grad_value_(params, 1.5)
    for p, g in zip(params, GRADS):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -1.5, 1.5))


def test_clipping_real_model_gradients():
    model = nn.Linear(4, 3)
    model(minidl.randn(8, 4) * 100).sum().backward()
    flat = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    total = clip_grad_norm_(model.parameters(), 0.5)
    assert total == pytest.approx(np.linalg.norm(flat.astype(np.float64)), rel=1e-5)
    clipped = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    assert np.linalg.norm(clipped) == pytest.approx(0.5, rel=1e-4)
