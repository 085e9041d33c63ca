"""Adam and AdamW (bias-corrected, as in torch.optim.Adam / AdamW)."""
from minidl.optim.optimizer import Optimizer
from minidl.optim.sgd import _decayed_gradient

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam with ``torch.optim.Adam``'s semantics.

    The seed's pseudocode, corrected (its second moment reads ``beta * v_dW``), with t
    counted from 1 and the bias corrections computed on the host::

        dW = -dW ; dW = dW + weight_decay * W      (if maximize ; if weight_decay: L2, coupled)
        v_dW = beta1 * v_dW + (1 - beta1) * dW
        s_dW = beta2 * s_dW + (1 - beta2) * dW**2
        s_max = max(s_max, s_dW)  and use it for s_dW below      (amsgrad only)
        v_corr = v_dW / (1 - beta1**t) ; s_corr = s_dW / (1 - beta2**t)
        W = W - alpha * v_corr / (sqrt(s_corr) + eps)

    alpha = ``lr``; state: ``exp_avg`` (v_dW), ``exp_avg_sq`` (s_dW), ``max_exp_avg_sq``
    (s_max). The kernel uses the same update rearranged so that every scalar is one host
    coefficient: W = W - [alpha*sqrt(1-beta2**t)/(1-beta1**t)] * v_dW / (sqrt(s_dW) +
    [eps*sqrt(1-beta2**t)]), equal up to rounding.

    ``flush_denormal`` (default True): after each step the state is flushed of float
    subnormals, so parameters that keep getting zero gradients do not leave exp_avg stuck
    among the slow subnormals: entries of magnitude <= ``finfo(dtype).tiny`` (1.18e-38 in
    float32) become 0, entries below 6.6e-24 move by at most 7.9e-31, larger ones not at all
    (see :mod:`minidl.optim.kernels`). The effect on W is below lr * 7.9e-31 / eps per step
    (8e-23 * lr at the defaults), invisible in float32. An integer K flushes each CPU chunk
    every K-th step only; False never.
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, flush_denormal=True):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, flush_denormal=flush_denormal))

    def initial_state(self, group):
        names = ["exp_avg", "exp_avg_sq"] + ["max_exp_avg_sq"] * bool(group["amsgrad"])
        return dict.fromkeys(names, 0.0)

    def rule(self, group, step):
        lines = moment_lines(group, self.decoupled)
        s = "exp_avg_sq"
        if group["amsgrad"]:
            lines.append("max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq)")
            s = "max_exp_avg_sq"
        lines.append("p = p - lr * sqrt(1 - beta2 ** step) / (1 - beta1 ** step) * exp_avg"
                     f" / (sqrt({s}) + eps * sqrt(1 - beta2 ** step))")
        return "\n".join(lines)


def moment_lines(group, decoupled):
    """The rule lines the Adam family shares: maximize and weight decay (L2 on the gradient,
    or decoupled: W = W * (1 - alpha * weight_decay)), then both moving averages."""
    if decoupled:
        lines = ["g = -g" if group["maximize"] else "",
                 "p = (1 - lr * weight_decay) * p" if group["weight_decay"] else ""]
    else:
        lines = [_decayed_gradient(group)]
    return lines + ["exp_avg = beta1 * exp_avg + (1 - beta1) * g",
                    "exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g"]


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``), default weight_decay=1e-2::

        W = W * (1 - alpha * weight_decay)     first, then Adam's update without L2 on dW
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, flush_denormal=True):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad,
                         maximize=maximize, flush_denormal=flush_denormal)
