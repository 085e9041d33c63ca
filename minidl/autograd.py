"""Reverse-mode automatic differentiation.

A :class:`Function` is one differentiable primitive: ``forward`` computes the output
array from input arrays, ``backward`` maps the gradient of the output to gradients of
the inputs (the vector-Jacobian product). ``Function.apply`` runs ``forward`` and, when
a gradient is needed, records the function instance as the node that produced the
output. The instance doubles as the ``ctx`` both methods receive, so whatever
``forward`` saves on it is there for ``backward``.

:func:`backward` and :func:`grad` walk the recorded graph once, in reverse topological
order, with an explicit stack (no recursion, so a chain of 100,000 ops is fine). Each
node is freed as soon as its gradient has been passed on, unless ``retain_graph``.

**One backward, two modes.** Every ``backward`` is written in the *array vocabulary*:
``xp = array_module(g)``, arithmetic, ``@``, comparisons, indexing and the methods
``sum/mean/max(axis=, keepdims=)``, ``reshape``, ``T``, ``astype``. Normally ``g`` is an
array and ``xp`` is NumPy or CuPy: the fast first-order path, nothing recorded. With
``create_graph=True`` the engine hands ``backward`` Tensors instead (``g``, and the saved
inputs and outputs as the very Tensors of the graph) and ``xp`` is :mod:`minidl.ops.xp`,
NumPy's names as differentiable ops, so the same formula records the graph of the
gradient, which can be differentiated again, to any order.
"""

import contextlib
import sys
import time
import weakref

import numpy

from . import backend
from .hooks import RemovableHandle
from .tensor import Tensor, share_versions

__all__ = [
    "Function",
    "backward",
    "grad",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "set_grad_enabled",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
]

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


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` as a context manager: recording on or off by a flag."""

    def __new__(cls, mode):
        self = object.__new__(cls)
        self.enabled = bool(mode)
        return self

    def _recreate_cm(self):
        return type(self)(self.enabled)


# ---- instruments: anomaly detection and the profiler's hook points -----------------------
# Both are off by default; then the engine pays one global check per op and nothing else.
_anomaly = False
_profiler = None  # an object with record(kind, name, start, end, nbytes), or None
_instrumented = False


def _update_instrumented():
    global _instrumented
    _instrumented = _anomaly or _profiler is not None


def _set_profiler(profiler):
    """Install (or, with None, remove) the object the engine reports op timings to."""
    global _profiler
    _profiler = profiler
    _update_instrumented()


def is_anomaly_enabled():
    return _anomaly


class set_detect_anomaly(contextlib.ContextDecorator):
    """Turn anomaly detection on or off (a context manager; see :class:`detect_anomaly`)."""

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        global _anomaly
        self._previous = _anomaly
        _anomaly = self.mode
        _update_instrumented()

    def __exit__(self, *exc):
        global _anomaly
        _anomaly = self._previous
        _update_instrumented()
        return False


class detect_anomaly(set_detect_anomaly):
    """Inside it, each op records where the user's code created it; an op whose forward
    output holds NaN/inf, or whose backward produces a NaN gradient, raises a
    RuntimeError naming the op and that file:line. Outside it, nothing is recorded."""

    def __init__(self):
        super().__init__(True)


_PACKAGE_DIR = __file__.rsplit("autograd.py", 1)[0]


def _user_location():
    """``file:line`` of the innermost frame outside minidl: where the user made the op."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _has_nonfinite(array, nan_only=False):
    if not hasattr(array, "dtype") or array.dtype.kind not in "fc":
        return False
    xp = backend.array_module(array)
    return bool(xp.isnan(array).any() if nan_only else (~xp.isfinite(array)).any())


def _nbytes(array):
    """Bytes an op's result allocated: 0 for a view of an existing array."""
    if getattr(array, "base", None) is not None:
        return 0
    return getattr(array, "nbytes", 0)


# ---- Function: the one mechanism for every op ----------------------------------------------
_FREED = "freed"


class Function:
    """Base class of every differentiable op, built-in or user-defined.

    Subclass it and write two static methods::

        class Cube(minidl.Function):
            @staticmethod
            def forward(ctx, x):                # x is an array
                ctx.save_for_backward(x)
                return x ** 3
            @staticmethod
            def backward(ctx, g):               # d loss / d output
                (x,) = ctx.saved_tensors
                return 3 * x ** 2 * g           # one gradient per input to forward

        y = Cube.apply(t)                       # t is a Tensor; y is a Tensor

    Positional Tensor arguments of ``apply`` arrive in ``forward`` as arrays; other
    arguments (numbers, axes, ...) arrive unchanged and get ``None`` as gradient.
    ``backward`` returns one gradient per positional argument (a tuple when there are
    several; ``None`` where none is needed, see ``ctx.needs_input_grad``) with the
    shape of that input. It must not modify ``g`` or a saved array in place.

    Write ``backward`` in the array vocabulary (see this module's docstring) and it
    supports ``create_graph`` too. ``save_for_backward`` takes inputs and outputs of
    ``forward`` (and boolean or integer arrays, which are constants); under
    ``create_graph`` they come back as the graph's Tensors. A float array computed
    inside ``forward`` and saved there cannot be differentiated again: the engine
    refuses with an error naming the op, unless the class defines
    ``composite(*args)``, the same function built from differentiable ops, which the
    engine then differentiates instead. Plain ``ctx`` attributes are constants.

    Called with no Tensor among its arguments, ``apply`` simply returns ``forward``'s
    array: that is how a ``backward`` uses another op in both modes.
    """

    saved_tensors = ()
    output_modified = False  # set by an in-place write into an output that backward reads
    _tensor_hooks = None  # hooks registered on this node's output (a non-leaf Tensor)
    _retains_grad = None  # a weak reference to that Tensor, when it retains its grad

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
        if _instrumented:
            return _apply_instrumented(cls, args, kwargs)
        ctx = cls()
        arrays, inputs, versions, parents, needs = [], [], [], [], []
        next_nodes = []  # the nodes of the inputs that need a gradient: where the walk goes
        needs_grad = on_cpu = on_gpu = False
        for arg in args:
            if isinstance(arg, Tensor):
                data = arg.data
                arrays.append(data)
                inputs.append(arg)
                versions.append(arg._version)
                # each input's node now: an in-place op may later give the tensor a new one
                parent = arg._ctx
                parents.append(parent)
                if arg.requires_grad:
                    needs.append(True)
                    needs_grad = True
                    if parent is not None:
                        next_nodes.append(parent)
                else:
                    needs.append(False)
                if isinstance(data, numpy.ndarray):
                    on_cpu = True
                else:
                    on_gpu = True
            else:
                arrays.append(arg)
                inputs.append(None)
                versions.append(0)
                parents.append(None)
                needs.append(False)
        if on_cpu and on_gpu:
            devices = [a.device for a in args if isinstance(a, Tensor)]
            raise RuntimeError(
                f"{cls.__name__}: all tensors must be on the same device, got {devices}; "
                "move them with .to('cpu') or .to('gpu') first"
            )
        out = raw = cls.forward(ctx, *arrays, **kwargs)
        if not isinstance(out, numpy.ndarray) and backend.array_module(out) is numpy:
            out = numpy.asarray(out)  # NumPy reductions return scalars; keep arrays
        if not (on_cpu or on_gpu):
            return out  # arrays in, array out: an op used inside another op's backward
        if needs_grad and _grad_enabled:
            ctx.needs_input_grad = tuple(needs)
            ctx.inputs, ctx.versions, ctx.output, ctx.parents = inputs, versions, out, parents
            ctx.next_nodes = next_nodes
            if raw is not out:
                ctx.output_scalar = raw  # what forward may have saved, before asarray
            if cls.composite is not None:
                ctx.args, ctx.kwargs = args, kwargs
            result = Tensor._make(out, ctx)
        else:
            result = Tensor._make(out, None)
        if getattr(out, "base", None) is not None or out is arrays[0]:  # maybe a view of an input
            _share_with_input(result, inputs)
        return result

    composite = None  # optional staticmethod(*args, **kwargs) -> Tensor, see the docstring

    def _release(self):
        self.__dict__.clear()  # drops saved arrays and references to inputs
        self.inputs = _FREED

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"


def _share_with_input(result, inputs):
    """If ``result``'s array uses the memory of an input's array (a view, or that array
    itself), an in-place write into one is a write into the other: share their versions."""
    data = result.data
    owner = getattr(data, "base", None)
    owner = data if owner is None else owner
    for t in inputs:
        if t is not None and (t.data is owner or getattr(t.data, "base", None) is owner):
            share_versions(result, t)
            return


def _apply_instrumented(cls, args, kwargs):
    """``apply`` with anomaly detection and/or profiling on (kept out of the fast path)."""
    global _instrumented
    profiler = _profiler
    start = time.perf_counter()
    _instrumented = False  # the op itself runs uninstrumented; nested applies too
    try:
        out = cls.apply(*args, **kwargs)
    finally:
        _update_instrumented()
    end = time.perf_counter()
    data = out.data if isinstance(out, Tensor) else out
    if profiler is not None:
        profiler.record("forward", cls.__name__, start, end, _nbytes(data))
    if _anomaly:
        where = _user_location()
        if isinstance(out, Tensor) and out._ctx is not None:
            out._ctx.created_at = where
        if _has_nonfinite(data):
            raise RuntimeError(
                f"Function '{cls.__name__}' returned nan or inf values in its "
                f"output (detect_anomaly). The op was created at {where}"
            )
    return out


# ---- the backward walk -------------------------------------------------------------------
def _parents(node, stop):
    inputs = node.inputs
    if inputs is _FREED:
        raise RuntimeError(
            "Trying to backward through the graph a second time (or through a part of it "
            "that a previous backward already freed). Pass retain_graph=True to the first "
            "backward() if you need to backward twice."
        )
    if stop and node in stop:
        return []
    return node.next_nodes


def _topological_order(roots, stop=()):
    """Nodes reachable from ``roots``, each after every node that consumes its output;
    the walk does not go past the nodes in ``stop``.

    Most graphs start as a chain (a Sequential model's loss: each node feeds exactly one
    other): while every node met has at most one distinct parent, that parent is the next
    node, with no sorting. Where the graph branches, the rest, reachable only through that
    node, is sorted depth-first."""
    order = []
    if len(roots) == 1:
        node = roots[0]
        while True:
            parents = _parents(node, stop)
            if len(parents) > 1 and any(p is not parents[0] for p in parents):
                break
            order.append(node)
            if not parents:
                return order
            node = parents[0]
        roots = [node]
    branched, visited = [], set(roots)
    for root in roots:
        stack = [(root, iter(_parents(root, stop)))]
        while stack:
            node, pending = stack[-1]
            for parent in pending:
                if parent not in visited:
                    visited.add(parent)
                    stack.append((parent, iter(_parents(parent, stop))))
                    break
            else:
                stack.pop()
                branched.append(node)
    branched.reverse()
    return order + branched


def _check_versions(node):
    """Raise when an input whose data backward reads was modified in place since forward."""
    for i, (t, version) in enumerate(zip(node.inputs, node.versions)):
        if t is not None and t._version != version and any(s is t.data for s in node.saved_tensors):
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: input {i} of {type(node).__name__} (a tensor of shape "
                f"{tuple(t.shape)}) is at version {t._version}; expected version {version} "
                "instead. Did an optimizer.step() or an in-place op run between forward and "
                "backward?"
            )


def note_in_place_write(tensor):
    """Record that ``tensor``'s memory is about to be written in place: if the op that
    made it saved it for backward (exp, sigmoid, softmax, ... keep their output), that
    backward would read the new values, so it must refuse to run, as PyTorch's does."""
    node = tensor._ctx
    if node is None or node.inputs is _FREED:
        return
    data = tensor.data
    if any(
        s is data or (s is getattr(node, "output_scalar", None) and s is not None)
        for s in node.saved_tensors
    ):
        node.output_modified = True


def _refuse_modified_output(node):
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: the output of {type(node).__name__}, which its backward reads, "
        "was written in place after it was computed. Write into a copy (y = y.clone()) or "
        "compute out of place (y = y * 2 instead of y.mul_(2))."
    )


def _saved_as_tensors(node):
    """The saved arrays of ``node`` as Tensors of the graph (for create_graph)."""
    by_identity = {id(t.data): t for t in node.inputs if t is not None}
    tensors = []
    for s in node.saved_tensors:
        if id(s) in by_identity:
            tensors.append(by_identity[id(s)])
        elif s is node.output or s is getattr(node, "output_scalar", None):
            tensors.append(Tensor._make(node.output, node))
        elif not hasattr(s, "dtype") or s.dtype.kind not in "fc":
            tensors.append(s if not hasattr(s, "dtype") else Tensor._make(s, None))
        else:
            raise RuntimeError(
                f"{type(node).__name__} does not support create_graph: its forward saved an "
                "intermediate float array for backward, which cannot be differentiated again. "
                "Save only inputs and outputs and recompute the rest in backward, or give the "
                "op a `composite` (see docs/extending.md)."
            )
    return tensors


class _TensorCtx:
    """What ``backward`` sees under create_graph: the node, its saved arrays as Tensors."""

    def __init__(self, node):
        self.__dict__.update(node.__dict__)
        self.saved_tensors = _saved_as_tensors(node)


def _node_backward(node, g, create_graph):
    """The input gradients of ``node`` for the output gradient ``g``."""
    if not create_graph:
        return node.backward(node, g)
    with enable_grad():
        if type(node).composite is None:
            return node.backward(_TensorCtx(node), g)
        # A fused op: differentiate the composite it stands for, stopping at its inputs.
        replay = type(node).composite(*node.args, **node.kwargs)
        wanted = [t for t, need in zip(node.inputs, node.needs_input_grad) if need]
        grads = iter(_run([replay], [g], True, True, inputs=wanted, stop_at_inputs=True))
        return tuple(next(grads) if need else None for need in node.needs_input_grad)


def _call_hooks(hooks, g, create_graph):
    for hook in list(hooks.values()):
        as_tensor = g if isinstance(g, Tensor) else Tensor._make(g, None)
        result = hook(as_tensor)
        if result is not None:
            if not isinstance(result, Tensor) or result.shape != as_tensor.shape:
                raise RuntimeError(
                    "a gradient hook must return None or a Tensor of the "
                    f"gradient's shape {tuple(as_tensor.shape)}"
                )
            g = result if create_graph else result.data
    return g


def _accumulate(leaf, grad, aliased, create_graph):
    if isinstance(grad, Tensor):
        grad = grad if grad.dtype == leaf.dtype else grad.astype(leaf.dtype)
        leaf._grad = grad if leaf._grad is None else leaf._grad + grad
        return
    if leaf._grad is None:
        # The leaf must own its gradient: an array passed straight through (x + y hands
        # the same grad to x and y) or a view would be shared with other tensors.
        # A gradient always has its leaf's dtype (float64 constants must not upcast it).
        if grad.dtype != leaf.data.dtype:
            grad = grad.astype(leaf.dtype)
        elif aliased or grad.base is not None:
            grad = grad.copy()
        leaf._grad = Tensor._make(grad, None)
    elif leaf._grad._ctx is not None:
        leaf._grad = leaf._grad + grad  # a gradient with a graph: accumulate out of place
    else:
        leaf._grad.data += grad


_NOTHING = {}  # an empty table the walk only reads (no captures, no stops)


def _run(outputs, out_grads, retain_graph, create_graph, inputs=None, stop_at_inputs=False):
    """The walk. Without ``inputs``: accumulate into the leaves' ``.grad``. With them:
    return the gradient for each of ``inputs`` (None where it gets none), touching no
    ``.grad``; ``stop_at_inputs`` gives partial derivatives (the walk stops there)."""
    grads = {}  # node -> gradient of its output so far
    captured = {}
    capture = _NOTHING if inputs is None else {id(t): i for i, t in enumerate(inputs)}
    stop = _NOTHING
    if inputs is not None and stop_at_inputs:
        stop = {t._ctx for t in inputs if t._ctx is not None}

    hooked = {}  # id(leaf) -> [leaf, gradient summed over this pass] for leaves with hooks

    def deliver(tensor, g, aliased):
        if tensor._ctx is None:
            slot = capture.get(id(tensor))
            if tensor._hooks and (slot is not None or inputs is None):
                entry = hooked.get(id(tensor))
                if entry is None:  # a copy: later contributions are added in place
                    hooked[id(tensor)] = [tensor, g if isinstance(g, Tensor) else g.copy()]
                else:
                    entry[1] = entry[1] + g
            elif slot is not None:
                captured[slot] = g if slot not in captured else captured[slot] + g
            elif inputs is None:
                _accumulate(tensor, g, aliased, create_graph)
        elif tensor._ctx in grads:
            grads[tensor._ctx] = grads[tensor._ctx] + g
        else:
            grads[tensor._ctx] = g

    for out, g in zip(outputs, out_grads):
        deliver(out, g, True)
    node_slots = (
        _NOTHING
        if inputs is None
        else {t._ctx: i for i, t in enumerate(inputs) if t._ctx is not None}
    )
    if len(outputs) == 1:
        roots = [] if outputs[0]._ctx is None else [outputs[0]._ctx]
    else:
        roots = list(dict.fromkeys(out._ctx for out in outputs if out._ctx is not None))
    for node in _topological_order(roots, stop):
        out_grad = grads.pop(node, None)
        if out_grad is None:
            if not retain_graph:
                node._release()
            continue
        if node._tensor_hooks is not None:
            out_grad = _call_hooks(node._tensor_hooks, out_grad, create_graph)
            retained = node._retains_grad and node._retains_grad()
            if retained is not None:
                retained._grad = _keep(retained._grad, out_grad)
        if node_slots and node in node_slots:
            captured[node_slots[node]] = out_grad
        if not (stop and node in stop):
            if node.output_modified:
                _refuse_modified_output(node)
            for t, version in zip(node.inputs, node.versions):
                if t is not None and t._version != version:
                    _check_versions(node)
            if _instrumented:
                in_grads = _instrumented_backward(node, out_grad, create_graph)
            elif create_graph:
                in_grads = _node_backward(node, out_grad, create_graph)
            else:
                in_grads = node.backward(node, out_grad)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if len(in_grads) != len(node.inputs):
                raise RuntimeError(
                    f"{type(node).__name__}.backward returned {len(in_grads)} "
                    f"gradients for {len(node.inputs)} inputs"
                )
            distinct = None  # are the gradients distinct objects? asked only for leaves
            for tensor, parent, need, in_grad in zip(
                node.inputs, node.parents, node.needs_input_grad, in_grads
            ):
                if in_grad is None or not need:
                    continue
                if in_grad.shape != tensor.data.shape:
                    raise RuntimeError(
                        f"{type(node).__name__}.backward returned a gradient of shape "
                        f"{tuple(in_grad.shape)} for an input of shape {tensor.data.shape}"
                    )
                if create_graph and not isinstance(in_grad, Tensor):
                    in_grad = Tensor._make(in_grad, None)
                if parent is None:
                    # also handed on elsewhere: a leaf must get its own copy
                    if distinct is None:
                        distinct = len(set(map(id, in_grads))) == len(in_grads)
                    shared = in_grad is out_grad or (
                        not distinct and sum(g is in_grad for g in in_grads) > 1
                    )
                    if inputs is None and not tensor._hooks:  # the common case, directly
                        _accumulate(tensor, in_grad, shared, create_graph)
                    else:
                        deliver(tensor, in_grad, shared)
                elif parent in grads:
                    grads[parent] = grads[parent] + in_grad
                else:
                    grads[parent] = in_grad
        if not retain_graph:
            node._release()
    for leaf, g in hooked.values():  # a leaf's hooks run once, on its whole gradient
        g = _call_hooks(leaf._hooks, g, create_graph)
        slot = capture.get(id(leaf))
        if slot is not None:
            captured[slot] = g
        else:
            _accumulate(leaf, g, False, create_graph)
    if inputs is None:
        return None
    return [captured.get(i) for i in range(len(inputs))]


def _keep(kept, g):
    """``retain_grad``'s accumulation: the gradient as a Tensor, added to what is kept."""
    g = g if isinstance(g, Tensor) else Tensor._make(g.copy(), None)
    return g if kept is None else kept + g


def _instrumented_backward(node, g, create_graph):
    start = time.perf_counter()
    in_grads = _node_backward(node, g, create_graph)
    end = time.perf_counter()
    as_tuple = in_grads if isinstance(in_grads, tuple) else (in_grads,)
    arrays = [x.data if isinstance(x, Tensor) else x for x in as_tuple if x is not None]
    if _profiler is not None:
        _profiler.record(
            "backward", type(node).__name__, start, end, sum(_nbytes(a) for a in arrays)
        )
    if _anomaly and any(_has_nonfinite(a, nan_only=True) for a in arrays):
        where = getattr(node, "created_at", "<unknown: created outside detect_anomaly>")
        raise RuntimeError(
            f"Function '{type(node).__name__}Backward' returned nan values "
            f"in its gradient (detect_anomaly). The op was created at {where}"
        )
    return in_grads


def _seed_gradient(output, grad, create_graph):
    """The gradient backward starts from: ones for a scalar, else ``grad`` checked."""
    data = output.data
    xp = backend.array_module(data)
    if grad is None:
        if data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs, but the output has "
                f"shape {tuple(output.shape)}; pass a gradient of that shape, "
                "e.g. out.backward(minidl.ones_like(out))"
            )
        grad = xp.ones(data.shape, data.dtype)
    elif isinstance(grad, Tensor):
        if create_graph:
            if grad.shape != output.shape:
                raise RuntimeError(
                    f"grad has shape {tuple(grad.shape)} but the output has "
                    f"shape {tuple(output.shape)}"
                )
            return grad if grad.dtype == output.dtype else grad.astype(output.dtype)
        grad = xp.asarray(grad.data, dtype=output.dtype)
    else:
        grad = xp.asarray(grad, dtype=output.dtype)
    if grad.shape != output.shape:
        raise RuntimeError(
            f"grad has shape {tuple(grad.shape)} but the output has shape {tuple(output.shape)}"
        )
    return Tensor._make(grad, None) if create_graph else grad


def _as_list(x):
    return [x] if isinstance(x, Tensor) else list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate d(tensors)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    ``create_graph=True`` makes the gradients differentiable (they carry a graph);
    ``retain_graph`` defaults to ``create_graph``, as in PyTorch.
    """
    if isinstance(tensors, Tensor):
        outputs, seeds = [tensors], [grad_tensors]
    else:
        outputs = list(tensors)
        seeds = [None] * len(outputs) if grad_tensors is None else _as_list(grad_tensors)
        if len(seeds) != len(outputs):
            raise RuntimeError(f"backward(): {len(seeds)} gradients for {len(outputs)} tensors")
    for out in outputs:
        if not out.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have "
                "a grad_fn (did you create it under no_grad, or forget "
                "requires_grad=True?)"
            )
    retain_graph = create_graph if retain_graph is None else retain_graph
    seeds = [_seed_gradient(o, g, create_graph) for o, g in zip(outputs, seeds)]
    global _callbacks
    outer, _callbacks = _callbacks, []
    try:
        _run(outputs, seeds, retain_graph, create_graph)
        for callback in _callbacks:  # (a callback may queue another)
            callback()
    finally:
        _callbacks = outer


_callbacks = None  # while a backward() runs: what to call when it has finished


def queue_callback(callback):
    """Call ``callback()`` once the backward pass in progress has finished, every gradient
    in its leaves' ``.grad`` (torch's ``_execution_engine.queue_callback``). For use inside
    a ``Function.backward``; DistributedDataParallel averages the gradients there."""
    if _callbacks is None:
        raise RuntimeError("queue_callback() can only be called during backward()")
    _callbacks.append(callback)


def grad(
    outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False
):
    """The gradients of ``outputs`` with respect to ``inputs``, as a tuple of Tensors.

    Like ``torch.autograd.grad``: nothing is accumulated into any ``.grad``;
    ``grad_outputs`` is the vector of the vector-Jacobian product (ones for a scalar);
    with ``create_graph=True`` the results carry a graph and can be differentiated again.
    An input that ``outputs`` do not depend on is an error unless ``allow_unused``
    (then its gradient is None).
    """
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    else:
        grad_outputs = _as_list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"grad_outputs has {len(grad_outputs)} entries but there are {len(outputs)} outputs"
        )
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad(): input {i} does not require grad")
    for out in outputs:
        if not out.requires_grad:
            raise RuntimeError(
                "grad(): an output does not require grad and does not have a grad_fn"
            )
    retain_graph = create_graph if retain_graph is None else retain_graph
    seeds = [_seed_gradient(o, g, create_graph) for o, g in zip(outputs, grad_outputs)]
    results = _run(outputs, seeds, retain_graph, create_graph, inputs=inputs)
    out = []
    for i, (t, g) in enumerate(zip(inputs, results)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad(): input {i} was not used in the graph of the outputs; pass "
                    "allow_unused=True if this is intended"
                )
            out.append(None)
        elif isinstance(g, Tensor):
            out.append(g if g.dtype == t.dtype else g.astype(t.dtype))
        else:
            out.append(Tensor._make(g if g.dtype == t.dtype else g.astype(t.dtype), None))
    return tuple(out)


def register_tensor_hook(tensor, hook):
    """``Tensor.register_hook``: ``hook(grad)`` runs once the gradient with respect to
    ``tensor`` has been computed in a backward pass; a returned Tensor replaces it."""
    if not tensor.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    owner = tensor if tensor._ctx is None else tensor._ctx
    attribute = "_hooks" if tensor._ctx is None else "_tensor_hooks"
    if getattr(owner, attribute) is None:
        setattr(owner, attribute, {})
    hooks = getattr(owner, attribute)
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def retain_grad(tensor):
    """``Tensor.retain_grad``: keep this non-leaf's gradient in ``.grad``, as it is after
    all of its hooks have run."""
    node = tensor._ctx
    if node is None:
        return
    if not tensor.requires_grad:
        raise RuntimeError("can't retain_grad on a Tensor that has requires_grad=False")
    if node._tensor_hooks is None:
        node._tensor_hooks = {}
    node._retains_grad = weakref.ref(tensor)
