"""Update rules written once, run as NumPy chunks on the CPU and as one CUDA kernel on the GPU.

An optimizer states its update as a few assignment lines, in the seed's notation. Adam's:

    exp_avg = beta1 * exp_avg + (1 - beta1) * g
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
    p = p - lr * sqrt(1 - beta2 ** step) / (1 - beta1 ** step) * exp_avg / (sqrt(exp_avg_sq) + eps * sqrt(1 - beta2 ** step))

``p`` is the parameter, ``g`` its gradient (read-only: assigning ``g`` makes a new temporary),
the optimizer's state arrays are named by the optimizer, any other name assigned from an
array is a temporary, and every remaining name is a scalar: a hyperparameter of the group or
``step`` (t, counted from 1). Allowed: numbers, ``+ - * / **``, unary ``-``, and the functions
``sqrt abs exp log maximum minimum``.

:class:`Rule` compiles such text once into

* host code: every sub-expression made only of scalars (``1 - beta1``, the bias corrections)
  is evaluated in Python floats once per step and becomes an argument of the kernels;
* a NumPy function over one cache-sized chunk of the flat buffers: one ufunc call with
  ``out=`` per array operation, intermediates in a few preallocated scratch chunks, so the
  chunk stays in L1/L2 while it is worked on and a step allocates nothing;
* the body of one fused ``cupy.ElementwiseKernel`` for the GPU.

Both evaluate the same expression tree in the same order and in the parameter's dtype (the
GPU kernel is compiled without FMA contraction), so the two paths agree to the last bit for
``+ - * /``, ``sqrt``, ``abs``, ``maximum`` and ``minimum``.

With ``flush=True`` every state array is flushed after the update: entries whose magnitude
is below ``flush_threshold(dtype) = 2**(mantissa bits + 1) * tiny`` (2.0e-31 for float32,
2.0e-292 for float64; tiny = ``finfo(dtype).tiny``) become exactly 0, by three in-cache
passes (``|s|``, ``>= threshold``, multiply) and no global FPU flags. Why: a moving average
fed zero gradients (MNIST's border pixels) decays geometrically towards the subnormal range,
and every CPU multiply with a subnormal operand or result takes a microcode assist, ~30 times
slower. Flushing at the threshold rather than at tiny keeps a margin of 2**24: the state is
never subnormal, and neither are the products of the update (``beta1 * m``, ``lr * m``, ...)
for any coefficient above 2**-24 (6e-8) times the decay between two flushes. NaN and inf are
kept as they are.

Numerically only state entries below the threshold change, to 0, so a parameter moves by
less than lr * 2.0e-31 / eps per step more or less than without the flush (2e-23 * lr at
eps = 1e-8): far below float32 resolution; results stay equal to torch's within float32
tolerance (torch with ``set_flush_denormal(True)`` flushes at tiny instead).

(``flush_denormal=K``, an integer, makes the CPU path flush each chunk only every K-th
step, staggered over the chunks, for 1/K of the cost. Between two flushes an entry decays
by at most beta**(K-1) below the threshold, which keeps it normal for any sensible K.)
"""
import ast
import hashlib
import math
import textwrap

import numpy

__all__ = ["Rule", "RuleError", "compile_rule", "flush_threshold"]


class RuleError(ValueError):
    """An update rule that cannot be compiled; the message names the line and the problem."""


# operator -> (NumPy ufunc, C operator or function)
_BINARY = {
    ast.Add: ("add", "+"), ast.Sub: ("subtract", "-"),
    ast.Mult: ("multiply", "*"), ast.Div: ("divide", "/"), ast.Pow: ("power", "pow"),
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
_RESERVED = {"n", "i", "flush_threshold", "chunk", "g", "p"}  # CuPy reserves n, i and names starting with _


class _Value:
    """One SSA value of the NumPy program: where it lives and when it is last read."""
    __slots__ = ("var", "loc", "last_use", "index")

    def __init__(self, var=None, loc=None, index=-1):
        self.var, self.loc, self.index, self.last_use = var, loc, index, index


class Rule:
    """A compiled update rule. See the module docstring for the language.

    ``source`` is the rule text, ``state_names`` the optimizer's state arrays (written back,
    like ``p``), ``flush`` whether the state is flushed of subnormals after the update.
    Attributes: ``coefficients(namespace)`` (host scalars), ``numpy_source`` /
    ``chunk_function`` / ``chunk_function_noflush`` and ``n_scratch`` (CPU: the generated
    chunk function and how many scratch chunks it needs), ``cuda_source(dtype)`` /
    ``cuda_kernel(dtype)`` (GPU).
    """

    def __init__(self, source, state_names=(), flush=False, name="update"):
        self.source = textwrap.dedent(source).strip()
        self.state_names = tuple(state_names)
        self.flush = bool(flush) and bool(self.state_names)
        self.name = name
        self.stored = ("p",) + self.state_names
        for s in self.state_names:
            if not s.isidentifier() or s.startswith(("_", "np_", "coef", "tmp")) or s in _RESERVED:
                raise RuleError(f"invalid state name {s!r}")
        self._parse()
        self._fold_scalars()
        self._build_numpy()
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
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)):
                raise RuleError(f"update rule {self.name}, line {node.lineno}: expected `name = expression`")
            target = node.targets[0].id
            if target.startswith(("_", "np_", "coef", "tmp")) or target in _RESERVED - {"g", "p"}:
                raise RuleError(f"update rule {self.name}, line {node.lineno}: reserved name {target!r}")
            expr = self._check(node.value, node.lineno, scalar_temps)
            if target in arrays or _names(expr) & arrays:
                if target in scalar_temps:
                    raise RuleError(f"update rule {self.name}, line {node.lineno}: {target!r} was a scalar")
                arrays.add(target)
                self.statements.append((target, expr))
            else:  # a scalar temporary: inlined where it is used, evaluated on the host
                scalar_temps[target] = expr
        if not any(t == "p" for t, _ in self.statements):
            raise RuleError(f"update rule {self.name} never assigns p")
        self.arrays = arrays

    def _check(self, node, lineno, scalar_temps):
        where = f"update rule {self.name}, line {lineno}"
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return node
        if isinstance(node, ast.Name):
            return scalar_temps.get(node.id, node)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return ast.BinOp(self._check(node.left, lineno, scalar_temps), node.op,
                             self._check(node.right, lineno, scalar_temps))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self._check(node.operand, lineno, scalar_temps)
            return operand if isinstance(node.op, ast.UAdd) else ast.UnaryOp(ast.USub(), operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            spec = _FUNCTIONS.get(node.func.id)
            if spec is None:
                raise RuleError(f"{where}: unknown function {node.func.id!r}; "
                                f"known: {', '.join(sorted(_FUNCTIONS))}")
            if len(node.args) != spec[0]:
                raise RuleError(f"{where}: {node.func.id} takes {spec[0]} argument(s)")
            return ast.Call(ast.Name(node.func.id), [self._check(a, lineno, scalar_temps) for a in node.args], [])
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
        self._coef_code = [compile(s, f"<{self.name} coefficient>", "eval") for s in self._coef_source]
        self.scalar_names = sorted(set().union(*[_names(ast.parse(s, mode="eval")) for s in self._coef_source])
                                   - set(_FUNCTIONS)) if self._coef_source else []
        self.coef_names = [f"coef{k}" for k in range(len(self._coef_source))]

    def coefficients(self, namespace):
        """The host scalars of one step, as Python floats, in kernel-argument order
        (without the trailing ``flush_threshold``)."""
        try:
            return [float(eval(code, _HOST_GLOBALS, namespace)) for code in self._coef_code]
        except NameError as exc:
            raise RuleError(f"update rule {self.name}: {exc}; scalars available: "
                            f"{', '.join(sorted(namespace))}") from None

    # ------------------------------------------------------------- CPU: NumPy
    def _build_numpy(self):
        ops = self._linearize()
        lines = self._allocate(ops)
        args = ["g", *self.stored, *self.scratch_names, *self.coef_names]
        if self.flush:
            args.append("flush_threshold")
        namespace = {f"np_{u}": getattr(numpy, u) for u in
                     {"copyto", "negative", "absolute", "greater_equal", "multiply"}
                     | {b[0] for b in _BINARY.values()}
                     | {f[1] for f in _FUNCTIONS.values()}}

        def define(body_lines, label):
            body = "\n".join("    " + line for line in body_lines) or "    pass"
            source = f"def chunk({', '.join(args)}):\n{body}\n"
            exec(compile(source, f"<{self.name} numpy chunk{label}>", "exec"), namespace)
            return source, namespace.pop("chunk")

        self.numpy_source, self.chunk_function = define(lines, "")
        # the same without the trailing flush passes, for steps that skip it (flush period > 1)
        n_flush = 3 * len(self.state_names) if self.flush else 0
        self.chunk_function_noflush = define(lines[:len(lines) - n_flush], " (no flush)")[1]

    def _linearize(self):
        """The program as SSA operations [kind, ufunc, inputs, output] in evaluation order."""
        ops = []
        self._initial = {name: _Value(name, name) for name in ("g",) + self.stored}
        current = dict(self._initial)

        def emit(node):
            if isinstance(node, ast.Name):
                return current[node.id] if node.id in current else node.id  # array or coefficient
            if isinstance(node, ast.BinOp):
                ufunc, inputs = _BINARY[type(node.op)][0], [emit(node.left), emit(node.right)]
            elif isinstance(node, ast.UnaryOp):
                ufunc, inputs = "negative", [emit(node.operand)]
            else:
                ufunc, inputs = _FUNCTIONS[node.func.id][1], [emit(a) for a in node.args]
            out = _Value(index=len(ops))
            ops.append(["call", ufunc, inputs, out])
            return out

        for target, expr in self.statements:
            result = emit(expr)
            if not isinstance(result, _Value) or result.index < 0 or result.var is not None:
                out = _Value(index=len(ops))  # a plain copy or fill: `m = g`, `m = 0`
                ops.append(["call", "copyto", [result], out])
                result = out
            result.var = target
            current[target] = result
        for s in self.state_names if self.flush else ():
            ops.append(["flush", None, [current[s]], None])
        for i, (_, _, inputs, _) in enumerate(ops):
            for v in inputs:
                if isinstance(v, _Value):
                    v.last_use = i
        for s in self.stored:
            current[s].last_use = len(ops)  # the final versions are the outputs
        return ops

    def _allocate(self, ops):
        """Give every SSA value a buffer: its variable's own, a dying input's, or scratch.

        A version of p or of a state array is written into that array's buffer. Any other
        value goes, in order of preference, over an input read for the last time (in place),
        into a p/state buffer between the last read of its old value and its next write, or
        into the first free scratch chunk.
        """
        occupant = {name: self._initial[name] for name in self.stored}
        writes = {name: [i for i, op in enumerate(ops) if op[3] is not None and op[3].var == name]
                  for name in self.stored}
        scratch, lines = [], []

        def free(buf, i):
            v = occupant.get(buf)
            return v is None or v.last_use < i

        def next_write(buf, i):
            return next((w for w in writes.get(buf, ()) if w >= i), -1)

        def scratch_for(i, avoid):
            for t in scratch:
                if free(t, i) and t not in avoid:
                    return t
            scratch.append(f"tmp{len(scratch)}")
            return scratch[-1]

        for i, (kind, ufunc, inputs, out) in enumerate(ops):
            in_locs = {v.loc for v in inputs if isinstance(v, _Value)}
            if kind == "flush":  # s = s * (|s| >= threshold), via a free scratch chunk
                s = inputs[0].loc
                t = scratch_for(i, in_locs)
                lines += [f"np_absolute({s}, {t})",
                          f"np_greater_equal({t}, flush_threshold, {t})",
                          f"np_multiply({s}, {t}, {s})"]
                continue
            if out.var in self.stored:
                loc = out.var
                held = occupant.get(loc)
                if held is not None and held.last_use > i:  # its old value is still needed
                    tmp = scratch_for(i, in_locs)
                    lines.append(f"np_copyto({tmp}, {loc})")
                    held.loc, occupant[tmp] = tmp, held
            else:
                loc = None
                for v in inputs:
                    if isinstance(v, _Value) and v.last_use == i and v.loc != "g" and (
                            v.loc in scratch or out.last_use <= next_write(v.loc, i + 1)):
                        loc = v.loc
                        break
                if loc is None:
                    for buf in self.stored:
                        nw = next_write(buf, i + 1)
                        if free(buf, i) and nw > i and out.last_use <= nw and buf not in in_locs:
                            loc = buf
                            break
                if loc is None:
                    loc = scratch_for(i, in_locs)
            operands = [v.loc if isinstance(v, _Value) else v for v in inputs]
            if ufunc == "copyto":
                lines.append(f"np_copyto({loc}, {operands[0]})")
            elif ufunc in ("maximum", "minimum"):
                lines.append(f"np_{ufunc}({', '.join(operands)}, out={loc})")
            else:
                lines.append(f"np_{ufunc}({', '.join(operands)}, {loc})")
            out.loc = loc
            occupant[loc] = out
        self.scratch_names = scratch
        self.n_scratch = len(scratch)
        return lines

    # --------------------------------------------------------------- GPU: CUDA
    def cuda_source(self, dtype):
        """(in_params, out_params, body) of the fused ElementwiseKernel for ``dtype``."""
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
        if self.flush:
            lines += [f"if ({s} < flush_threshold && {s} > -flush_threshold) {s} = 0;"
                      for s in self.state_names]
        inputs = ["g", *self.coef_names] + (["flush_threshold"] if self.flush else [])
        in_params = ", ".join(f"{dname} {n}" for n in inputs)
        out_params = ", ".join(f"{dname} {n}" for n in self.stored)
        return in_params, out_params, "\n".join(lines)

    def cuda_kernel(self, dtype):
        """The cupy.ElementwiseKernel; call it as kernel(g, *coefficients, [flush_threshold,] p, *state)."""
        dtype = numpy.dtype(dtype)
        kernel = self._cuda_kernels.get(dtype)
        if kernel is None:
            from minidl import backend
            cupy = backend.get_cupy()
            in_params, out_params, body = self.cuda_source(dtype)
            digest = hashlib.sha1(body.encode()).hexdigest()[:10]
            kernel = cupy.ElementwiseKernel(in_params, out_params, body,
                                            f"minidl_{self.name}_{digest}",
                                            options=("--fmad=false",))
            self._cuda_kernels[dtype] = kernel
        return kernel

    def __repr__(self):
        return f"Rule({self.name!r}, state={self.state_names}, flush={self.flush})"


def flush_threshold(dtype):
    """State magnitudes below this become 0: 2**(mantissa bits + 1) * tiny (2.0e-31 for float32)."""
    fi = numpy.finfo(dtype)
    return 2 * float(fi.tiny) / float(fi.eps)


def _names(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - set(_FUNCTIONS)


_CACHE = {}


def compile_rule(source, state_names=(), flush=False, name="update"):
    """A cached :class:`Rule` (rules are compiled once per distinct text and options)."""
    key = (source, tuple(state_names), bool(flush))
    rule = _CACHE.get(key)
    if rule is None:
        rule = _CACHE[key] = Rule(source, state_names, flush, name)
    return rule
