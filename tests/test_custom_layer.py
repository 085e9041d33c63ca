"""examples/custom_layer.py runs, its op passes gradcheck and gradgradcheck, and its model
learns; the custom-layer sections of docs/extending.md run as written."""

import re
from pathlib import Path

import numpy as np
import pytest

import minidl

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


@pytest.fixture(scope="module")
def example(load_example):
    return load_example("custom_layer")


def test_rms_norm_op_gradcheck(example):
    rng = np.random.default_rng(1)
    x, w = (minidl.tensor(rng.standard_normal(s) * 3, requires_grad=True) for s in [(4, 6), (6,)])
    assert minidl.gradcheck(example.rms_norm, [x, w])
    assert minidl.gradgradcheck(example.rms_norm, [x, w])
    # only the input needs a gradient: the op must skip the other
    assert minidl.gradcheck(lambda x: example.rms_norm(x, w.detach()), [x])
    assert example.check_gradients(seed=2)


def test_rms_norm_matches_its_formula(example):
    x = np.random.default_rng(0).standard_normal((5, 7)) * 10 + 3
    layer = example.RMSNorm(7, eps=1e-3).double()
    layer.weight.data[:] = np.arange(7)
    out = layer(minidl.tensor(x)).numpy()
    expected = x / np.sqrt((x**2).mean(1, keepdims=True) + 1e-3) * np.arange(7)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert repr(layer) == "RMSNorm(7, eps=0.001)"


def test_training_loss_decreases(example, capsys):
    losses = example.main(steps=40, seed=0)
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert losses[-1] < 0.6 * losses[0]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    printed = capsys.readouterr().out
    assert "RMSNorm(32, eps=1e-06)" in printed and "step  39" in printed


def test_extending_guide_custom_layer_sections_run():
    """The python blocks before the double-backward section, in one namespace."""
    text = DOC.read_text().split("### Double backward", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    namespace = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"docs/extending.md block {number}", "exec"), namespace)
    assert namespace["model"](minidl.randn(2, 8)).shape == (2, 3)
