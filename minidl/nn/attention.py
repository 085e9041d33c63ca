"""``F.scaled_dot_product_attention``: softmax(q k^T * scale + mask) v, PyTorch's
reference ("math") semantics, built from differentiable ops."""

import math

import numpy

from .. import ops
from ..backend import array_module
from ..tensor import Tensor

__all__ = ["scaled_dot_product_attention"]


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    """Attention of ``query`` (..., L, E) over ``key`` (..., S, E) and ``value`` (..., S, Ev):

        softmax(query @ key^T * scale + bias, dim=-1) @ value

    ``scale`` defaults to 1 / sqrt(E). ``attn_mask``: boolean (True: may attend) or a
    float bias added to the scores, broadcast to (..., L, S); ``is_causal``: position i
    attends to keys j <= i. A query the mask lets attend to no key gets zero weights
    (its output is 0), as PyTorch's math backend gives. ``dropout_p`` drops attention
    weights (always applied, as in PyTorch: pass 0.0 in evaluation). ``enable_gqa``:
    keys and values with fewer heads (dim -3) are repeated to match the query's."""
    if is_causal and attn_mask is not None:
        raise RuntimeError(
            "scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True"
        )
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(
            f"scaled_dot_product_attention: query and key must have the same "
            f"embedding size, got {tuple(query.shape)} and {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"scaled_dot_product_attention: key and value must have the same "
            f"sequence length, got {tuple(key.shape)} and {tuple(value.shape)}"
        )
    if not query.dtype == key.dtype == value.dtype or query.dtype.kind != "f":
        raise TypeError(
            f"scaled_dot_product_attention: expected query, key and value of one floating "
            f"point dtype, got {query.dtype}, {key.dtype} and {value.dtype}"
        )
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        repeats = query.shape[-3] // key.shape[-3]
        key = _repeat_heads(key, repeats)
        value = _repeat_heads(value, repeats)
    length, source = query.shape[-2], key.shape[-2]
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ ops.transpose(key, -2, -1)) * scale
    xp = array_module(query.data)
    if is_causal:
        allowed = xp.tril(xp.ones((length, source), dtype=bool))
        scores = ops.masked_fill(scores, Tensor._make(~allowed, None), -numpy.inf)
    elif attn_mask is not None:
        mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor(attn_mask)
        _check_mask(mask, scores)
        if mask.dtype == bool:
            scores = ops.masked_fill(scores, Tensor._make(~mask.data, None), -numpy.inf)
        else:
            scores = scores + mask
    dead = None
    if attn_mask is not None:
        # a query that may attend to no key gets weights 0, not 0/0 (PyTorch's safe softmax)
        dead = (scores.data == -numpy.inf).all(axis=-1, keepdims=True)
        if dead.any():
            dead = Tensor._make(dead, None)
            scores = ops.where(dead, 0.0, scores)  # finite, so that gradients stay finite
        else:
            dead = None
    weights = ops.softmax(scores, dim=-1)
    if dead is not None:
        weights = ops.where(dead, 0.0, weights)
    if dropout_p > 0:
        from .functional import dropout

        weights = dropout(weights, dropout_p)
    return weights @ value


def _check_mask(mask, scores):
    """PyTorch's rules for ``attn_mask``: boolean or the query's dtype, and broadcasting
    to the scores' shape (..., L, S) without enlarging it."""
    if mask.dtype != bool and mask.dtype != scores.dtype:
        raise TypeError(
            f"scaled_dot_product_attention: expected attn_mask dtype to be bool or to match "
            f"the query's dtype {scores.dtype}, got {mask.dtype}"
        )
    try:
        fits = numpy.broadcast_shapes(tuple(mask.shape), tuple(scores.shape)) == scores.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(
            f"scaled_dot_product_attention: attn_mask of shape {tuple(mask.shape)} does not "
            f"broadcast to the attention scores' shape {tuple(scores.shape)} (..., L, S)"
        )


def _repeat_heads(x, repeats):
    """(..., H, S, E) to (..., H * repeats, S, E), each head repeated in place."""
    if repeats == 1:
        return x
    expanded = ops.unsqueeze(x, -3)
    shape = list(expanded.shape)
    shape[-3] = repeats
    return ops.reshape(
        ops.broadcast_to(expanded, shape),
        list(x.shape[:-3]) + [x.shape[-3] * repeats] + list(x.shape[-2:]),
    )
