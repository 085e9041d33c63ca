"""Guards for training loops: stop at the first NaN or infinity instead of training on.

A run that diverges (too high a learning rate, an overflow) keeps computing: NaN
losses, NaN gradients, NaN weights, and a checkpoint saved afterwards holds them.
Check the loss every step (it is one float you already have) and the parameters
before each checkpoint::

    from minidl.utils import NonFiniteError, check_finite

    loss_value = loss.item()
    check_finite(loss_value, "loss")        # raises NonFiniteError: nan / inf
    ...
    check_finite(model, "model")            # before minidl.save: every parameter
"""

import math

import numpy

from . import backend
from .tensor import Tensor

__all__ = ["NonFiniteError", "check_finite"]


class NonFiniteError(FloatingPointError):
    """A loss, gradient or parameter is NaN or infinite: training has diverged.

    ``name`` says what was checked (e.g. ``"loss"``, ``"model.0.weight"``), ``value``
    is the offending value (a float, or for arrays the first non-finite element).
    """

    def __init__(self, name, value):
        self.name, self.value = name, value
        super().__init__(f"{name} is {value} (not finite): training has diverged")


def _first_non_finite(array):
    """None when every element of ``array`` is finite, else the first one that is not."""
    xp = backend.array_module(array)
    if xp.isfinite(array).all():
        return None
    return array[~xp.isfinite(array)].ravel()[0].item()


def check_finite(value, name="value"):
    """Raise :class:`NonFiniteError` unless ``value`` is entirely finite.

    value: a number, a NumPy/CuPy array or Tensor (every element checked), a Module
    (every parameter and buffer, reported by its state_dict name under ``name``), or an
    iterable of those (e.g. ``model.parameters()``; reported as ``name[i]``).
    Integer and boolean data are always finite. Returns None.
    """
    from .nn.module import Module  # late: minidl.nn imports minidl.tensor, not this module

    if isinstance(value, Module):
        for key, tensor in value.state_dict().items():
            check_finite(tensor, f"{name}.{key}")
        return
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, (bool, int, numpy.integer, numpy.bool_)):
        return
    if isinstance(value, (float, numpy.floating)):
        if not math.isfinite(value):
            raise NonFiniteError(name, float(value))
        return
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        if value.dtype.kind in "fc":
            bad = _first_non_finite(value)
            if bad is not None:
                raise NonFiniteError(name, bad)
        elif value.dtype.kind not in "biu":
            raise TypeError(f"check_finite: {name} has dtype {value.dtype}, not a number")
        return
    if isinstance(value, complex):
        if not (math.isfinite(value.real) and math.isfinite(value.imag)):
            raise NonFiniteError(name, value)
        return
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        items = iter(value)
    except TypeError:
        raise TypeError(
            f"check_finite: cannot check {name} of type "
            f"{type(value).__name__}; pass a number, an array, a Tensor, a "
            "Module or an iterable of them"
        ) from None
    for index, item in enumerate(items):
        check_finite(item, f"{name}[{index}]")
