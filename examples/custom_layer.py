"""Extending minidl: a new op with its own backward, a new layer built on it, and training.

minidl has no layer normalisation, so we add one in three steps:

1. ``LayerNormFunction``: a new differentiable op, a ``minidl.Function`` whose forward and
   backward work on plain arrays (NumPy on the CPU, CuPy on the GPU).
2. ``check_gradients()``: ``minidl.gradcheck`` compares its backward with finite
   differences in float64. Do this for every op you write.
3. ``LayerNorm``: a ``minidl.nn.Module`` that owns the learnable scale and shift as
   ``Parameter``s and calls the op; then ``main()`` trains a small classifier with it.

Run it (with minidl installed, e.g. `pip install -e .`):  python examples/custom_layer.py
"""
import numpy as np

import minidl
import minidl.optim
from minidl import nn
from minidl.backend import array_module


# ---- 1. a new op -------------------------------------------------------------------
class LayerNormFunction(minidl.Function):
    """Layer normalisation over the last axis (Ba, Kiros & Hinton, 2016).

    Forward, for each row x of n features:
        mu = mean(x),  var = mean((x - mu)^2),  r = 1 / sqrt(var + eps)
        xhat = (x - mu) * r,   y = xhat * w + b

    Backward, given g = dL/dy:
        dL/db = sum of g over the rows,   dL/dw = sum of g * xhat over the rows
        with h = g * w:   dL/dx = r * (h - mean(h) - xhat * mean(h * xhat))
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        # Tensors passed to apply() arrive here as arrays; eps (a number) arrives as is.
        xp = array_module(x)  # numpy or cupy: the same code runs on both
        mu = x.mean(axis=-1, keepdims=True)
        centred = x - mu
        rstd = 1 / xp.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)
        xhat = centred * rstd
        ctx.save_for_backward(xhat, rstd, weight)  # what backward needs, nothing more
        return xhat * weight + bias

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, weight = ctx.saved_tensors
        need_x, need_w, need_b, _ = ctx.needs_input_grad  # skip work nobody asked for
        rows = tuple(range(g.ndim - 1))  # every axis but the features
        dx = dw = db = None
        if need_x:
            h = g * weight
            dx = rstd * (h - h.mean(axis=-1, keepdims=True)
                         - xhat * (h * xhat).mean(axis=-1, keepdims=True))
        if need_w:
            dw = (g * xhat).sum(axis=rows)
        if need_b:
            db = g.sum(axis=rows)
        return dx, dw, db, None  # one gradient per input of forward; None for eps


def layer_norm(x, weight, bias, eps=1e-5):
    """The functional form: y = (x - mean) / sqrt(var + eps) * weight + bias."""
    return LayerNormFunction.apply(x, weight, bias, eps)


# ---- 2. check the backward ---------------------------------------------------------
def check_gradients(seed=0):
    """gradcheck the op against finite differences, and its forward against the same
    formula written with minidl's built-in ops (slower: many graph nodes, not one)."""
    rng = np.random.default_rng(seed)
    x, w, b = (minidl.tensor(rng.standard_normal(shape), requires_grad=True)
               for shape in [(3, 4, 5), (5,), (5,)])
    assert minidl.gradcheck(layer_norm, [x, w, b])

    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    reference = (x - mu) / (var + 1e-5).sqrt() * w + b
    np.testing.assert_allclose(layer_norm(x, w, b).numpy(), reference.numpy(), rtol=1e-12)
    return True


# ---- 3. a new layer ----------------------------------------------------------------
class LayerNorm(nn.Module):
    """Normalise the last axis of size ``features``, then scale and shift it.

    Assigning a ``Parameter`` registers it: it shows up in ``parameters()`` (so the
    optimizer updates it), in ``state_dict()`` (so it is saved) and moves with ``to()``.
    """

    def __init__(self, features, eps=1e-5):
        super().__init__()
        self.features, self.eps = features, eps
        self.weight = nn.Parameter(minidl.ones(features))  # start as the identity map
        self.bias = nn.Parameter(minidl.zeros(features))

    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self):  # shown by print(model)
        return f"{self.features}, eps={self.eps}"


# ---- training it -------------------------------------------------------------------
def make_data(n=256, features=8, classes=3, seed=0):
    """Points labelled by a random teacher network: learnable, but not linearly."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    hidden = np.tanh(x @ rng.standard_normal((features, 16)))
    scores = hidden @ rng.standard_normal((16, classes))
    return minidl.tensor(x), minidl.tensor(scores.argmax(axis=1))


def main(steps=60, seed=0, verbose=True):
    """Train Linear -> LayerNorm -> GELU -> Linear on the synthetic data with Adam;
    returns the loss of every step."""
    check_gradients(seed)
    minidl.manual_seed(seed)  # the same initial weights every run
    x, y = make_data(seed=seed)
    model = nn.Sequential(nn.Linear(8, 32), LayerNorm(32), nn.GELU(), nn.Linear(32, 3))
    if verbose:
        print(model)
    optimizer = minidl.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for step in range(steps):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if verbose and (step % 10 == 0 or step == steps - 1):
            print(f"step {step:3d}  loss {losses[-1]:.4f}")
    return losses


if __name__ == "__main__":
    main()
