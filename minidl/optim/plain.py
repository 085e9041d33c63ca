"""Executors run a compiled update rule over the parameters of a group; read this one first.

The optimizer (:mod:`minidl.optim.optimizer`) keeps the books: groups, hyperparameters, the
state dicts and step counts. It compiles the rule of each step (:mod:`minidl.optim.kernels`),
evaluates its scalar coefficients, and hands the work to its group's executor:

* ``executor.new_state(p, initial)``: fresh state arrays for ``p`` (name -> initial value),
  which the optimizer puts in ``optimizer.state[p]`` at the parameter's first step;
* ``executor.run(rule, params, states, coefficients, step, flush_every)``: apply ``rule`` to
  ``params`` (which all have a ``.grad``) with their state dicts ``states``, in place;
  ``flush_every`` is 0 (no subnormal flush) or a period K (:mod:`minidl.optim.flush`).

Two executors implement it (choose with ``executor="plain"`` or ``"fast"``, the default):

* :class:`PlainExecutor`, here: the rule evaluated statement by statement on whole arrays,
  one parameter after the other (like torch's ``_single_tensor`` functions);
* :class:`~minidl.optim.fast.FastExecutor`: flat state, cache-sized CPU chunks, one fused
  CuPy kernel per group (like torch's ``_multi_tensor`` / ``_fused``).

Both give the same numbers (bit for bit for ``+ - * / sqrt``), checked by the same tests.
"""

import ast

from .. import backend
from . import flush

__all__ = ["PlainExecutor"]


class PlainExecutor:
    """Per-parameter, whole-array NumPy/CuPy evaluation of the rule."""

    def __init__(self, params):
        pass  # keeps nothing: all state is in the optimizer's state dicts

    def new_state(self, p, initial):
        xp = backend.array_module(p.data)
        return {name: xp.full(p.data.shape, value, p.data.dtype) for name, value in initial.items()}

    def run(self, rule, params, states, coefficients, step, flush_every):
        for p, st in zip(params, states):
            xp = backend.array_module(p.data)
            dtype = p.data.dtype
            env = {
                "p": p.data,
                "g": p.grad.data.astype(dtype, copy=False),
                **{name: st[name] for name in rule.state_names},
                **{name: dtype.type(c) for name, c in zip(rule.coef_names, coefficients)},
            }
            for target, expr in rule.statements:  # coefficients are folded in: only arrays left
                value = _evaluate(expr, env, xp)
                env[target] = value.copy() if isinstance(expr, ast.Name) else value  # `m = g`
            for name in rule.stored:  # write the results into the parameter and its state
                out = st[name] if name != "p" else p.data
                out[...] = env[name]
            threshold = flush.threshold(dtype)
            if flush_every and threshold is not None:  # every step (no chunks to stagger)
                for name in rule.state_names:
                    flush.flush_(st[name], dtype.type(threshold))


_OPERATORS = {
    ast.Add: "add",
    ast.Sub: "subtract",
    ast.Mult: "multiply",
    ast.Div: "divide",
    ast.Pow: "power",
}
_FUNCTIONS = {
    "sqrt": "sqrt",
    "abs": "absolute",
    "exp": "exp",
    "log": "log",
    "maximum": "maximum",
    "minimum": "minimum",
}


def _evaluate(node, env, xp):
    """One expression of a rule, on whole arrays (``xp`` is numpy or cupy)."""
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return getattr(xp, _OPERATORS[type(node.op)])(
            _evaluate(node.left, env, xp), _evaluate(node.right, env, xp)
        )
    if isinstance(node, ast.UnaryOp):
        return xp.negative(_evaluate(node.operand, env, xp))
    return getattr(xp, _FUNCTIONS[node.func.id])(*[_evaluate(a, env, xp) for a in node.args])
