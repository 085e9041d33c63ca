"""examples/custom_layer.py runs, its op passes gradcheck, and its model learns."""
import numpy as np
import pytest

import minidl

@pytest.fixture(scope="module")
def example(load_example):
    return load_example("custom_layer")


def test_layer_norm_op_gradcheck(example):
    rng = np.random.default_rng(1)
    x, w, b = (minidl.tensor(rng.standard_normal(s) * 3, requires_grad=True)
               for s in [(4, 6), (6,), (6,)])
    assert minidl.gradcheck(example.layer_norm, [x, w, b])
    # only the input needs a gradient: the op must skip the others
    assert minidl.gradcheck(lambda x: example.layer_norm(x, w.detach(), b.detach()), [x])
    assert example.check_gradients(seed=2)


def test_layer_norm_matches_numpy_and_torch_semantics(example):
    x = np.random.default_rng(0).standard_normal((5, 7)) * 10 + 3
    layer = example.LayerNorm(7, eps=1e-3).double()
    out = layer(minidl.tensor(x)).numpy()
    expected = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert repr(layer) == "LayerNorm(7, eps=0.001)"


def test_training_loss_decreases(example, capsys):
    losses = example.main(steps=40, seed=0)
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert losses[-1] < 0.6 * losses[0]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    printed = capsys.readouterr().out
    assert "LayerNorm(32, eps=1e-05)" in printed and "step  39" in printed
