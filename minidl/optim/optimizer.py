"""The optimizer base class: parameter groups, validation, state, step and state_dict.

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

From that the base class runs every step as in-place NumPy ufuncs over cache-sized chunks
of one flat buffer per group on the CPU, or as one fused CuPy kernel per group on the GPU.
Rules that depend on a group's options or on the step override ``rule(group, step)`` and
``initial_state(group)``; extra host scalars come from ``scalars(group, step)``.
"""
import numpy

from minidl import backend
from minidl.optim.flat import FlatBucket
from minidl.optim.kernels import compile_rule

__all__ = ["Optimizer", "required"]


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
    "flush_denormal": (lambda v: v is True or v is False or (isinstance(v, int) and v >= 1),
                       "Invalid flush_denormal value: {} (True, False or a period >= 1)"),
}


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


def _number(v):
    return isinstance(v, (int, float, numpy.number)) and not isinstance(v, (bool, numpy.bool_))


class Optimizer:
    """Base class of all optimizers (``torch.optim.Optimizer``'s API).

    ``params`` is an iterable of parameters (Tensors with ``requires_grad``) or of dicts
    (parameter groups, each with ``"params"`` and its own hyperparameters); ``defaults``
    holds the hyperparameters a group does not set. Every group also has
    ``flush_denormal``: an integer K flushes the state every K-th step for each CPU chunk
    (staggered, so each step pays 1/K of the cost): entries below 2**24 * tiny (2e-31 in
    float32) become 0, so the state and the update's products are never subnormal (see
    :mod:`minidl.optim.kernels`). True (the default) means K = ``flush_period`` = 4, which
    keeps an Adam step within 2.5x the memory floor; False never flushes. The GPU kernel
    flushes at every step (it is fused, so free).
    """

    update = None         # the rule text, when it does not depend on the group's options
    state_defaults = {}   # state array name -> initial value
    chunk_size = 32768    # CPU: elements per chunk of the flat buffers (128 KiB of float32)
    flush_period = 4      # CPU: steps between two flushes of a chunk when flush_denormal=True

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.defaults.setdefault("flush_denormal", True)
        self.state = ParamState()
        self.param_groups = []
        self._buckets = []  # per group: list of FlatBucket, built at the first step
        if hasattr(params, "data") and hasattr(params, "grad"):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
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
            raise NotImplementedError(f"{type(self).__name__} defines neither `update` nor `rule()`")
        return self.update

    def initial_state(self, group):
        """State array name -> initial value, for ``group``."""
        return dict(self.state_defaults)

    def scalars(self, group, step):
        """The names a rule may use as scalars: the group's numeric hyperparameters,
        ``beta1, beta2`` from ``betas``, and ``step`` (t, counted from 1)."""
        ns = {k: v for k, v in group.items() if _number(v)}
        if "betas" in group:
            ns["beta1"], ns["beta2"] = group["betas"]
        ns["step"] = step
        return ns

    def validate(self, group):
        """Raise ValueError for an invalid hyperparameter of ``group``."""
        for key, (ok, message) in _CHECKS.items():
            if key in group and not ok(group[key]):
                raise ValueError(message.format(group[key]))
        for i, beta in enumerate(group.get("betas", ())):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a group (a dict with "params" and optional hyperparameters) to optimize."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if hasattr(params, "data") and hasattr(params, "grad"):
            params = [params]
        else:
            params = list(params)
        for p in params:
            if not (hasattr(p, "data") and hasattr(p, "grad")):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("parameter group contains a parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        self.validate(group)
        self.param_groups.append(group)
        self._buckets.append(None)

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
        for index, group in enumerate(self.param_groups):
            for bucket in self._group_buckets(index):
                self._step_bucket(group, bucket)
        return loss

    def _step_bucket(self, group, bucket):
        init = self.initial_state(group)
        flush = group.get("flush_denormal", True)
        period = self.flush_period if flush is True else int(flush)
        params = bucket.params
        k = 0
        while k < len(params):  # runs of consecutive parameters with a grad and the same step
            if params[k].grad is None:
                k += 1
                continue
            t = self._steps_done(params[k]) + 1
            end = k + 1
            while end < len(params) and params[end].grad is not None \
                    and self._steps_done(params[end]) + 1 == t:
                end += 1
            source = self.rule(group, t)
            rule = compile_rule(source, tuple(init), flush, type(self).__name__.lower())
            for name in rule.state_names:
                bucket.ensure_state(name, init[name])
            for j in range(k, end):
                self._param_state(bucket, j, init)["step"] = t
            bucket.run(rule, k, end, [p.grad for p in params[k:end]],
                       rule.coefficients(self.scalars(group, t)), t, period)
            k = end

    def _steps_done(self, p):
        st = self.state.get(p)
        return 0 if st is None else st["step"]

    def _param_state(self, bucket, k, init):
        """The state dict of parameter k of ``bucket``, created at its first step."""
        p = bucket.params[k]
        st = self.state.get(p)
        if st is None:
            st = {"step": 0}
            self.state[p] = st
        for name, initial in init.items():
            if name not in st:
                st[name] = bucket.ensure_state(name, initial)[k]
        return st

    # ------------------------------------------------------------ flat buffers
    def _group_buckets(self, index):
        buckets = self._buckets[index]
        if buckets is not None and all(b.readopt() for b in buckets):
            return buckets
        return self._rebuild(index)

    def _rebuild(self, index):
        """(Re)flatten a group: one bucket per (device, dtype); state carried over."""
        group = self.param_groups[index]
        saved = {}
        for p in group["params"]:
            st = self.state.get(p)
            if st is not None:
                saved[id(p)] = {k: (backend.to_device(v, "cpu").copy() if hasattr(v, "shape") else v)
                                for k, v in st.items()}
                del self.state[p]
        by_kind = {}
        for p in group["params"]:
            data = p.data
            key = (backend.device_of(data), numpy.dtype(data.dtype).str)
            by_kind.setdefault(key, []).append(p)
        buckets = [FlatBucket(ps, self.chunk_size) for ps in by_kind.values()]
        self._buckets[index] = buckets
        init = self.initial_state(group)
        for bucket in buckets:
            for k, p in enumerate(bucket.params):
                if id(p) in saved:
                    self._load_param_state(bucket, k, saved[id(p)], init)
        return buckets

    def _load_param_state(self, bucket, k, values, init):
        st = self._param_state(bucket, k, {**init, **{n: init.get(n, 0.0) for n in values if n != "step"}})
        for name, value in values.items():
            if name == "step":
                st["step"] = int(value)
            else:
                st[name][...] = backend.to_device(numpy.asarray(value), backend.device_of(bucket.flat))

    # -------------------------------------------------------------- state_dict
    def state_dict(self):
        """``{"state": {index: {"step": int, name: ndarray}}, "param_groups": [...]}``.

        Parameters are referred to by their index over all groups, as in torch; arrays are
        NumPy copies, values plain numbers, strings and lists, so it saves as .npz.
        """
        index, groups, state = {}, [], {}
        for group in self.param_groups:
            packed = {k: (list(v) if isinstance(v, tuple) else v)
                      for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
                st = self.state.get(p)
                if st is not None:
                    state[index[id(p)]] = {
                        k: (numpy.array(backend.to_device(v, "cpu"), copy=True) if hasattr(v, "shape")
                            else v) for k, v in st.items()}
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a :meth:`state_dict`; the run then continues bit for bit."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        by_index = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"loaded state dict contains a parameter group ({i}) that doesn't "
                                 f"match the size of optimizer's group: {len(saved['params'])} "
                                 f"parameters, expected {len(group['params'])}")
            for p, idx in zip(group["params"], saved["params"]):
                by_index[int(idx)] = p
        saved_state = {int(i): st for i, st in state_dict["state"].items()}
        for idx, st in saved_state.items():
            if idx not in by_index:
                raise ValueError(f"loaded state dict has state for parameter {idx}, which no group lists")
            shape = tuple(by_index[idx].shape)
            for name, value in st.items():
                if name != "step" and tuple(numpy.shape(value)) != shape:
                    raise ValueError(f"loaded state {name!r} of parameter {idx} has shape "
                                     f"{tuple(numpy.shape(value))}, expected {shape}")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            for key, value in saved.items():
                if key != "params":
                    group[key] = tuple(value) if isinstance(group.get(key), tuple) else value
            self.validate(group)
            init = self.initial_state(group)
            for bucket in self._group_buckets(i):
                for k, p in enumerate(bucket.params):
                    if p in self.state:
                        del self.state[p]
                    bucket.reset_state(k, init)
            for idx in saved["params"]:
                p = by_index[int(idx)]
                if int(idx) in saved_state:
                    bucket = next(b for b in self._buckets[i] if b.owns(p))
                    k = next(j for j, q in enumerate(bucket.params) if q is p)
                    self._load_param_state(bucket, k, saved_state[int(idx)], init)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"
