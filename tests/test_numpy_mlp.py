"""The hand-written NumPy peer of the benchmarks computes what minidl computes.

benchmarks/numpy_mlp.py is the floor bench_mnist.py and bench_small.py measure minidl
against; a floor that skipped work, or did other work, would make those ratios lie.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn, optim

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from numpy_mlp import NumpyMLP


def _model_and_batch(loss):
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y = rng.integers(0, 3, 4) if loss == "cross_entropy" else rng.standard_normal((4, 3))
    return model, x, y.astype(np.float32) if loss == "mse" else y


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_forward_backward_matches_minidl(loss):
    model, x, y = _model_and_batch(loss)
    net = NumpyMLP([p.data for p in model.parameters()], "momentum")
    value = net.forward_backward(x, y, loss=loss)
    criterion = F.cross_entropy if loss == "cross_entropy" else F.mse_loss
    expected = criterion(model(minidl.tensor(x)), minidl.tensor(y))
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=1e-6)
    for g, p in zip(net.grads, model.parameters()):
        np.testing.assert_allclose(g, p.grad.data, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("rule", ["momentum", "adam"])
def test_step_matches_minidl(rule):
    model, x, y = _model_and_batch("mse")
    net = NumpyMLP([p.data for p in model.parameters()], rule, lr=0.1)
    if rule == "momentum":
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=0.1)
    for _ in range(3):
        net.forward_backward(x, y, loss="mse")
        net.step()
        opt.zero_grad()
        F.mse_loss(model(minidl.tensor(x)), minidl.tensor(y)).backward()
        opt.step()
    for mine, p in zip(net.params, model.parameters()):
        np.testing.assert_allclose(mine, p.data, rtol=1e-5, atol=1e-6)
