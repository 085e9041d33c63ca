"""Flat buffers: all parameters of a group (of one device and dtype) in one contiguous array.

Each parameter's ``.data`` becomes a view into ``FlatBucket.flat``, and each state array
(``exp_avg``, ...) is one flat array of the same length, so one update covers every
parameter of the group:

* on the CPU the flat range is walked in chunks of ``chunk_size`` elements (128 KiB of
  float32 by default, so a chunk's p, g, state and scratch stay in L2 while the rule's
  ufunc passes run over it: 32K elements measured fastest, 8K-16K pay more per-call
  overhead, 64K starts to spill); the chunk views are built once and cached, and the scratch
  chunks are allocated once, so a step after the first allocates no array;
* on the GPU the whole range is one call of the rule's fused ElementwiseKernel.

Gradients are separate arrays (backward may create them afresh each step): a chunk inside
one parameter reads its gradient in place; a chunk spanning parameters first gathers the
pieces into a scratch chunk (the gradient has to be read once anyway).
"""
import numpy

from minidl import backend
from minidl.optim.kernels import flush_threshold

_ALIGN = 64  # bytes: start each flat CPU buffer on a cache line


def _empty(xp, n, dtype):
    if xp is not numpy:
        return xp.empty(n, dtype)
    dtype = numpy.dtype(dtype)
    raw = numpy.empty(n * dtype.itemsize + _ALIGN, numpy.uint8)
    start = -raw.ctypes.data % _ALIGN
    return raw[start:start + n * dtype.itemsize].view(dtype)


def _full(xp, n, dtype, value):
    out = _empty(xp, n, dtype)
    out.fill(value)
    return out


def _data(x):
    """The backend array of a Tensor (or of a bare array)."""
    return getattr(x, "data", x)


class FlatBucket:
    """The parameters of one group that share a device and a dtype, flattened."""

    def __init__(self, params, chunk_size):
        self.params = list(params)
        first = _data(self.params[0])
        self.xp = backend.array_module(first)
        self.dtype = first.dtype
        self.chunk_size = int(chunk_size)
        self.sizes = [int(_data(p).size) for p in self.params]
        self.offsets = [0]
        for n in self.sizes:
            self.offsets.append(self.offsets[-1] + n)
        self.total = self.offsets[-1]
        self.flat = _empty(self.xp, self.total, self.dtype)
        self.views = []
        for p, lo, hi in zip(self.params, self.offsets, self.offsets[1:]):
            view = self.flat[lo:hi].reshape(_data(p).shape)
            view[...] = _data(p)
            p.data = view
            self.views.append(view)
        self.state = {}        # name -> flat array
        self.state_views = {}  # name -> per-parameter views shaped like the parameters
        self.scratch = []      # CPU: scratch chunks shared by all rules
        self.gather = None     # CPU: a chunk; GPU: a flat gradient buffer, made when needed
        self.plans = {}
        self.scalars = {}      # CPU: rule -> its coefficients as 0-d arrays, bound into the plans

    def owns(self, p):
        return any(q is p for q in self.params)

    # -------------------------------------------------------------- parameters
    def readopt(self):
        """Re-point parameters whose ``.data`` was replaced; False if the bucket must be rebuilt."""
        for k, p in enumerate(self.params):
            data = _data(p)
            if data is self.views[k]:
                continue
            if backend.array_module(data) is not self.xp or data.dtype != self.dtype \
                    or data.shape != self.views[k].shape:
                return False
            self.views[k][...] = data
            p.data = self.views[k]
        return True

    # ------------------------------------------------------------------- state
    def ensure_state(self, name, initial):
        if name not in self.state:
            flat = _full(self.xp, self.total, self.dtype, initial)
            self.state[name] = flat
            self.state_views[name] = [flat[lo:hi].reshape(v.shape) for v, lo, hi
                                      in zip(self.views, self.offsets, self.offsets[1:])]
        return self.state_views[name]

    def reset_state(self, k, initial_values):
        """Put parameter k's state back to the initial values (before it was ever stepped)."""
        for name, flat in self.state.items():
            flat[self.offsets[k]:self.offsets[k + 1]] = initial_values.get(name, 0)

    # -------------------------------------------------------------------- step
    def run(self, rule, first, last, grads, coefficients, step=1, flush_every=1):
        """Apply ``rule`` to parameters first..last-1 (consecutive) with their ``grads``.

        With ``flush_every`` = K > 1 the CPU flushes each chunk's state only every K-th
        step, staggered over the chunks (chunk i at the steps t with (t + i) % K == 0).
        """
        if rule.flush:
            coefficients = [*coefficients, flush_threshold(self.dtype)]
        if self.xp is numpy:
            self._run_cpu(rule, first, last, grads, coefficients, step, max(1, int(flush_every)))
        else:
            self._run_gpu(rule, first, last, grads, [self.dtype.type(c) for c in coefficients])

    def _flat_grad(self, grad, k):
        g = _data(grad)
        if g.shape != self.views[k].shape:
            raise ValueError(f"gradient of shape {tuple(g.shape)} for a parameter of shape "
                             f"{tuple(self.views[k].shape)}")
        return g.reshape(-1)  # a view unless the gradient is not contiguous

    def _run_cpu(self, rule, first, last, grads, coefs, step, flush_every):
        plan = self.plans.get((rule, first, last))
        if plan is None:
            plan = self.plans[(rule, first, last)] = self._plan(rule, first, last, len(coefs))
        scalars = self.scalars.get(rule)
        if scalars is None:  # 0-d arrays: ufuncs take them faster than Python or NumPy scalars
            scalars = self.scalars[rule] = [numpy.zeros((), self.dtype) for _ in coefs]
        for array, value in zip(scalars, coefs):
            array[()] = value
        gflat = [self._flat_grad(g, first + j) for j, g in enumerate(grads)]
        runs = [rule.chunk_function] if flush_every == 1 else \
            [rule.chunk_function] + [rule.chunk_function_noflush] * (flush_every - 1)
        gather = self.gather
        for index, (pieces, n, bound) in enumerate(plan):
            if len(pieces) == 1 and gflat[pieces[0][0]].dtype == self.dtype:
                j, lo, hi, _ = pieces[0]
                g = gflat[j][lo:hi]
            else:
                g = gather[:n]
                for j, lo, hi, at in pieces:
                    numpy.copyto(g[at:at + hi - lo], gflat[j][lo:hi], casting="same_kind")
            runs[(step + index) % flush_every](g, *bound)

    def _plan(self, rule, first, last, n_coefs):
        """Chunks of parameters first..last-1: (gradient pieces, length, views bound to the rule)."""
        size = self.chunk_size
        while len(self.scratch) < rule.n_scratch:
            self.scratch.append(_empty(numpy, size, self.dtype))
        if self.gather is None:
            self.gather = _empty(numpy, size, self.dtype)
        states = [self.state[s] for s in rule.state_names]
        scalars = self.scalars.setdefault(rule, [numpy.zeros((), self.dtype) for _ in range(n_coefs)])
        plan = []
        begin, end = self.offsets[first], self.offsets[last]
        for lo in range(begin, end, size):
            hi = min(lo + size, end)
            pieces = []
            for k in range(first, last):
                a, b = max(lo, self.offsets[k]), min(hi, self.offsets[k + 1])
                if a < b:
                    pieces.append((k - first, a - self.offsets[k], b - self.offsets[k], a - lo))
            n = hi - lo
            bound = (self.flat[lo:hi], *[s[lo:hi] for s in states],
                     *[t[:n] for t in self.scratch[:rule.n_scratch]], *scalars)
            plan.append((pieces, n, bound))
        return plan

    def _run_gpu(self, rule, first, last, grads, coefs):
        lo, hi = self.offsets[first], self.offsets[last]
        gflat = [self._flat_grad(g, first + j) for j, g in enumerate(grads)]
        if len(gflat) == 1 and gflat[0].dtype == self.dtype:
            g = gflat[0]
        else:
            if self.gather is None:
                self.gather = self.xp.empty(self.total, self.dtype)
            g = self.gather[lo:hi]
            for j, piece in enumerate(gflat):
                a, b = self.offsets[first + j] - lo, self.offsets[first + j + 1] - lo
                g[a:b] = piece
        kernel = rule.cuda_kernel(self.dtype)
        kernel(g, *coefs, self.flat[lo:hi], *[self.state[s][lo:hi] for s in rule.state_names])
