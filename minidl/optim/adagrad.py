"""Adagrad (torch.optim.Adagrad's semantics)."""

from .optimizer import Optimizer
from .rules import decayed_gradient

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad: every coordinate's step shrinks with the sum of its squared gradients::

        dW = -dW ; dW = dW + weight_decay * W      (if maximize ; if weight_decay)
        s_dW = s_dW + dW**2                        (s_dW starts at initial_accumulator_value)
        W = W - alpha / (1 + (t - 1) * lr_decay) * dW / (sqrt(s_dW) + eps)

    alpha = ``lr``; state: ``sum`` (s_dW).
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        *,
        maximize=False,
        flush_denormal=True,
        executor="fast",
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                maximize=maximize,
                flush_denormal=flush_denormal,
                executor=executor,
            ),
        )

    def initial_state(self, group):
        return {"sum": group["initial_accumulator_value"]}

    def rule(self, group, step):
        return "\n".join(
            [
                decayed_gradient(group),
                "sum = sum + g * g",
                "p = p - lr / (1 + (step - 1) * lr_decay) * g / (sqrt(sum) + eps)",
            ]
        )
