"""Reverse-mode automatic differentiation.

A :class:`Function` is one differentiable primitive: ``forward`` computes the output
array from input arrays, ``backward`` maps the gradient of the output to gradients of
the inputs (the vector-Jacobian product). ``Function.apply`` runs ``forward`` and, when
a gradient is needed, records the function instance as the node that produced the
output. The instance doubles as the ``ctx`` both methods receive, so whatever
``forward`` saves on it is there for ``backward``.

``backward(root)`` walks the recorded graph once, in reverse topological order, with an
explicit stack (no recursion, so a chain of 100,000 ops is fine), and accumulates
gradients into the ``.grad`` of the leaves. Each node is freed as soon as its
gradient has been passed on, unless ``retain_graph=True``.
"""
import contextlib

import numpy

from . import backend
from .tensor import Tensor

__all__ = ["Function", "backward", "no_grad", "enable_grad", "is_grad_enabled"]

_grad_enabled = True


def is_grad_enabled():
    """True unless inside ``no_grad()``."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    enabled = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self(func) if callable(func) else self  # bare @no_grad works too

    def _recreate_cm(self):
        return type(self)()  # a fresh one per call, so recursive decorated calls nest

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False


class no_grad(_GradMode):
    """Context manager and decorator: no graph is recorded inside it."""
    enabled = False


class enable_grad(_GradMode):
    """Context manager and decorator: re-enables recording inside ``no_grad``."""
    enabled = True


_FREED = "freed"


class Function:
    """Base class of every differentiable op, built-in or user-defined.

    Subclass it and write two static methods on backend arrays (NumPy or CuPy)::

        class Cube(minidl.Function):
            @staticmethod
            def forward(ctx, x):                # x is an array
                ctx.save_for_backward(x)
                return x ** 3
            @staticmethod
            def backward(ctx, grad):            # d loss / d output, an array
                (x,) = ctx.saved_tensors
                return 3 * x ** 2 * grad        # one gradient per input to forward

        y = Cube.apply(t)                       # t is a Tensor; y is a Tensor

    Positional Tensor arguments of ``apply`` arrive in ``forward`` as arrays; other
    arguments (numbers, axes, ...) arrive unchanged and get ``None`` as gradient.
    ``backward`` returns one gradient per positional argument (a tuple when there are
    several; ``None`` where none is needed, see ``ctx.needs_input_grad``) with the
    shape of that input. It must not modify ``grad`` in place.
    """

    saved_tensors = ()

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = cls()
        arrays = []
        needs_grad = []
        on_cpu = on_gpu = False
        for arg in args:
            if isinstance(arg, Tensor):
                data = arg.data
                arrays.append(data)
                needs_grad.append(arg.requires_grad)
                if isinstance(data, numpy.ndarray):
                    on_cpu = True
                else:
                    on_gpu = True
            else:
                arrays.append(arg)
                needs_grad.append(False)
        if on_cpu and on_gpu:
            devices = [a.device for a in args if isinstance(a, Tensor)]
            raise RuntimeError(
                f"{cls.__name__}: all tensors must be on the same device, got {devices}; "
                "move them with .to('cpu') or .to('gpu') first")
        out = cls.forward(ctx, *arrays, **kwargs)
        if not isinstance(out, numpy.ndarray) and backend.array_module(out) is numpy:
            out = numpy.asarray(out)  # NumPy reductions return scalars; keep arrays
        if _grad_enabled and True in needs_grad:
            ctx.needs_input_grad = tuple(needs_grad)
            ctx.inputs = tuple(a if g else None for a, g in zip(args, needs_grad))
            return Tensor._make(out, ctx)
        return Tensor._make(out, None)

    def _release(self):
        self.__dict__.clear()  # drops saved arrays and references to inputs
        self.inputs = _FREED

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"


def _parents(node):
    inputs = node.inputs
    if inputs is _FREED:
        raise RuntimeError(
            "Trying to backward through the graph a second time (or through a part of it "
            "that a previous backward already freed). Pass retain_graph=True to the first "
            "backward() if you need to backward twice.")
    return [t._ctx for t in inputs if t is not None and t._ctx is not None]


def _topological_order(root):
    """Nodes reachable from ``root``, each after every node that consumes its output."""
    order, visited = [], {root}
    stack = [(root, iter(_parents(root)))]
    while stack:
        node, pending = stack[-1]
        for parent in pending:
            if parent not in visited:
                visited.add(parent)
                stack.append((parent, iter(_parents(parent))))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def _accumulate(leaf, grad, aliased):
    if leaf.grad is None:
        # The leaf must own its gradient: an array passed straight through (x + y hands
        # the same grad to x and y) or a view would be shared with other tensors.
        # A gradient always has its leaf's dtype (float64 constants must not upcast it).
        if grad.dtype != leaf.dtype:
            grad = grad.astype(leaf.dtype)
        elif aliased or grad.base is not None:
            grad = grad.copy()
        leaf.grad = Tensor._make(grad, None)
    else:
        leaf.grad.data += grad


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
    if not root.requires_grad:
        raise RuntimeError("backward(): the tensor does not require grad and has no graph "
                           "(did you create it under no_grad, or forget requires_grad=True?)")
    xp = backend.array_module(root.data)
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward(): grad can be implicitly created only for scalar outputs, but the "
                f"output has shape {root.shape}; pass a gradient of that shape, "
                "e.g. out.backward(minidl.ones_like(out))")
        grad = xp.ones_like(root.data)
    else:
        grad = xp.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype)
        if grad.shape != root.shape:
            raise RuntimeError(f"backward(): grad has shape {grad.shape} but the output has "
                               f"shape {root.shape}")
    if root._ctx is None:
        _accumulate(root, grad, aliased=True)
        return
    grads = {root._ctx: grad}
    for node in _topological_order(root._ctx):
        out_grad = grads.pop(node, None)
        if out_grad is not None:
            in_grads = node.backward(node, out_grad)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if len(in_grads) != len(node.inputs):
                raise RuntimeError(f"{type(node).__name__}.backward returned {len(in_grads)} "
                                   f"gradients for {len(node.inputs)} inputs")
            for tensor, in_grad in zip(node.inputs, in_grads):
                if tensor is None or in_grad is None:
                    continue
                if in_grad.shape != tensor.data.shape:
                    raise RuntimeError(
                        f"{type(node).__name__}.backward returned a gradient of shape "
                        f"{in_grad.shape} for an input of shape {tensor.data.shape}")
                parent = tensor._ctx
                if parent is None:
                    # also handed on elsewhere: the leaf must get its own copy
                    shared = in_grad is out_grad or (
                        len(in_grads) > 1 and sum(g is in_grad for g in in_grads) > 1)
                    _accumulate(tensor, in_grad, shared)
                elif parent in grads:
                    grads[parent] = grads[parent] + in_grad
                else:
                    grads[parent] = in_grad
        if not retain_graph:
            node._release()
