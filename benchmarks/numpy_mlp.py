"""A hand-written NumPy MLP training step: the floor any NumPy framework can reach.

Forward, backward and the optimizer update of a Linear-ReLU-...-Linear network with
softmax cross-entropy, written out with preallocated buffers and in-place ufuncs. No
graph, no Python objects per op: what minidl's overhead is measured against.

Weights use PyTorch's layout (out_features, in_features), like minidl.nn.Linear, and
the update rules are torch.optim.SGD(momentum) and torch.optim.Adam. Optimizer state
is flushed of subnormal values the way minidl flushes it, so that neither side pays for
subnormal arithmetic.
"""

import math

import numpy as np

from minidl.optim.flush import threshold

FLUSH_THRESHOLD = threshold(np.float32)  # minidl.optim.flush says why and how (about 2e-31)


def flush_small(x, scratch):
    """Zero the entries of ``x`` below FLUSH_THRESHOLD in magnitude, in place, so that
    neither ``x`` nor its products in the update become subnormal (minidl.optim flushes
    its state the same way)."""
    np.abs(x, out=scratch)
    np.greater_equal(scratch, FLUSH_THRESHOLD, out=scratch)
    x *= scratch


class NumpyMLP:
    """Parameters as a list [W1, b1, W2, b2, ...] of float32 arrays."""

    def __init__(
        self, params, optimizer="adam", lr=1e-3, momentum=0.9, betas=(0.9, 0.999), eps=1e-8
    ):
        self.params = [np.array(p, dtype=np.float32) for p in params]
        self.grads = [np.empty_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]
        self.optimizer, self.lr, self.momentum = optimizer, lr, momentum
        self.betas, self.eps, self.t = betas, eps, 0
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params] if optimizer == "adam" else None

    def forward_backward(self, x, y, loss="cross_entropy"):
        """Loss of one batch; fills self.grads. ``loss``: "cross_entropy" (``y`` holds class
        indices) or "mse" (``y`` holds targets shaped like the output; the mean over all
        elements)."""
        weights, biases = self.params[0::2], self.params[1::2]
        activations = [x]
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = activations[-1] @ w.T
            h += b
            if i < len(weights) - 1:
                np.maximum(h, 0, out=h)
            activations.append(h)
        z = activations.pop()
        if loss == "mse":
            z -= y  # the difference
            value = float(np.vdot(z, z)) / z.size
            z *= 2.0 / z.size  # d loss / d output
        else:
            n = len(y)
            rows = np.arange(n)
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)  # softmax probabilities
            value = -float(np.log(z[rows, y]).mean())
            z[rows, y] -= 1
            z *= 1.0 / n  # d loss / d logits
        delta = z
        for i in range(len(weights) - 1, -1, -1):
            a = activations[i]
            np.matmul(delta.T, a, out=self.grads[2 * i])
            np.sum(delta, axis=0, out=self.grads[2 * i + 1])
            if i:
                delta = delta @ weights[i]
                delta *= a > 0  # ReLU'
        return value

    def step(self):
        """One optimizer update of every parameter, in place."""
        self.t += 1
        for p, g, m, s, v in zip(self.params, self.grads, self.m, self.scratch, self.v or self.m):
            if self.optimizer == "momentum":  # torch SGD(momentum)
                if self.t == 1:
                    np.copyto(m, g)
                else:
                    m *= self.momentum
                    m += g
                np.multiply(m, self.lr, out=s)
                p -= s
                flush_small(m, s)
            else:  # torch Adam
                beta1, beta2 = self.betas
                m *= beta1
                np.multiply(g, 1 - beta1, out=s)
                m += s
                np.multiply(g, g, out=s)
                s *= 1 - beta2
                v *= beta2
                v += s
                flush_small(m, s)
                flush_small(v, s)
                bias1, bias2 = 1 - beta1**self.t, 1 - beta2**self.t
                np.sqrt(v, out=s)
                s *= 1 / math.sqrt(bias2)
                s += self.eps
                np.divide(m, s, out=s)
                s *= self.lr / bias1
                p -= s
