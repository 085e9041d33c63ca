"""Rule lines that several optimizers share (the language: :mod:`minidl.optim.kernels`).

Each function takes a parameter group and returns rule text; an empty line means nothing to do.
"""

__all__ = ["decayed_gradient", "adam_moments"]


def decayed_gradient(group):
    """``maximize`` (dW = -dW) and L2 ``weight_decay`` (dW = dW + weight_decay * W) on g."""
    maximize, decay = group.get("maximize", False), group.get("weight_decay", 0)
    if maximize and decay:
        return "g = weight_decay * p - g"
    if maximize:
        return "g = -g"
    if decay:
        return "g = g + weight_decay * p"
    return ""


def adam_moments(group, decoupled):
    """The Adam family's first lines: maximize, weight decay (L2 on the gradient, or
    decoupled: W = W * (1 - alpha * weight_decay)), then both moving averages::

        v_dW = beta1 * v_dW + (1 - beta1) * dW ; s_dW = beta2 * s_dW + (1 - beta2) * dW**2
    """
    if decoupled:
        lines = [
            "g = -g" if group["maximize"] else "",
            "p = (1 - lr * weight_decay) * p" if group["weight_decay"] else "",
        ]
    else:
        lines = [decayed_gradient(group)]
    return lines + [
        "exp_avg = beta1 * exp_avg + (1 - beta1) * g",
        "exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g",
    ]
