"""The subnormal flush of optimizer state: why, when, and the code that does it.

This is the one place that explains it; the optimizers, the executors and the README point here.

Why. A moving average fed exact zeros (MNIST's border pixels, a layer of dead ReLUs) decays
geometrically (x0.9 a step for Adam's m) towards the subnormal range, below
``tiny = finfo(dtype).tiny`` (1.18e-38 in float32). Every CPU multiply with a subnormal
operand or result takes a microcode assist, ~30x slower, so a step over such a state slows
down by an order of magnitude (``benchmarks/bench_optim.py``, "subnormal trap").

What. After the update every state array gets ``s = s * (|s| >= T)`` with

    T = threshold(dtype) = 2**(mantissa bits + 1) * tiny = 2 * tiny / eps_of_dtype
      = 2.0e-31 in float32, 2.0e-292 in float64.

Entries below T become exactly 0, NaN and inf stay (NaN >= T is False, NaN * 0 is NaN). The
margin of 2**(mantissa bits + 1) over tiny keeps not only the state normal but also the
products the update forms from it (``beta1 * m``, ``lr * m``), for any coefficient above
2**-24 (float32) times the decay between two flushes. Flushing at tiny itself is not enough:
a decaying average then hovers just above tiny and ``lr * m`` is subnormal at every step.
No global FPU flags are touched (torch's ``set_flush_denormal`` flushes at tiny, process-wide).

Effect on the results. Only entries below T change. Where the update divides by the state
(Adam, RMSprop, Adagrad: ``m / (sqrt(v) + eps)``), a flushed denominator changes by less
than sqrt(T), negligible next to eps when eps >= :data:`MIN_EPS`; a group with a smaller eps
(eps = 0 in particular, where a flushed ``v`` would turn ``m / sqrt(v)`` into inf) is not
flushed (:func:`applies`). Otherwise a parameter moves by less than lr * T / eps per step more
or less than without the flush (2e-23 * lr at eps = 1e-8), far below float32 resolution.

When. ``flush_denormal=True`` (the default) flushes each CPU chunk every
``Optimizer.flush_period`` = 4 steps, staggered over the chunks (chunk i at the steps t with
(t + i) % 4 == 0), so each step pays a quarter of the three in-cache passes; between two
flushes an entry decays by at most beta**3 below T, still 2**23 times above tiny.
``flush_denormal=K`` sets the period, ``False`` turns it off. The plain executor and the GPU
kernel flush at every step (on the GPU it is fused, so free).

Which dtypes. :func:`threshold` is None where the flush is meaningless: float16, which
NumPy computes in float32 (where every float16 subnormal is a normal number) and whose
threshold by the formula above would be 0.125, a value that ordinary state reaches.
"""

import math

import numpy

__all__ = ["threshold", "applies", "MIN_EPS", "flush_", "numpy_lines", "cuda_line"]

# dtypes the CPU computes natively, so that their subnormals are slow
_NATIVE = {numpy.dtype(numpy.float32), numpy.dtype(numpy.float64), numpy.dtype(numpy.longdouble)}


def threshold(dtype):
    """T for ``dtype`` (2 * tiny / eps), or None where the flush is meaningless."""
    dtype = numpy.dtype(dtype)
    if dtype not in _NATIVE:
        return None
    fi = numpy.finfo(dtype)
    return 2 * float(fi.tiny) / float(fi.eps)


# The smallest eps for which flushing a denominator (sqrt(v) + eps, v < T) is invisible:
# sqrt(T) changes it by at most 2**-16 relative (float32's T, the largest of the native dtypes).
MIN_EPS = 2.0**16 * math.sqrt(threshold(numpy.float32))


def applies(group):
    """Whether a group's state may be flushed: flush_denormal on and eps (if any) >= MIN_EPS."""
    eps = group.get("eps")
    return group.get("flush_denormal", True) is not False and (eps is None or eps >= MIN_EPS)


def flush_(s, t):
    """Whole-array flush in place (NumPy or CuPy): entries with |s| < t become 0."""
    s *= abs(s) >= t


def numpy_lines(state, scratch):
    """The flush of one state chunk as generated NumPy calls: three in-cache passes."""
    return [
        f"np_absolute({state}, {scratch})",
        f"np_greater_equal({scratch}, flush_threshold, {scratch})",
        f"np_multiply({state}, {scratch}, {state})",
    ]


def cuda_line(state):
    """The flush of one state value in the fused GPU kernel."""
    return f"if ({state} < flush_threshold && {state} > -flush_threshold) {state} = 0;"
