"""Module, Parameter and the containers Sequential and ModuleList.

A Module registers every Parameter and sub-Module assigned to it as an attribute, so
``parameters()``, ``state_dict()``, ``to(device)`` and ``train()``/``eval()`` reach the
whole tree without the user listing anything.
"""

from collections import OrderedDict, namedtuple

import numpy

from .. import backend
from ..hooks import RemovableHandle
from ..tensor import Tensor

__all__ = ["Parameter", "Module", "Sequential", "ModuleList"]


class Parameter(Tensor):
    """A Tensor that a Module registers as learnable; requires grad by default."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data)
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models: subclass it, assign layers and Parameters in
    ``__init__`` and write ``forward``; call the module to run it."""

    training = True

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_hooks_with_kwargs", {})  # hook id -> True

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called")
        params, buffers = self._parameters, self._buffers
        if isinstance(value, Parameter):
            registry = params
        elif isinstance(value, Module):
            registry = self._modules
        elif name in params or name in buffers:
            # Like PyTorch: a parameter slot takes a Parameter or None, a buffer slot a
            # Tensor or None, so `self.weight = self.weight * 2` cannot silently unregister.
            registry = params if name in params else buffers
            if value is not None and (registry is params or not isinstance(value, Tensor)):
                expected = "Parameter" if registry is params else "Tensor"
                raise TypeError(
                    f"cannot assign {type(value).__name__} to {name!r} "
                    f"({expected} or None expected)"
                )
        else:
            registry = None
        for other in (params, buffers, self._modules):
            if other is not registry:
                other.pop(name, None)
        if registry is not None:
            registry[name] = value  # a name already there keeps its place in the order
        object.__setattr__(self, name, value)  # plain attribute access stays fast

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """A non-learnable tensor that belongs to the state (saved, moved by ``to``)."""
        for registry in (self._parameters, self._modules):
            registry.pop(name, None)
        object.__setattr__(self, name, tensor)
        self._buffers[name] = tensor

    def register_parameter(self, name, param):
        setattr(self, name, param)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    # ---- forward hooks (torch semantics) ---------------------------------------------
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` runs before ``forward``; a value it returns replaces the
        positional arguments (a non-tuple is wrapped in one). With ``with_kwargs=True`` it
        is ``hook(module, args, kwargs)`` and may return ``(new_args, new_kwargs)``."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args, output)`` runs after ``forward`` (``args`` as the pre-hooks
        left them); a value it returns replaces the output. With ``with_kwargs=True`` it is
        ``hook(module, args, kwargs, output)``."""
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    def _add_hook(self, hooks, hook, prepend, with_kwargs):
        handle = RemovableHandle(hooks, self._hooks_with_kwargs)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        if with_kwargs:
            self._hooks_with_kwargs[handle.id] = True
        return handle

    def _call_with_hooks(self, args, kwargs):
        with_kwargs = self._hooks_with_kwargs
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of "
                            f"(new_args, new_kwargs), but got {result!r}"
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    # ---- walking the tree ---------------------------------------------------------
    def named_modules(self, prefix=""):
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{n}" if name else n, m)
                for n, m in module._modules.items()
                if m is not None
            ]
            stack.extend(reversed(children))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) pairs; a parameter shared by two modules comes once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self):
        for module_name, module in self.named_modules():
            for name, buf in module._buffers.items():
                if buf is not None:
                    yield (f"{module_name}.{name}" if module_name else name), buf

    # ---- modes, gradients, devices --------------------------------------------------
    def train(self, mode=True):
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.data[...] = 0

    def requires_grad_(self, requires_grad=True):
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def _apply(self, convert):
        for tensor in list(self.parameters()) + [b for _, b in self.named_buffers()]:
            tensor.data = convert(tensor.data)
            if tensor.grad is not None:
                tensor.grad.data = convert(tensor.grad.data)
        return self

    def to(self, device=None, dtype=None):
        """Move (and/or cast) every parameter and buffer in place; returns self."""
        if device is not None:
            device = backend.normalize_device(device)
            self._apply(lambda a: backend.to_device(a, device))
        if dtype is not None:
            self._apply(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("gpu")

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    # ---- state ------------------------------------------------------------------------
    def _state_items(self):
        """(dotted name, Tensor) for every parameter and buffer, in torch's state_dict order:
        a module's parameters, then its buffers, then each child's in turn. A tensor shared
        by two modules (tied weights) comes under each name, as in torch."""
        stack = [("", self)]
        while stack:
            prefix, module = stack.pop()
            for registry in (module._parameters, module._buffers):
                for name, tensor in registry.items():
                    if tensor is not None:
                        yield prefix + name, tensor
            children = [(f"{prefix}{n}.", m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def state_dict(self):
        """Ordered mapping of dotted name -> array (the live arrays, not copies), named and
        ordered as torch names and orders them."""
        return OrderedDict((name, tensor.data) for name, tensor in self._state_items())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters and buffers in place.

        Everything is checked before anything is copied, so a mismatch changes nothing:
        with ``strict`` missing or unexpected keys are an error, and a wrong shape is
        always one. Returns ``(missing_keys, unexpected_keys)``.
        """
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        for key, target in own.items():
            if key in state_dict:
                value = state_dict[key]
                value = value.data if isinstance(value, Tensor) else value
                if not hasattr(value, "dtype"):
                    value = numpy.asarray(value)
                if tuple(value.shape) != target.shape:
                    problems.append(
                        f"{key}: checkpoint has shape {tuple(value.shape)}, "
                        f"the model has shape {target.shape}"
                    )
                elif value.dtype.kind not in "biuf":
                    problems.append(
                        f"{key}: checkpoint has dtype {value.dtype}, not a numeric array"
                    )
        if problems:
            raise RuntimeError(
                f"Error loading state dict into {type(self).__name__}: " + "; ".join(problems)
            )
        for key, target in own.items():
            if key in state_dict:
                value = state_dict[key]
                value = value.data if isinstance(value, Tensor) else value
                target.data[...] = backend.to_device(value, target.device)
        return IncompatibleKeys(missing, unexpected)

    # ---- printing ---------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        children = [
            f"({name}): " + repr(module).replace("\n", "\n  ")
            for name, module in self._modules.items()
        ]
        extra = self.extra_repr()
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = extra.split("\n") + children if extra else children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _require_module(container, name, item):
    """A container holds Modules only: a plain function or a layer class given by mistake
    would otherwise be kept as an attribute and silently skipped."""
    if not isinstance(item, Module):
        hint = (
            " (a class: instantiate it, e.g. nn.ReLU())"
            if isinstance(item, type)
            else " (wrap a function in a Module, e.g. nn.ReLU() for F.relu)"
            if callable(item)
            else ""
        )
        raise TypeError(
            f"{type(container).__name__}: item {name} is not a Module but "
            f"{type(item).__name__} {getattr(item, '__name__', '')!s}".rstrip()
            + hint
        )
    return item


class Sequential(Module):
    """Modules applied one after another: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``
    (or from an OrderedDict of names to modules). Indexable, iterable, has a length."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                setattr(self, name, _require_module(self, name, module))
        else:
            for index, module in enumerate(modules):
                setattr(self, str(index), _require_module(self, index, module))

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):  # keeps the names, so state_dict keys still match
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        setattr(self, str(len(self)), _require_module(self, len(self), module))
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (unlike a plain list)."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        index = len(self._modules)
        setattr(self, str(index), _require_module(self, index, module))
        return self

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
