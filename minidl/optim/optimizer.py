"""The optimizer base class: torch.optim's API and the books, nothing of the execution.

``Optimizer`` keeps the parameter groups and their hyperparameters (validated), the
per-parameter state dicts and step counts, ``zero_grad``, ``state_dict`` /
``load_state_dict``; ``step`` compiles each group's rule and hands it to the group's
executor (:mod:`minidl.optim.plain` describes the interface and the plain one, to read first;
:mod:`minidl.optim.fast` is the default, fast one).

Writing a new optimizer is writing a short subclass: the constructor lists its
hyperparameters, ``state_defaults`` its state arrays, and ``update`` its rule, once, in the
seed's notation (see :mod:`minidl.optim.kernels` for the language). For example::

    class SignMomentum(Optimizer):
        '''v = beta*v + (1-beta)*g ; w = w - lr*v/(|v| + 1e-12)'''
        state_defaults = {"v": 0.0}
        update = '''
            v = beta * v + (1 - beta) * g
            p = p - lr * v / (abs(v) + 1e-12)
        '''

        def __init__(self, params, lr=1e-3, beta=0.9):
            super().__init__(params, dict(lr=lr, beta=beta))

A mistake in ``update`` raises :class:`~minidl.optim.kernels.RuleError` when the class is
defined; a name that is neither an array nor a hyperparameter, when it is constructed.
Rules that depend on a group's options or on the step override ``rule(group, step)`` and
``initial_state(group)``; extra host scalars come from ``scalars(group, step)``; shared rule
lines are in :mod:`minidl.optim.rules`.

Every group also has ``flush_denormal`` (True, False or a period K: the subnormal flush of
the state, :mod:`minidl.optim.flush`) and ``executor`` ("fast" or "plain").
"""

import time

import numpy

from .. import autograd, backend
from ..tensor import Tensor
from . import flush
from .fast import FastExecutor
from .kernels import RuleError, compile_rule
from .plain import PlainExecutor

__all__ = ["Optimizer", "required"]

EXECUTORS = {"fast": FastExecutor, "plain": PlainExecutor}


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()  # default of a hyperparameter that every group must specify

# hyperparameter -> (valid?, message): checked for every group that has the key
_CHECKS = {
    "lr": (lambda v: v >= 0, "Invalid learning rate: {}"),
    "eps": (lambda v: v >= 0, "Invalid epsilon value: {}"),
    "momentum": (lambda v: v >= 0, "Invalid momentum value: {}"),
    "dampening": (lambda v: v >= 0, "Invalid dampening value: {}"),
    "weight_decay": (lambda v: v >= 0, "Invalid weight_decay value: {}"),
    "alpha": (lambda v: v >= 0, "Invalid alpha value: {}"),
    "beta": (lambda v: 0 <= v < 1, "Invalid beta value: {}"),
    "lr_decay": (lambda v: v >= 0, "Invalid lr_decay value: {}"),
    "initial_accumulator_value": (lambda v: v >= 0, "Invalid initial_accumulator_value value: {}"),
}
_OPTIONS = {
    "flush_denormal": (
        lambda v: v is True or v is False or (_number(v) and int(v) == v and v >= 1),
        "Invalid flush_denormal value: {!r} (True, False or a period >= 1)",
    ),
    "executor": (
        lambda v: v in EXECUTORS,
        "Invalid executor value: {!r} (expected 'fast' or 'plain')",
    ),
}


class _NumberTypes(dict):
    """type -> whether its values count as numbers (int, float, NumPy numbers; not bools),
    found on first sight: ``scalars`` asks it for every hyperparameter at every step."""

    def __missing__(self, t):
        number = issubclass(t, (int, float, numpy.number)) and not issubclass(
            t, (bool, numpy.bool_)
        )
        self[t] = number
        return number


_NUMBER_TYPES = _NumberTypes()


def _number(v):
    return _NUMBER_TYPES[type(v)]


def _plain_value(name, v):
    """A hyperparameter as a plain Python value: NumPy scalars, 0-d arrays and 0-d Tensors
    become numbers (as torch accepts a 0-d tensor lr); a larger array is refused."""
    if isinstance(v, Tensor):
        v = v.data
    if isinstance(v, tuple):
        return tuple(_plain_value(name, x) for x in v)
    if isinstance(v, numpy.generic) or (hasattr(v, "ndim") and hasattr(v, "item")):
        if getattr(v, "ndim", 0) != 0:
            raise TypeError(f"{name} must be a number, got an array of shape {tuple(v.shape)}")
        return v.item()
    return v


class ParamState:
    """``optimizer.state[p]``: the per-parameter state dicts, keyed by the parameter object."""

    def __init__(self):
        self._items = {}  # id(p) -> (p, dict)

    def __getitem__(self, p):
        return self._items[id(p)][1]

    def __setitem__(self, p, value):
        self._items[id(p)] = (p, value)

    def __delitem__(self, p):
        del self._items[id(p)]

    def __contains__(self, p):
        return id(p) in self._items

    def __iter__(self):
        return (p for p, _ in self._items.values())

    def __len__(self):
        return len(self._items)

    def get(self, p, default=None):
        item = self._items.get(id(p))
        return default if item is None else item[1]

    def keys(self):
        return list(self)

    def values(self):
        return [s for _, s in self._items.values()]

    def items(self):
        return list(self._items.values())

    def __repr__(self):
        return f"ParamState({len(self)} parameters)"


class Optimizer:
    """Base class of all optimizers (``torch.optim.Optimizer``'s API).

    ``params`` is an iterable of parameters (leaf Tensors) or of dicts (parameter groups,
    each with ``"params"`` and its own hyperparameters); ``defaults`` holds the
    hyperparameters a group does not set, plus ``flush_denormal`` (default True) and
    ``executor`` (default "fast").
    """

    update = None  # the rule text, when it does not depend on the group's options
    state_defaults = {}  # state array name -> initial value
    chunk_size = FastExecutor.chunk_size  # CPU elements per chunk of the fast executor
    threads = FastExecutor.threads  # CPU threads of the fast executor (see there)
    flush_period = 4  # CPU: steps between two flushes of a chunk when flush_denormal=True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("update") is not None:  # compile now: a mistake fails here
            compile_rule(cls.update, tuple(cls.state_defaults), cls.__name__.lower())

    def __init__(self, params, defaults):
        self.defaults = {"flush_denormal": True, "executor": "fast", **defaults}
        self.state = ParamState()
        self.param_groups = []
        self._executors = []  # per group: (kind, executor), made at its first step
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                f"Tensors or dicts, but got {type(params).__name__}"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                "Tensors or dicts, but got set"
            )
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    # ------------------------------------------------------------ the subclass API
    def rule(self, group, step):
        """The update rule's text for ``group`` at ``step`` (t, from 1)."""
        if self.update is None:
            raise NotImplementedError(
                f"{type(self).__name__} defines neither `update` nor `rule()`"
            )
        return self.update

    def initial_state(self, group):
        """State array name -> initial value, for ``group``."""
        return dict(self.state_defaults)

    def scalars(self, group, step):
        """The names a rule may use as scalars: the group's numeric hyperparameters,
        ``beta1, beta2`` from ``betas``, and ``step`` (t, counted from 1)."""
        ns = {k: v for k, v in group.items() if _NUMBER_TYPES[type(v)]}
        if "betas" in group:
            ns["beta1"], ns["beta2"] = group["betas"]
        ns["step"] = step
        return ns

    def validate(self, group):
        """Raise ValueError (TypeError for a non-number) for an invalid hyperparameter."""
        for key, (ok, message) in _CHECKS.items():
            if key in group:
                if not _number(group[key]):
                    raise TypeError(f"{key} must be a number, got {type(group[key]).__name__}")
                if not ok(group[key]):
                    raise ValueError(message.format(group[key]))
        for key, (ok, message) in _OPTIONS.items():
            if key in group and not ok(group[key]):
                raise ValueError(message.format(group[key]))
        for i, beta in enumerate(group.get("betas", ())):
            if not _number(beta):
                raise TypeError(f"betas must be numbers, got {type(beta).__name__} at index {i}")
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a group (a dict with "params" and optional hyperparameters) to optimize."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use "
                "a list instead."
            )
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("parameter group contains a parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {k: _plain_value(k, v) for k, v in param_group.items() if k != "params"}
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    "parameter group didn't specify a value of required "
                    f"optimization parameter {name}"
                )
            group.setdefault(name, _plain_value(name, default))
        self.validate(group)
        self._check_rule_names(group)
        group["params"] = params
        self.param_groups.append(group)
        self._executors.append(None)

    def _check_rule_names(self, group):
        """A class-level ``update`` may use only the scalars the group provides."""
        if self.update is None or type(self).rule is not Optimizer.rule:
            return
        rule = compile_rule(self.update, tuple(self.state_defaults), type(self).__name__.lower())
        missing = sorted(set(rule.scalar_names) - set(self.scalars(group, 1)))
        if missing:
            raise RuleError(
                f"update rule of {type(self).__name__} uses {', '.join(missing)}, which "
                f"is neither a state array nor a hyperparameter; scalars available: "
                f"{', '.join(sorted(self.scalars(group, 1)))}"
            )

    def zero_grad(self, set_to_none=True):
        """Reset the gradients: to None (the default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    # -------------------------------------------------------------------- step
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        profiler = autograd._profiler
        start = time.perf_counter() if profiler is not None else 0.0
        for index, group in enumerate(self.param_groups):
            self._step_group(index, group)
        if profiler is not None:
            profiler.record(
                "optimizer", f"{type(self).__name__}.step", start, time.perf_counter(), 0
            )
        return loss

    def _step_group(self, index, group):
        executor = self._executor(index, group)
        init = self.initial_state(group)
        books = self.state._items  # id(p) -> (p, its state dict)
        params, states = [], []  # the parameters with a gradient, and their state dicts
        for i, p in enumerate(group["params"]):
            grad = p.grad
            if grad is None:
                continue
            data = p.data
            if (
                type(grad) is not Tensor
                or grad.data.shape != data.shape
                or type(grad.data) is not type(data)
            ):
                _refuse_grad(p, i, index)
            entry = books.get(id(p))
            if entry is None:
                st = self.state[p] = {"step": 0, **executor.new_state(p, init)}
            else:
                st = entry[1]
                if not init.keys() <= st.keys():  # e.g. momentum switched on later
                    missing = {n: v for n, v in init.items() if n not in st}
                    st.update(executor.new_state(p, missing))
            params.append(p)
            states.append(st)
        flush_every = 0
        if flush.applies(group):
            period = group["flush_denormal"]
            flush_every = self.flush_period if period is True else int(period)
        for t, (ps, sts) in _by_step(params, states).items():
            rule = compile_rule(self.rule(group, t), tuple(init), type(self).__name__.lower())
            executor.run(rule, ps, sts, rule.coefficients(self.scalars(group, t)), t, flush_every)
            for p, st in zip(ps, sts):
                st["step"] = t
                p._bump_version()  # an in-place write: backward refuses a graph that saved p

    def _executor(self, index, group):
        kind = group["executor"]
        cached = self._executors[index]
        if cached is None or cached[0] != kind:
            executor = EXECUTORS[kind](group["params"])
            if kind == "fast":
                executor.chunk_size, executor.threads = self.chunk_size, self.threads
            cached = self._executors[index] = (kind, executor)
        return cached[1]

    # -------------------------------------------------------------- state_dict
    def state_dict(self):
        """``{"state": {index: {"step": int, name: ndarray}}, "param_groups": [...]}``.

        Parameters are referred to by their index over all groups, as in torch; arrays are
        NumPy copies, values plain numbers, strings and lists, so it saves as .npz.
        """
        index, groups, state = {}, [], {}
        for group in self.param_groups:
            packed = {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in group.items()
                if k != "params"
            }
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
                st = self.state.get(p)
                if st is not None:
                    state[index[id(p)]] = {
                        k: (
                            numpy.array(backend.to_device(v, "cpu"), copy=True)
                            if hasattr(v, "shape")
                            else v
                        )
                        for k, v in st.items()
                    }
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a :meth:`state_dict`; the run then continues bit for bit.

        Everything is checked before anything changes: a state dict that does not fit leaves
        the optimizer as it was. State arrays take each parameter's dtype and device.
        """
        groups, states = self._checked(state_dict)
        for group, values in zip(self.param_groups, groups):
            group.update(values)
        self.state = ParamState()
        for p, st in states:
            self.state[p] = st

    def _checked(self, state_dict):
        """(new hyperparameters per group, [(p, new state dict)]) from ``state_dict``, validated."""
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("an optimizer state dict has the keys 'state' and 'param_groups'")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups, "
                f"the optimizer has {len(self.param_groups)}"
            )
        by_index, groups = {}, []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group ({i}) that doesn't "
                    f"match the size of optimizer's group: {len(saved['params'])} "
                    f"parameters, expected {len(group['params'])}"
                )
            by_index.update({int(idx): p for p, idx in zip(group["params"], saved["params"])})
            values = {
                k: _plain_value(k, tuple(v) if isinstance(group.get(k), tuple) else v)
                for k, v in saved.items()
                if k != "params"
            }
            self.validate({**group, **values})
            groups.append(values)
        states = []
        for idx, saved in state_dict["state"].items():
            p = by_index.get(int(idx))
            if p is None:
                raise ValueError(
                    f"loaded state dict has state for parameter {idx}, which no group lists"
                )
            st = {}
            for name, value in saved.items():
                if name == "step":
                    if not _number(value) or int(value) != value or value < 0:
                        raise ValueError(
                            f"loaded state of parameter {idx} has step {value!r}, "
                            "expected a count >= 0"
                        )
                    st["step"] = int(value)
                    continue
                value = numpy.asarray(backend.to_device(value, "cpu"))
                if value.shape != tuple(p.shape):
                    raise ValueError(
                        f"loaded state {name!r} of parameter {idx} has shape "
                        f"{value.shape}, expected {tuple(p.shape)}"
                    )
                if value.dtype.kind not in "fiu":
                    raise ValueError(
                        f"loaded state {name!r} of parameter {idx} has dtype "
                        f"{value.dtype}, expected numbers"
                    )
                st[name] = backend.to_device(value.astype(p.dtype), p.device)
            if "step" not in st:
                raise ValueError(f"loaded state of parameter {idx} has no step count")
            states.append((p, st))
        return groups, states

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


def _by_step(params, states):
    """t -> (params, their state dicts) for the step t each parameter takes now: parameters
    that missed steps (no gradient) are behind the others and take their own t."""
    steps = {st["step"] for st in states}
    if len(steps) == 1:  # the common case: all at the same step
        return {steps.pop() + 1: (params, states)}
    by_step = {}
    for p, st in zip(params, states):
        ps, ss = by_step.setdefault(st["step"] + 1, ([], []))
        ps.append(p)
        ss.append(st)
    return by_step


def _refuse_grad(p, i, group_index):
    """Raise for a gradient of parameter i that is no Tensor shaped and placed like it."""
    grad = p.grad
    where = f"parameter {i} of group {group_index} (shape {tuple(p.shape)})"
    if not isinstance(grad, Tensor):
        raise TypeError(
            f"the gradient of {where} is a {type(grad).__name__}, not a Tensor; "
            "assign minidl.tensor(array) to .grad"
        )
    if grad.shape != p.shape:
        raise ValueError(f"the gradient of {where} has shape {tuple(grad.shape)}")
    if backend.array_module(grad.data) is not backend.array_module(p.data):
        raise ValueError(
            f"the gradient of {where} is on {grad.device}, the parameter on {p.device}"
        )
