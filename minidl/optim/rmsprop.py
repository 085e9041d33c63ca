"""RMSprop, with torch.optim.RMSprop's momentum and centered options."""

from .optimizer import Optimizer
from .rules import decayed_gradient

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop with ``torch.optim.RMSprop``'s semantics; ``alpha`` is the seed's beta.

    The seed's pseudocode, corrected (it reads ``beta * v_dW`` and drops a ``*``)::

        dW = -dW ; dW = dW + weight_decay * W      (if maximize ; if weight_decay)
        s_dW = alpha * s_dW + (1 - alpha) * dW**2
        g_dW = alpha * g_dW + (1 - alpha) * dW     (centered only)
        d = sqrt(s_dW - g_dW**2) + eps             (centered)   or   sqrt(s_dW) + eps
        b = momentum * b + dW / d ; W = W - lr * b (momentum > 0)
        W = W - lr * dW / d                        (otherwise)

    State (all starting at 0): ``square_avg`` (s_dW), ``grad_avg`` (g_dW, centered),
    ``momentum_buffer`` (b, momentum > 0).
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        *,
        maximize=False,
        flush_denormal=True,
        executor="fast",
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                maximize=maximize,
                flush_denormal=flush_denormal,
                executor=executor,
            ),
        )

    def initial_state(self, group):
        names = (
            ["square_avg"]
            + ["grad_avg"] * bool(group["centered"])
            + ["momentum_buffer"] * bool(group["momentum"])
        )
        return dict.fromkeys(names, 0.0)

    def rule(self, group, step):
        lines = [decayed_gradient(group), "square_avg = alpha * square_avg + (1 - alpha) * g * g"]
        if group["centered"]:
            lines += [
                "grad_avg = alpha * grad_avg + (1 - alpha) * g",
                "d = sqrt(square_avg - grad_avg * grad_avg) + eps",
            ]
        else:
            lines.append("d = sqrt(square_avg) + eps")
        if group["momentum"]:
            lines += [
                "momentum_buffer = momentum * momentum_buffer + g / d",
                "p = p - lr * momentum_buffer",
            ]
        else:
            lines.append("p = p - lr * g / d")
        return "\n".join(lines)
