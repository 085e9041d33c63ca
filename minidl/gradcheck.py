"""Check autograd against central finite differences, in float64.

For a function ``fn`` of tensors, autograd gives the vector-Jacobian product
``J^T r`` for a fixed random ``r`` in one backward pass; central differences give
the same quantity element by element:

    d/dx_i  sum(r * fn(x))  ~=  (sum(r * fn(x + eps e_i)) - sum(r * fn(x - eps e_i))) / (2 eps)

Each element must satisfy ``|analytic - numeric| <= atol + rtol * |numeric|``.
"""

import numpy

from . import autograd, backend, ops
from .tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree; the message names the worst element."""


def _output(fn, inputs):
    """``fn(*inputs)`` as one floating-point Tensor. Several outputs (a tuple or list, as
    torch allows) are flattened and concatenated, so that one weighted sum checks them
    all; outputs that are not floating point have no gradient and are skipped, as in torch."""
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: fn must return Tensors, got {type(o).__name__}")
    if len(outs) == 1 and outs[0].dtype.kind == "f":
        return outs[0]
    outs = [o.reshape(-1) for o in outs if o.dtype.kind == "f"]
    if not outs:
        raise TypeError(
            "gradcheck: fn returned no floating point Tensor, so there is no gradient to check"
        )
    return outs[0] if len(outs) == 1 else ops.cat(outs)


def _inputs(inputs, eps, atol, rtol):
    """``inputs`` as a list (a single Tensor is one input), after checking the tolerances."""
    if not eps or not numpy.isfinite(eps):
        raise ValueError(f"gradcheck: eps must be a nonzero finite step, got {eps!r}")
    for name, value in (("atol", atol), ("rtol", rtol)):
        if not value >= 0:
            raise ValueError(
                f"gradcheck: {name} must be greater than or equal to zero, got {value}"
            )
    if isinstance(inputs, Tensor):
        return [inputs]
    if not isinstance(inputs, (tuple, list)):
        raise TypeError(
            f"gradcheck: inputs must be a Tensor or a tuple of Tensors, got {type(inputs).__name__}"
        )
    return list(inputs)


def _weighted_sum(out, weights):
    return (out * Tensor(weights, device=out.device)).sum()


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True):
    """Compare the gradients autograd computes for ``fn(*inputs)`` with finite differences.

    ``inputs``: a Tensor or a sequence of Tensors (and constants, passed through).
    Floating-point tensors that require grad are checked; they are copied to float64
    on the host first, so ``fn`` sees float64. Returns True, or raises
    :class:`GradcheckError` naming the input, the worst element, both values and the
    error (or returns False when ``raise_exception=False``).
    """
    inputs = _inputs(inputs, eps, atol, rtol)
    checked = [isinstance(x, Tensor) and x.requires_grad for x in inputs]
    if not any(checked):
        raise ValueError("gradcheck: no input requires grad; nothing to check")
    inputs = [
        Tensor(backend.to_device(x.data, "cpu").astype(numpy.float64), requires_grad=True)
        if c
        else x
        for x, c in zip(inputs, checked)
    ]

    with autograd.enable_grad():
        out = _output(fn, inputs)
        weights = numpy.random.default_rng(seed).standard_normal(out.shape)
        if out.requires_grad:  # else fn does not depend on its inputs: zero gradients
            _weighted_sum(out, weights).backward()

    with autograd.no_grad():
        for position, (x, c) in enumerate(zip(inputs, checked)):
            if not c:
                continue
            analytic = numpy.zeros(x.shape) if x.grad is None else x.grad.numpy()
            numeric = numpy.empty(x.shape)
            flat = x.data.reshape(-1)  # a view: perturb in place
            for i in range(flat.size):
                original = flat[i]
                flat[i] = original + eps
                plus = _weighted_sum(_output(fn, inputs), weights).item()
                flat[i] = original - eps
                minus = _weighted_sum(_output(fn, inputs), weights).item()
                flat[i] = original
                numeric.flat[i] = (plus - minus) / (2 * eps)
            excess = numpy.abs(analytic - numeric) - (atol + rtol * numpy.abs(numeric))
            excess = numpy.where(numpy.isnan(excess), numpy.inf, excess)  # NaN: a failure
            if excess.size and excess.max() > 0:
                worst = numpy.unravel_index(int(excess.argmax()), x.shape)
                message = (
                    f"gradcheck failed for input {position} (shape {x.shape}) at index "
                    f"{tuple(int(i) for i in worst)}: autograd {analytic[worst]:.10g}, "
                    f"finite differences {numeric[worst]:.10g}, abs error "
                    f"{abs(analytic[worst] - numeric[worst]):.3g} > atol {atol} + rtol {rtol} "
                    f"* |numeric|"
                )
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True):
    """Check second derivatives: the gradients of the first derivatives, as autograd
    computes them with ``create_graph=True``, against finite differences of the first.

    Like ``torch.autograd.gradgradcheck``: for a fixed random ``v`` of ``fn``'s output
    shape this runs :func:`gradcheck` on ``x -> grad(fn(x), x, grad_outputs=v,
    create_graph=True)``, so a wrong (or silently missing) double backward anywhere in
    ``fn`` fails, naming the input and the worst element.
    """
    inputs = _inputs(inputs, eps, atol, rtol)
    checked = [isinstance(x, Tensor) and x.requires_grad for x in inputs]
    with autograd.enable_grad():
        probe = _output(
            fn,
            [
                Tensor(backend.to_device(x.data, "cpu").astype(numpy.float64), requires_grad=True)
                if c
                else x
                for x, c in zip(inputs, checked)
            ],
        )
    v = numpy.random.default_rng(seed + 1).standard_normal(probe.shape)

    def first_derivatives(*xs):
        with autograd.enable_grad():
            out = _output(fn, xs)
            wrt = [x for x, c in zip(xs, checked) if c]
            if not out.requires_grad:
                return Tensor(numpy.zeros(sum(x.data.size for x in wrt)))
            grads = autograd.grad(
                out,
                wrt,
                grad_outputs=Tensor(v, device=out.device),
                create_graph=True,
                allow_unused=True,
            )
            flat = [
                (g if g is not None else Tensor(numpy.zeros(x.shape))).reshape(-1)
                for g, x in zip(grads, wrt)
            ]
            return flat[0] if len(flat) == 1 else ops.cat(flat)

    return gradcheck(
        first_derivatives,
        inputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        seed=seed,
        raise_exception=raise_exception,
    )
