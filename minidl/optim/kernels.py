"""Update rules written once, run as NumPy chunks on the CPU and as one CUDA kernel on the GPU.

An optimizer states its update as a few assignment lines, in the seed's notation. Adam's:

    exp_avg = beta1 * exp_avg + (1 - beta1) * g
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
    p = p - lr * sqrt(1 - beta2 ** step) / (1 - beta1 ** step) * exp_avg / (
        sqrt(exp_avg_sq) + eps * sqrt(1 - beta2 ** step))

``p`` is the parameter, ``g`` its gradient (read-only: assigning ``g`` makes a new temporary),
the optimizer's state arrays are named by the optimizer, any other name assigned from an
array is a temporary, and every remaining name is a scalar: a hyperparameter of the group or
``step`` (t, counted from 1). Allowed: numbers, ``+ - * / **``, unary ``-``, and the functions
``sqrt abs exp log maximum minimum``.

:class:`Rule` compiles such text once into

* host code: every sub-expression made only of scalars (``1 - beta1``, the bias corrections)
  is evaluated in Python floats once per step and becomes an argument of the kernels;
* ``statements``: the assignments with those sub-expressions replaced by ``coef0, coef1...``,
  which the plain executor evaluates on whole arrays (:mod:`minidl.optim.plain`);
* a NumPy function over one cache-sized chunk (the fast executor's, :mod:`minidl.optim.fast`):
  one ufunc call with ``out=`` per array operation, intermediates in a few preallocated
  scratch chunks, so the chunk stays in L1/L2 while it is worked on and a step allocates
  nothing;
* the body of one fused ``cupy.ElementwiseKernel`` for the GPU.

All evaluate the same expression tree in the same order and in the parameter's dtype (the
GPU kernel is compiled without FMA contraction), so they agree to the last bit for
``+ - * /``, ``sqrt``, ``abs``, ``maximum`` and ``minimum``.

The chunk function and the kernel come in two variants, with and without the subnormal
flush of the state arrays after the update (``flush=True``; why and how: :mod:`minidl.optim.flush`).
"""

import ast
import hashlib
import math
import textwrap
from collections import namedtuple

import numpy

from . import flush as _flush

__all__ = ["Rule", "RuleError", "compile_rule"]


class RuleError(ValueError):
    """An update rule that cannot be compiled; the message names the line and the problem."""


# operator -> (NumPy ufunc, C operator or function)
_BINARY = {
    ast.Add: ("add", "+"),
    ast.Sub: ("subtract", "-"),
    ast.Mult: ("multiply", "*"),
    ast.Div: ("divide", "/"),
    ast.Pow: ("power", "pow"),
}
# function -> (arity, NumPy ufunc, C function, host function)
_FUNCTIONS = {
    "sqrt": (1, "sqrt", "sqrt", math.sqrt),
    "abs": (1, "absolute", "fabs", abs),
    "exp": (1, "exp", "exp", math.exp),
    "log": (1, "log", "log", math.log),
    "maximum": (2, "maximum", "fmax", max),
    "minimum": (2, "minimum", "fmin", min),
}
_HOST_GLOBALS = {"__builtins__": {}, **{name: f[3] for name, f in _FUNCTIONS.items()}}
_C_TYPES = {numpy.dtype(numpy.float32): ("float", "f"), numpy.dtype(numpy.float64): ("double", "")}
_RESERVED = {
    "n",
    "i",
    "flush_threshold",
    "chunk",
    "g",
    "p",
}  # CuPy reserves n, i and names starting with _


class _Value:
    """One SSA value of the NumPy program: its variable (if assigned to one), the buffer it
    lives in, and the index of the last operation that reads it."""

    __slots__ = ("var", "loc", "last_use")

    def __init__(self, var=None, loc=None, last_use=-1):
        self.var, self.loc, self.last_use = var, loc, last_use


_Op = namedtuple(
    "_Op", "ufunc inputs out"
)  # out = ufunc(*inputs); inputs: _Value or coefficient name
_Flush = namedtuple("_Flush", "state")  # flush the state array holding this _Value


class Rule:
    """A compiled update rule. See the module docstring for the language.

    ``source`` is the rule text, ``state_names`` the optimizer's state arrays (written back,
    like ``p``). Host side: ``coefficients(namespace)``, the scalars of one step. CPU:
    ``chunk_function(flush)``, the generated NumPy function over one chunk, called as
    ``f(g, p, *state, *scratch, *coefficients, flush_threshold)`` with ``n_scratch`` scratch
    chunks (``numpy_source(flush)`` is its text). GPU: ``cuda_kernel(dtype, flush)``, called
    as ``kernel(g, *coefficients, flush_threshold, p, *state)`` (``cuda_source``: its text).
    The flush variants flush the state after the update (:mod:`minidl.optim.flush`).
    """

    def __init__(self, source, state_names=(), name="update"):
        self.source = textwrap.dedent(source).strip()
        self.state_names = tuple(state_names)
        self.name = name
        self.stored = ("p",) + self.state_names
        for s in self.state_names:
            if not s.isidentifier() or s.startswith(("_", "np_", "coef", "tmp")) or s in _RESERVED:
                raise RuleError(f"invalid state name {s!r}")
        self._parse()
        self._fold_scalars()
        generated = {flush: self._allocate(self._linearize(flush)) for flush in (False, True)}
        self.n_scratch = max(len(scratch) for scratch, _ in generated.values())
        self._numpy = {flush: self._define(lines, flush) for flush, (_, lines) in generated.items()}
        self._cuda_kernels = {}

    # ------------------------------------------------------------------ parsing
    def _parse(self):
        try:
            tree = ast.parse(self.source)
        except SyntaxError as exc:
            raise RuleError(f"update rule {self.name}: {exc}") from None
        arrays = set(("g",) + self.stored)
        scalar_temps = {}
        self.statements = []
        for node in tree.body:
            if not (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                raise RuleError(
                    f"update rule {self.name}, line {node.lineno}: expected `name = expression`"
                )
            target = node.targets[0].id
            if target.startswith(("_", "np_", "coef", "tmp")) or target in _RESERVED - {"g", "p"}:
                raise RuleError(
                    f"update rule {self.name}, line {node.lineno}: reserved name {target!r}"
                )
            expr = self._check(node.value, node.lineno, scalar_temps)
            if target in arrays or _names(expr) & arrays:
                if target in scalar_temps:
                    raise RuleError(
                        f"update rule {self.name}, line {node.lineno}: {target!r} was a scalar"
                    )
                arrays.add(target)
                self.statements.append((target, expr))
            else:  # a scalar temporary: inlined where it is used, evaluated on the host
                scalar_temps[target] = expr
        if not any(t == "p" for t, _ in self.statements):
            raise RuleError(f"update rule {self.name} never assigns p")
        self.arrays = arrays

    def _check(self, node, lineno, scalar_temps):
        where = f"update rule {self.name}, line {lineno}"
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)
        ):
            return node
        if isinstance(node, ast.Name):
            return scalar_temps.get(node.id, node)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return ast.BinOp(
                self._check(node.left, lineno, scalar_temps),
                node.op,
                self._check(node.right, lineno, scalar_temps),
            )
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self._check(node.operand, lineno, scalar_temps)
            return operand if isinstance(node.op, ast.UAdd) else ast.UnaryOp(ast.USub(), operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            spec = _FUNCTIONS.get(node.func.id)
            if spec is None:
                raise RuleError(
                    f"{where}: unknown function {node.func.id!r}; "
                    f"known: {', '.join(sorted(_FUNCTIONS))}"
                )
            if len(node.args) != spec[0]:
                raise RuleError(f"{where}: {node.func.id} takes {spec[0]} argument(s)")
            return ast.Call(
                ast.Name(node.func.id),
                [self._check(a, lineno, scalar_temps) for a in node.args],
                [],
            )
        raise RuleError(f"{where}: unsupported expression {ast.unparse(node)!r}")

    # ---------------------------------------------- scalar parts go to the host
    def _fold_scalars(self):
        """Replace each maximal scalar-only sub-expression by a coefficient ``coefK``."""
        self._coef_source = []  # coefficient k's expression text
        index = {}

        def fold(node):
            if not (_names(node) & self.arrays):
                key = ast.unparse(node)
                if key not in index:
                    index[key] = len(self._coef_source)
                    self._coef_source.append(key)
                return ast.Name(f"coef{index[key]}")
            if isinstance(node, ast.BinOp):
                return ast.BinOp(fold(node.left), node.op, fold(node.right))
            if isinstance(node, ast.UnaryOp):
                return ast.UnaryOp(node.op, fold(node.operand))
            if isinstance(node, ast.Call):
                return ast.Call(node.func, [fold(a) for a in node.args], [])
            return node  # an array name

        self.statements = [(t, fold(e)) for t, e in self.statements]
        # all coefficients as one tuple expression: one eval per step, not one per coefficient
        self._coef_code = compile(
            f"({''.join(s + ', ' for s in self._coef_source)})",
            f"<{self.name} coefficients>",
            "eval",
        )
        self.scalar_names = (
            sorted(
                set().union(*[_names(ast.parse(s, mode="eval")) for s in self._coef_source])
                - set(_FUNCTIONS)
            )
            if self._coef_source
            else []
        )
        self.coef_names = [f"coef{k}" for k in range(len(self._coef_source))]

    def coefficients(self, namespace):
        """The host scalars of one step, as Python floats, in kernel-argument order
        (without the trailing ``flush_threshold``)."""
        try:
            return list(map(float, eval(self._coef_code, _HOST_GLOBALS, namespace)))
        except NameError as exc:
            raise RuleError(
                f"update rule {self.name}: {exc}; scalars available: {', '.join(sorted(namespace))}"
            ) from None

    # ------------------------------------------------------------- CPU: NumPy
    def numpy_source(self, flush=False):
        """The text of the generated chunk function."""
        return self._numpy[flush][0]

    def chunk_function(self, flush=False):
        """The generated chunk function (see the class docstring for its arguments)."""
        return self._numpy[flush][1]

    def _define(self, lines, flush):
        scratch = [f"tmp{k}" for k in range(self.n_scratch)]
        args = ["g", *self.stored, *scratch, *self.coef_names, "flush_threshold"]
        namespace = {
            f"np_{u}": getattr(numpy, u)
            for u in {"copyto", "negative", "absolute", "greater_equal", "multiply"}
            | {b[0] for b in _BINARY.values()}
            | {f[1] for f in _FUNCTIONS.values()}
        }
        body = "\n".join("    " + line for line in lines) or "    pass"
        source = f"def chunk({', '.join(args)}):\n{body}\n"
        label = " (flush)" if flush else ""
        exec(compile(source, f"<{self.name} numpy chunk{label}>", "exec"), namespace)
        return source, namespace.pop("chunk")

    def _linearize(self, flush):
        """The program as SSA operations in evaluation order, then the flushes if asked."""
        ops = []
        self._initial = {name: _Value(name, name) for name in ("g",) + self.stored}
        current = dict(self._initial)

        def emit(node):
            if isinstance(node, ast.Name):
                return current.get(node.id, node.id)  # array or coefficient
            if isinstance(node, ast.BinOp):
                ufunc, inputs = _BINARY[type(node.op)][0], [emit(node.left), emit(node.right)]
            elif isinstance(node, ast.UnaryOp):
                ufunc, inputs = "negative", [emit(node.operand)]
            else:
                ufunc, inputs = _FUNCTIONS[node.func.id][1], [emit(a) for a in node.args]
            ops.append(_Op(ufunc, inputs, _Value()))
            return ops[-1].out

        for target, expr in self.statements:
            result = emit(expr)
            if not isinstance(result, _Value) or result.var is not None:
                ops.append(
                    _Op("copyto", [result], _Value())
                )  # a plain copy or fill: `m = g`, `m = 0`
                result = ops[-1].out
            result.var = target
            current[target] = result
        if flush:
            ops += [_Flush(current[s]) for s in self.state_names]
        for i, op in enumerate(ops):
            for v in op.inputs if isinstance(op, _Op) else [op.state]:
                if isinstance(v, _Value):
                    v.last_use = i
        for s in self.stored:
            current[s].last_use = len(ops)  # the final versions are the outputs
        return ops

    def _allocate(self, ops):
        """Give every SSA value a buffer: (scratch names, the lines of the chunk function).

        A new version of p or of a state array goes into that array's buffer (its old value
        moved to scratch first if still needed). Any other value goes over an input read for
        the last time (in place), if that buffer is scratch or is not written again before
        the value's last read (that read may write it: ufuncs work elementwise), or else into
        the first free scratch chunk. Writing in place pays a little: Adam and RMSprop chunks
        over 1e7 float32 took 0-9% less time than with every temporary in scratch
        (interleaved, 1 thread, on a busy 2-core machine).
        """
        occupant = {name: self._initial[name] for name in self.stored}  # buffer -> value held
        writes = [op.out.var if isinstance(op, _Op) else None for op in ops]
        scratch, lines = [], []

        def free(buf, i):
            v = occupant.get(buf)
            return v is None or v.last_use < i

        def written_between(buf, start, stop):  # by one of the operations start..stop-1
            return buf in writes[start:stop]

        def scratch_for(i, avoid):
            t = next((t for t in scratch if free(t, i) and t not in avoid), None)
            if t is None:
                t = f"tmp{len(scratch)}"
                scratch.append(t)
            return t

        for i, op in enumerate(ops):
            if isinstance(op, _Flush):
                lines += _flush.numpy_lines(op.state.loc, scratch_for(i, {op.state.loc}))
                continue
            values = [v for v in op.inputs if isinstance(v, _Value)]
            in_locs = {v.loc for v in values}
            out = op.out
            if out.var in self.stored:
                loc = out.var
                held = occupant[loc]
                if held.last_use > i:  # its old value is still needed
                    tmp = scratch_for(i, in_locs)
                    lines.append(f"np_copyto({tmp}, {loc})")
                    held.loc, occupant[tmp] = tmp, held
            else:
                loc = next(
                    (
                        v.loc
                        for v in values
                        if v.last_use == i
                        and v.loc != "g"
                        and (v.loc in scratch or not written_between(v.loc, i + 1, out.last_use))
                    ),
                    None,
                )
                if loc is None:
                    loc = scratch_for(i, in_locs)
            operands = [v.loc if isinstance(v, _Value) else v for v in op.inputs]
            if op.ufunc == "copyto":
                lines.append(f"np_copyto({loc}, {operands[0]})")
            elif op.ufunc in ("maximum", "minimum"):
                lines.append(f"np_{op.ufunc}({', '.join(operands)}, out={loc})")
            else:
                lines.append(f"np_{op.ufunc}({', '.join(operands + [loc])})")
            out.loc = loc
            occupant[loc] = out
        return scratch, lines

    # --------------------------------------------------------------- GPU: CUDA
    def cuda_source(self, dtype, flush=False):
        """(in_params, out_params, body) of the fused ElementwiseKernel for ``dtype``."""
        if numpy.dtype(dtype) not in _C_TYPES:
            raise TypeError(
                f"the GPU update kernels support float32 and float64, not {numpy.dtype(dtype)}"
            )
        ctype, suffix = _C_TYPES[numpy.dtype(dtype)]
        dname = numpy.dtype(dtype).name
        names = {name: name for name in ("g",) + self.stored}
        versions = {}
        lines = []

        def c(node):
            if isinstance(node, ast.Name):
                return names.get(node.id, node.id)
            if isinstance(node, ast.BinOp):
                op = _BINARY[type(node.op)][1]
                if op == "pow":
                    return f"pow{suffix}({c(node.left)}, {c(node.right)})"
                return f"({c(node.left)} {op} {c(node.right)})"
            if isinstance(node, ast.UnaryOp):
                return f"(-{c(node.operand)})"
            return f"{_FUNCTIONS[node.func.id][2]}{suffix}({', '.join(c(a) for a in node.args)})"

        for target, expr in self.statements:
            code = c(expr)
            if target in self.stored:
                lines.append(f"{target} = {code};")
            else:  # temporaries (and new values of g) are fresh locals
                versions[target] = versions.get(target, 0) + 1
                local = f"{target}_v{versions[target]}"
                lines.append(f"{ctype} {local} = {code};")
                names[target] = local
        if flush:
            lines += [_flush.cuda_line(s) for s in self.state_names]
        inputs = ["g", *self.coef_names, "flush_threshold"]
        in_params = ", ".join(f"{dname} {n}" for n in inputs)
        out_params = ", ".join(f"{dname} {n}" for n in self.stored)
        return in_params, out_params, "\n".join(lines)

    def cuda_kernel(self, dtype, flush=False):
        """The cupy.ElementwiseKernel; call it as
        ``kernel(g, *coefficients, flush_threshold, p, *state)``."""
        dtype = numpy.dtype(dtype)
        kernel = self._cuda_kernels.get((dtype, flush))
        if kernel is None:
            from .. import backend

            cupy = backend.get_cupy()
            in_params, out_params, body = self.cuda_source(dtype, flush)
            digest = hashlib.sha1(body.encode()).hexdigest()[:10]
            kernel = cupy.ElementwiseKernel(
                in_params,
                out_params,
                body,
                f"minidl_{self.name}_{digest}",
                options=("--fmad=false",),
            )
            self._cuda_kernels[dtype, flush] = kernel
        return kernel

    def __repr__(self):
        return f"Rule({self.name!r}, state={self.state_names})"


def _names(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - set(_FUNCTIONS)


_CACHE = {}


def compile_rule(source, state_names=(), name="update"):
    """A cached :class:`Rule` (rules are compiled once per distinct text and state names)."""
    key = (source, tuple(state_names))
    rule = _CACHE.get(key)
    if rule is None:
        rule = _CACHE[key] = Rule(source, state_names, name)
    return rule
