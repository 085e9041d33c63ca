"""Stochastic gradient descent, with torch.optim.SGD's momentum, dampening and Nesterov."""

from .optimizer import Optimizer, required
from .rules import decayed_gradient

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD with exactly ``torch.optim.SGD``'s semantics.

    In the seed's notation (W a parameter, dW its gradient, v_dW the momentum buffer,
    alpha = ``lr``, beta = ``momentum``, t counted from 1)::

        dW = -dW                           if maximize
        dW = dW + weight_decay * W         if weight_decay
        v_dW = dW                          at t = 1 (the buffer starts as the gradient)
        v_dW = beta * v_dW + (1 - dampening) * dW      at t > 1
        W = W - alpha * (dW + beta * v_dW) if nesterov
        W = W - alpha * v_dW               otherwise (plain SGD when momentum == 0: W - alpha * dW)

    State: ``momentum_buffer`` (when momentum != 0).
    """

    def __init__(
        self,
        params,
        lr=required,
        momentum=0,
        dampening=0,
        nesterov=False,
        weight_decay=0,
        maximize=False,
        *,
        flush_denormal=True,
        executor="fast",
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                nesterov=nesterov,
                weight_decay=weight_decay,
                maximize=maximize,
                flush_denormal=flush_denormal,
                executor=executor,
            ),
        )

    def validate(self, group):
        super().validate(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def initial_state(self, group):
        return {"momentum_buffer": 0.0} if group["momentum"] else {}

    def rule(self, group, step):
        lines = [decayed_gradient(group)]
        if not group["momentum"]:
            return "\n".join(lines + ["p = p - lr * g"])
        if step == 1:
            lines.append("momentum_buffer = g")
        elif group["dampening"]:
            lines.append("momentum_buffer = momentum * momentum_buffer + (1 - dampening) * g")
        else:  # the common case, one array operation shorter
            lines.append("momentum_buffer = momentum * momentum_buffer + g")
        lines.append(
            "p = p - lr * (g + momentum * momentum_buffer)"
            if group["nesterov"]
            else "p = p - lr * momentum_buffer"
        )
        return "\n".join(lines)
