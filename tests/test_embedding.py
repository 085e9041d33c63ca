"""Embedding: lookups, gradients that accumulate over repeated indices, padding_idx,
max_norm, initialisation and state, errors, gradcheck and gradgradcheck."""

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn


def table(rows=5, dim=3):
    return minidl.tensor(
        np.arange(rows * dim, dtype=np.float64).reshape(rows, dim), requires_grad=True
    )


def test_lookup_and_repeated_indices_accumulate():
    weight = table()
    index = minidl.tensor([[0, 2, 2], [4, 2, 0]])
    y = F.embedding(index, weight)
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y.numpy()[0, 1], [6, 7, 8])
    y.backward(minidl.tensor(np.arange(18, dtype=np.float64).reshape(2, 3, 3)))
    g = np.arange(18.0).reshape(6, 3)  # the output gradient per position, in order
    expected = np.zeros((5, 3))
    for position, row in enumerate([0, 2, 2, 4, 2, 0]):
        expected[row] += g[position]  # written out: row 2 is looked up three times
    np.testing.assert_array_equal(weight.grad.numpy(), expected)


def test_padding_idx_row_gets_no_gradient_but_is_looked_up():
    weight = table()
    y = F.embedding(minidl.tensor([1, 3, 1]), weight, padding_idx=1)
    np.testing.assert_array_equal(y.numpy()[0], [3, 4, 5])
    y.sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy()[:, 0], [0, 0, 0, 1, 0])
    layer = nn.Embedding(4, 2, padding_idx=-1)  # negative counts from the end
    assert layer.padding_idx == 3
    np.testing.assert_array_equal(layer.weight.numpy()[3], [0, 0])


def test_max_norm_rescales_the_rows_looked_up_in_place():
    weight = minidl.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
    y = F.embedding(minidl.tensor([0, 1]), weight, max_norm=1.0)
    np.testing.assert_allclose(y.numpy(), [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(weight.numpy()[2], [6, 8])  # not looked up: unchanged


def test_embedding_module_initialisation_and_state():
    minidl.manual_seed(0)
    layer = nn.Embedding(1000, 16)
    w = layer.weight.numpy()
    assert list(layer.state_dict()) == ["weight"] and w.shape == (1000, 16)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02  # N(0, 1)
    assert repr(nn.Embedding(10, 4, padding_idx=0)) == "Embedding(10, 4, padding_idx=0)"
    frozen = nn.Embedding.from_pretrained(minidl.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(minidl.tensor([1])).numpy(), [[3, 4]])


def test_embedding_errors():
    weight = table()
    with pytest.raises(IndexError, match="index out of range.*5 rows"):
        F.embedding(minidl.tensor([0, 5]), weight)
    with pytest.raises(IndexError, match="index out of range"):
        F.embedding(minidl.tensor([-1]), weight)
    with pytest.raises(TypeError, match="must be integers"):
        F.embedding(minidl.tensor([0.0, 1.0]), weight)
    with pytest.raises(ValueError, match="padding_idx must be within"):
        nn.Embedding(3, 2, padding_idx=3)


def test_embedding_gradcheck_and_second_derivatives():
    weight = minidl.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    index = minidl.tensor([[0, 3, 3], [1, 0, 2]])
    assert minidl.gradcheck(lambda w: F.embedding(index, w), [weight])
    assert minidl.gradgradcheck(lambda w: F.embedding(index, w) ** 2, [weight])
    assert minidl.gradgradcheck(lambda w: F.embedding(index, w, padding_idx=3) ** 2, [weight])
