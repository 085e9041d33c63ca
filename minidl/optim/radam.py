"""RAdam: Adam with the variance of its adaptive step rectified (torch.optim.RAdam)."""

import math

from .optimizer import Optimizer
from .rules import adam_moments

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """Rectified Adam (Liu et al., 2019) with ``torch.optim.RAdam``'s semantics::

        dW = dW + weight_decay * W   (or W = W * (1 - alpha * weight_decay) if decoupled)
        v_dW = beta1 * v_dW + (1 - beta1) * dW
        s_dW = beta2 * s_dW + (1 - beta2) * dW**2
        rho_inf = 2 / (1 - beta2) - 1 ; rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        W = W - alpha * r_t * sqrt(1 - beta2**t) / (1 - beta1**t) * v_dW / (sqrt(s_dW) + eps)
                                                  if rho_t > 5
        W = W - alpha / (1 - beta1**t) * v_dW     otherwise (the first few steps: plain momentum)

    alpha = ``lr``; state: ``exp_avg`` (v_dW), ``exp_avg_sq`` (s_dW). Which of the two
    updates a step uses depends on t alone, so it is chosen on the host.
    """

    state_defaults = {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        decoupled_weight_decay=False,
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
                decoupled_weight_decay=decoupled_weight_decay,
                maximize=maximize,
                flush_denormal=flush_denormal,
                executor=executor,
            ),
        )

    @staticmethod
    def _rho(group, step):
        beta2 = group["betas"][1]
        rho_inf = 2 / (1 - beta2) - 1
        return rho_inf, rho_inf - 2 * step * beta2**step / (1 - beta2**step)

    def scalars(self, group, step):
        ns = super().scalars(group, step)
        rho_inf, rho_t = self._rho(group, step)
        if rho_t > 5:
            ns["rect"] = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
        return ns

    def rule(self, group, step):
        lines = adam_moments(group, group["decoupled_weight_decay"])
        if self._rho(group, step)[1] > 5:
            lines.append(
                "p = p - lr * rect * sqrt(1 - beta2 ** step) / (1 - beta1 ** step)"
                " * exp_avg / (sqrt(exp_avg_sq) + eps)"
            )
        else:
            lines.append("p = p - lr / (1 - beta1 ** step) * exp_avg")
        return "\n".join(lines)
