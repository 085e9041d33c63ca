"""Extending minidl: a new op with its own backward, a new layer built on it, and training.

minidl has layer normalisation built in (``nn.LayerNorm``); here we add its lighter
cousin, RMS normalisation (Zhang & Sennrich, 2019), in three steps:

1. ``RMSNormFunction``: a new differentiable op, a ``minidl.Function`` whose forward and
   backward work on plain arrays (NumPy on the CPU, CuPy on the GPU). Its backward is
   written in the array vocabulary, so second derivatives work too.
2. ``check_gradients()``: ``minidl.gradcheck`` compares its backward with finite
   differences in float64, ``minidl.gradgradcheck`` its second derivatives. Do this for
   every op you write.
3. ``RMSNorm``: a ``minidl.nn.Module`` that owns the learnable scale as a ``Parameter``
   and calls the op; then ``main()`` trains a small classifier with it.

Run it (with minidl installed, e.g. `pip install -e .`):  python examples/custom_layer.py
"""

import numpy as np

import minidl
import minidl.optim
from minidl import nn
from minidl.backend import array_module


# ---- 1. a new op -------------------------------------------------------------------
class RMSNormFunction(minidl.Function):
    """RMS normalisation over the last axis: no centring, no shift.

    Forward, for each row x of n features:
        r = 1 / sqrt(mean(x^2) + eps),   xhat = x * r,   y = xhat * w

    Backward, given g = dL/dy:
        dL/dw = sum of g * xhat over the rows
        with h = g * w:   dL/dx = r * (h - xhat * mean(h * xhat))
    """

    @staticmethod
    def forward(ctx, x, weight, eps):
        # Tensors passed to apply() arrive here as arrays; eps (a number) arrives as is.
        xp = array_module(x)  # numpy or cupy: the same code runs on both
        rstd = 1 / xp.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
        ctx.save_for_backward(x, weight)  # inputs only: backward recomputes the rest
        ctx.eps = eps  # a constant of the op
        return x * rstd * weight

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        xp = array_module(g)  # numpy/cupy, or minidl.ops.xp under create_graph
        need_x, need_w, _ = ctx.needs_input_grad  # skip work nobody asked for
        rstd = 1 / xp.sqrt((x * x).mean(axis=-1, keepdims=True) + ctx.eps)
        xhat = x * rstd
        dx = dw = None
        if need_x:
            h = g * weight
            dx = rstd * (h - xhat * (h * xhat).mean(axis=-1, keepdims=True))
        if need_w:
            dw = (g * xhat).sum(axis=tuple(range(g.ndim - 1)))  # over every row
        return dx, dw, None  # one gradient per input of forward; None for eps


def rms_norm(x, weight, eps=1e-6):
    """The functional form: y = x / sqrt(mean(x^2) + eps) * weight."""
    return RMSNormFunction.apply(x, weight, eps)


# ---- 2. check the backward ---------------------------------------------------------
def check_gradients(seed=0):
    """gradcheck and gradgradcheck the op against finite differences, and its forward
    against the same formula written with minidl's built-in ops (slower: many graph
    nodes, not one)."""
    rng = np.random.default_rng(seed)
    x, w = (
        minidl.tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(3, 4, 5), (5,)]
    )
    assert minidl.gradcheck(rms_norm, [x, w])
    assert minidl.gradgradcheck(rms_norm, [x, w])

    reference = x / ((x * x).mean(-1, keepdim=True) + 1e-6).sqrt() * w
    np.testing.assert_allclose(rms_norm(x, w).numpy(), reference.numpy(), rtol=1e-12)
    return True


# ---- 3. a new layer ----------------------------------------------------------------
class RMSNorm(nn.Module):
    """Normalise the last axis of size ``features`` by its root mean square, then scale it.

    Assigning a ``Parameter`` registers it: it shows up in ``parameters()`` (so the
    optimizer updates it), in ``state_dict()`` (so it is saved) and moves with ``to()``.
    """

    def __init__(self, features, eps=1e-6):
        super().__init__()
        self.features, self.eps = features, eps
        self.weight = nn.Parameter(minidl.ones(features))  # start as the identity scale

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)

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
    """Train Linear -> RMSNorm -> GELU -> Linear on the synthetic data with Adam;
    returns the loss of every step."""
    check_gradients(seed)
    minidl.manual_seed(seed)  # the same initial weights every run
    x, y = make_data(seed=seed)
    model = nn.Sequential(nn.Linear(8, 32), RMSNorm(32), nn.GELU(), nn.Linear(32, 3))
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
