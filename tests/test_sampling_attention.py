"""F.pad, F.interpolate, F.normalize, F.cosine_similarity and
F.scaled_dot_product_attention: values worked out by hand, gradients against finite
differences to second order, PyTorch's argument checks, and their Modules."""

import math

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl import gradcheck, gradgradcheck

rng = np.random.default_rng(0)
ROW = minidl.tensor([[[1.0, 2.0, 3.0, 4.0]]])  # (N, C, W) = (1, 1, 4)


def t64(*shape):
    return minidl.tensor(rng.standard_normal(shape), requires_grad=True)


def check(tensor, expected):
    expected = np.asarray(expected, dtype=float)
    assert tensor.shape == expected.shape
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=1e-6, atol=1e-12)


def test_pad_modes_by_hand():
    check(F.pad(ROW, (1, 2)), [[[0, 1, 2, 3, 4, 0, 0]]])
    check(F.pad(ROW, (1, 0), value=9.0), [[[9, 1, 2, 3, 4]]])
    check(F.pad(ROW, (-1, 1)), [[[2, 3, 4, 0]]])  # negative amounts crop
    check(F.pad(ROW, (2, 1), mode="reflect"), [[[3, 2, 1, 2, 3, 4, 3]]])
    check(F.pad(ROW, (2, 1), mode="replicate"), [[[1, 1, 1, 2, 3, 4, 4]]])
    check(F.pad(ROW, (2, 1), mode="circular"), [[[3, 4, 1, 2, 3, 4, 1]]])
    square = minidl.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    # (left, right, top, bottom): the last dim first
    check(F.pad(square, (1, 0, 0, 1)), [[[[0, 1, 2], [0, 3, 4], [0, 0, 0]]]])
    check(F.pad(square, (0, 1, 1, 0), mode="replicate"), [[[[1, 2, 2], [1, 2, 2], [3, 4, 4]]]])


def test_pad_argument_checks():
    with pytest.raises(RuntimeError, match="less than the corresponding input dimension"):
        F.pad(ROW, (4, 0), mode="reflect")
    with pytest.raises(NotImplementedError, match="padding size 2 is not supported for 4-D"):
        F.pad(minidl.zeros(1, 1, 2, 2), (1, 1), mode="reflect")  # as PyTorch
    with pytest.raises(ValueError, match="even"):
        F.pad(ROW, (1, 2, 3))
    with pytest.raises(ValueError, match="doesn't take in value"):
        F.pad(ROW, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(NotImplementedError, match="mode"):
        F.pad(ROW, (1, 1), mode="edge")


def test_interpolate_by_hand():
    row = minidl.tensor([[[1.0, 2.0, 3.0]]])
    check(F.interpolate(row, size=6), [[[1, 1, 2, 2, 3, 3]]])
    check(F.interpolate(row, size=5), [[[1, 1, 2, 2, 3]]])  # floor(i * 3 / 5)
    check(F.interpolate(ROW, scale_factor=0.5), [[[1, 3]]])
    ends = minidl.tensor([[[0.0, 3.0]]])
    check(F.interpolate(ends, size=4, mode="linear", align_corners=True), [[[0, 1, 2, 3]]])
    # half-pixel centres: x = (i + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25
    check(F.interpolate(ends, size=4, mode="linear"), [[[0, 0.75, 2.25, 3]]])
    square = minidl.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    check(
        F.interpolate(square, size=(3, 3), mode="bilinear", align_corners=True),
        [[[[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]]]],
    )
    check(
        F.interpolate(square, scale_factor=2, mode="nearest"),
        [[[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]]],
    )


def test_interpolate_argument_checks():
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(ROW)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(ROW, size=3, align_corners=True)
    with pytest.raises(NotImplementedError, match="expects 4-D"):
        F.interpolate(ROW, size=3, mode="bilinear")
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(minidl.zeros(1, 1, 2, 2), size=3, mode="bicubic")


def test_normalize_and_cosine_similarity_by_hand():
    x = minidl.tensor([[3.0, 4.0], [0.0, 0.0]])
    check(F.normalize(x), [[0.6, 0.8], [0, 0]])  # over dim 1; a zero row stays 0
    check(F.normalize(x, p=1, dim=1), [[3 / 7, 4 / 7], [0, 0]])
    a = minidl.tensor([[1.0, 0.0], [1.0, 0.0]])
    b = minidl.tensor([[1.0, 1.0], [0.0, 0.0]])
    check(F.cosine_similarity(a, b), [1 / math.sqrt(2), 0])
    check(F.cosine_similarity(a, minidl.tensor([[2.0, 0.0]])), [1, 1])  # broadcast
    check(nn.CosineSimilarity(dim=0)(a, b), [1 / math.sqrt(2), 0])


def test_attention_by_hand():
    q = minidl.tensor([[1.0, 0.0], [0.0, 1.0]], dtype="float64")
    k = minidl.tensor([[1.0, 0.0], [0.0, 1.0]], dtype="float64")
    v = minidl.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64")
    p = 1 / (1 + math.exp(-1 / math.sqrt(2)))  # softmax of (1/sqrt(2), 0)
    check(
        F.scaled_dot_product_attention(q, k, v),
        [[p + 3 * (1 - p), 2 * p + 4 * (1 - p)], [(1 - p) + 3 * p, 2 * (1 - p) + 4 * p]],
    )
    causal = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    check(causal[0], [1, 2])  # the first query sees the first key only
    blocked = F.scaled_dot_product_attention(q, k, v, attn_mask=minidl.tensor([False, True]))
    check(blocked, [[3, 4], [3, 4]])
    bias = minidl.tensor([[0.0, math.log(3)], [0.0, 0.0]], dtype="float64")
    pb = 1 / (1 + 3 * math.exp(-2.0))  # scores (2, 0) + (0, log 3), scale 2
    check(
        F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=2.0)[0],
        [pb + 3 * (1 - pb), 2 * pb + 4 * (1 - pb)],
    )
    with pytest.raises(RuntimeError, match="should not be set when is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=True)


def test_attention_dropout_and_grouped_heads():
    q, k, v = t64(2, 4, 3, 5), t64(2, 2, 6, 5), t64(2, 2, 6, 4)
    out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    k4 = minidl.tensor(np.repeat(k.numpy(), 2, axis=1))
    v4 = minidl.tensor(np.repeat(v.numpy(), 2, axis=1))
    np.testing.assert_allclose(out.numpy(), F.scaled_dot_product_attention(q, k4, v4).numpy())
    minidl.manual_seed(0)
    first = F.scaled_dot_product_attention(q, k4, v4, dropout_p=0.5)
    minidl.manual_seed(0)
    again = F.scaled_dot_product_attention(q, k4, v4, dropout_p=0.5)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    assert not np.allclose(first.numpy(), F.scaled_dot_product_attention(q, k4, v4).numpy())


MASK = rng.random((3, 4)) > 0.4
MASK[:, 0] = True
FUNCTIONS = {
    "pad_constant": (lambda x: F.pad(x, (1, -1, 2, 0), value=0.5), [(2, 3, 3, 4)]),
    "pad_reflect": (lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"), [(2, 3, 3, 4)]),
    "pad_replicate": (lambda x: F.pad(x, (2, 3), mode="replicate"), [(2, 3, 4)]),
    "pad_circular": (lambda x: F.pad(x, (1, 2, 2, 1), mode="circular"), [(1, 2, 3, 4)]),
    "nearest": (lambda x: F.interpolate(x, size=(5, 3)), [(1, 2, 3, 4)]),
    "bilinear": (lambda x: F.interpolate(x, scale_factor=1.7, mode="bilinear"), [(1, 2, 3, 4)]),
    "bilinear_corners": (
        lambda x: F.interpolate(x, size=(2, 7), mode="bilinear", align_corners=True),
        [(1, 2, 3, 4)],
    ),
    "linear": (lambda x: F.interpolate(x, size=7, mode="linear"), [(2, 2, 4)]),
    "normalize": (lambda x: F.normalize(x, dim=-1), [(3, 4)]),
    "cosine_similarity": (lambda a, b: F.cosine_similarity(a, b, dim=-1), [(3, 4), (1, 4)]),
    "attention": (F.scaled_dot_product_attention, [(2, 3, 5), (2, 4, 5), (2, 4, 2)]),
    "attention_causal": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        [(2, 3, 5), (2, 4, 5), (2, 4, 2)],
    ),
    "attention_mask": (
        lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, attn_mask=minidl.tensor(MASK), scale=0.7
        ),
        [(3, 5), (4, 5), (4, 2)],
    ),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradients_to_second_order(name):
    fn, shapes = FUNCTIONS[name]
    assert gradcheck(fn, [t64(*s) for s in shapes])
    assert gradgradcheck(fn, [t64(*s) for s in shapes])


def test_modules_match_their_functions():
    x = t64(1, 2, 3, 4)
    np.testing.assert_array_equal(
        nn.ReflectionPad2d(1)(x).numpy(), F.pad(x, (1, 1, 1, 1), mode="reflect").numpy()
    )
    np.testing.assert_array_equal(
        nn.ZeroPad2d((1, 0, 2, 0))(x).numpy(), F.pad(x, (1, 0, 2, 0)).numpy()
    )
    np.testing.assert_array_equal(
        nn.ConstantPad1d(2, 3.5)(x[0]).numpy(), F.pad(x[0], (2, 2), value=3.5).numpy()
    )
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    np.testing.assert_array_equal(
        up(x).numpy(), F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True).numpy()
    )
    assert "scale_factor=2" in repr(up)
