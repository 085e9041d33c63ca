"""Gradient clipping (``minidl.nn.utils``), in place on ``param.grad``."""

import math

from ..backend import array_module
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.data for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients by min(1, max_norm / (total_norm + 1e-6)), where total_norm is
    the norm of all gradients together as one vector. Returns total_norm (a float); when
    it is inf or nan the gradients are left as they are (or, with error_if_nonfinite,
    an error is raised)."""
    grads = _grads(parameters)
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    if norm_type == math.inf:
        total = max(float(abs(g).max()) for g in grads)
    else:
        total = sum(float((abs(g) ** norm_type).sum()) for g in grads) ** (1 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} of the gradients is "
            f"{total}, so they cannot be clipped"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1 and math.isfinite(total):  # inf or nan: no meaningful scale, leave them
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value]."""
    for g in _grads(parameters):
        array_module(g).clip(g, -clip_value, clip_value, out=g)
