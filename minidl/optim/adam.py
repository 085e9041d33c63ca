"""Adam and AdamW (bias-corrected, as in torch.optim.Adam / AdamW)."""

from .optimizer import Optimizer
from .rules import adam_moments

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

    ``flush_denormal``, ``executor``: see :mod:`minidl.optim.flush` and :mod:`minidl.optim.plain`.
    """

    decoupled = False

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        maximize=False,
        flush_denormal=True,
        executor="fast",
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=amsgrad,
                maximize=maximize,
                flush_denormal=flush_denormal,
                executor=executor,
            ),
        )

    def initial_state(self, group):
        names = ["exp_avg", "exp_avg_sq"] + ["max_exp_avg_sq"] * bool(group["amsgrad"])
        return dict.fromkeys(names, 0.0)

    def rule(self, group, step):
        lines = adam_moments(group, self.decoupled)
        s = "exp_avg_sq"
        if group["amsgrad"]:
            lines.append("max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq)")
            s = "max_exp_avg_sq"
        lines.append(
            "p = p - lr * sqrt(1 - beta2 ** step) / (1 - beta1 ** step) * exp_avg"
            f" / (sqrt({s}) + eps * sqrt(1 - beta2 ** step))"
        )
        return "\n".join(lines)


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``), default weight_decay=1e-2::

    W = W * (1 - alpha * weight_decay)     first, then Adam's update without L2 on dW
    """

    decoupled = True

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        flush_denormal=True,
        executor="fast",
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            flush_denormal=flush_denormal,
            executor=executor,
        )
