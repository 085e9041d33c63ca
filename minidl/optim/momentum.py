"""Momentum in the seed's form: an exponential moving average of the gradients."""

from .optimizer import Optimizer, required

__all__ = ["Momentum"]


class Momentum(Optimizer):
    """Gradient descent with momentum, as the seed writes it (v_dW starts at 0)::

        v_dW = beta * v_dW + (1 - beta) * dW
        W = W - alpha * v_dW

    alpha = ``lr``; state: ``velocity`` (v_dW).

    Because v_dW starts at zero, this is exactly ``SGD(lr=lr * (1 - beta), momentum=beta)``
    (dampening 0; equal up to float rounding): SGD's buffer is u = v / (1 - beta) at every
    step, since u = beta*u + dW follows from v's update, and SGD's first step u = dW agrees
    with v = (1 - beta) * dW from v = 0. ``SGD(lr, momentum=beta, dampening=beta)`` is *not* the
    same: torch starts its buffer at the raw gradient on the first step, undamped, so its
    first update is lr * dW instead of lr * (1 - beta) * dW, and that difference decays like
    beta**t through all later steps.
    """

    state_defaults = {"velocity": 0.0}
    update = """
        velocity = beta * velocity + (1 - beta) * g
        p = p - lr * velocity
    """

    def __init__(self, params, lr=required, beta=0.9, *, flush_denormal=True, executor="fast"):
        super().__init__(
            params, dict(lr=lr, beta=beta, flush_denormal=flush_denormal, executor=executor)
        )
