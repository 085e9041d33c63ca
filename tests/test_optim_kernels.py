"""minidl.optim kernels: allocation-free CPU steps, the subnormal flush, the GPU kernels.

The CUDA kernel bodies are also checked without a GPU: each is compiled as C (same
statements, no FMA contraction) and must give bit-identical float32 results to the NumPy
chunk function generated from the same rule.
"""

import ctypes
import os
import shutil
import subprocess
import tracemalloc

import numpy as np
import pytest

import minidl
from minidl import backend
from minidl.optim import SGD, Adagrad, Adam, AdamW, Momentum, RAdam, RMSprop, flush
from minidl.optim.kernels import compile_rule
from minidl.optim.plain import PlainExecutor

F32 = np.finfo(np.float32)

CONFIGS = [
    (SGD, dict(lr=0.05)),
    (SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01, maximize=True)),
    (SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (Momentum, dict(lr=0.05, beta=0.9)),
    (RMSprop, dict(lr=1e-3)),
    (RMSprop, dict(lr=1e-3, centered=True, momentum=0.5, weight_decay=0.01)),
    (Adam, dict(lr=1e-3)),
    (Adam, dict(lr=1e-3, amsgrad=True, weight_decay=0.01)),
    (AdamW, dict(lr=1e-3)),
    (Adagrad, dict(lr=0.1, lr_decay=0.01)),
    (RAdam, dict(lr=1e-3)),
]
IDS = [f"{c.__name__}-{len(k)}" for c, k in CONFIGS]


def tensors(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [minidl.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


# ------------------------------------------------- the rule compiler against a reference
def _random_rule(rng):
    """A random rule: states a, b; temporaries x, y; reassignments and aliases included."""
    arrays, scalars = ["p", "g", "a", "b"], ["lr", "beta", "2", "0.5"]

    def expr(depth):
        r = rng.random()
        if depth == 0 or r < 0.25:
            return str(rng.choice(arrays if rng.random() < 0.7 else scalars))
        if r < 0.35:
            return f"-{expr(depth - 1)}"
        if r < 0.45:
            return f"sqrt(abs({expr(depth - 1)}))"
        if r < 0.55:
            return f"{rng.choice(['maximum', 'minimum'])}({expr(depth - 1)}, {expr(depth - 1)})"
        return f"({expr(depth - 1)} {rng.choice(['+', '-', '*', '/'])} {expr(depth - 1)})"

    lines = []
    for _ in range(rng.integers(1, 6)):
        target = str(rng.choice(["a", "b", "x", "y", "g", "p"]))
        tail = " * g" if target in ("x", "y") else ""  # temporaries hold arrays
        lines.append(f"{target} = {expr(3)}{tail}")
        if target in ("x", "y") and target not in arrays:
            arrays.append(target)
    lines.append(f"p = {expr(2)}")
    return "\n".join(lines)


def _reference(source, arrays, scalars):
    """Evaluate a rule statement by statement: scalar parts in Python, array parts in NumPy."""
    import ast
    import math

    env = dict(arrays)
    funcs = {
        "sqrt": (math.sqrt, np.sqrt),
        "abs": (abs, np.abs),
        "maximum": (max, np.maximum),
        "minimum": (min, np.minimum),
    }
    ops = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}

    def is_array(node):
        return any(
            isinstance(n, ast.Name) and isinstance(env.get(n.id), np.ndarray)
            for n in ast.walk(node)
        )

    def ev(node):
        if not is_array(node):
            ns = {**scalars, **{k: v[0] for k, v in funcs.items()}}
            return float(
                eval(compile(ast.Expression(node), "<s>", "eval"), {"__builtins__": {}}, ns)
            )
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.BinOp):
            return ops[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            return np.negative(ev(node.operand))
        return funcs[node.func.id][1](*[ev(a) for a in node.args])

    for stmt in ast.parse(source).body:
        value = ev(stmt.value)
        env[stmt.targets[0].id] = (
            np.array(value, dtype=np.float64) * np.ones(8)
            if not isinstance(value, np.ndarray)
            else value.copy()
        )
    return env


def test_compiled_rules_match_a_statement_by_statement_reference():
    """Random rules through the fast executor's chunk function and the plain executor."""
    rng = np.random.default_rng(0)
    scalars = {"lr": 0.3, "beta": 0.9}
    for _ in range(300):
        source = _random_rule(rng)
        rule = compile_rule(source, ("a", "b"))
        start = {k: rng.standard_normal(8) for k in ("p", "g", "a", "b")}
        got = {k: v.copy() for k, v in start.items()}
        scratch = [np.empty(8) for _ in range(rule.n_scratch)]
        p = minidl.tensor(start["p"], requires_grad=True)
        p.grad = minidl.tensor(start["g"])
        plain_state = {k: start[k].copy() for k in ("a", "b")}
        with np.errstate(all="ignore"):
            try:
                want = _reference(source, start, scalars)
            except ZeroDivisionError:  # a scalar part divides by zero: so do the coefficients
                with pytest.raises(ZeroDivisionError):
                    rule.coefficients(scalars)
                continue
            coefs = rule.coefficients(scalars)
            rule.chunk_function()(
                got["g"],
                got["p"],
                got["a"],
                got["b"],
                *scratch,
                *[np.array(c) for c in coefs],
                None,
            )
            PlainExecutor([p]).run(rule, [p], [plain_state], coefs, 1, 0)
        plain = {"p": p.data, **plain_state}
        for k in ("p", "a", "b"):
            np.testing.assert_array_equal(
                got[k], want[k], err_msg=f"{k} in\n{source}\n{rule.numpy_source()}"
            )
            np.testing.assert_array_equal(plain[k], want[k], err_msg=f"plain: {k} in\n{source}")
        np.testing.assert_array_equal(got["g"], start["g"])  # the gradient is never written
        np.testing.assert_array_equal(p.grad.data, start["g"])


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_plain_and_fast_executors_agree_bit_for_bit_in_float32(cls, kw):
    results = []
    for executor in ("plain", "fast"):
        params = tensors([(40, 30), (30,), (7, 3), (1,)], np.float32, seed=4)
        opt = cls(params, **kw, executor=executor, flush_denormal=1)
        opt.chunk_size = 256  # the (40, 30) weight in chunks, the rest packed
        rng = np.random.default_rng(6)
        for _ in range(8):
            for p in params:
                p.grad = minidl.tensor(rng.standard_normal(p.shape).astype(np.float32))
            opt.step()
        results.append(
            [p.data for p in params]
            + [v for p in params for k, v in opt.state[p].items() if k != "step"]
        )
    for plain, fast in zip(*results):
        np.testing.assert_array_equal(plain, fast)


# ------------------------------------------------------------------------- allocations
def test_cpu_step_after_the_first_allocates_no_parameter_sized_array():
    params = tensors([(1000, 1000), (1000,), (10, 1000), (10,)], np.float32)
    opt = Adam(params, lr=1e-3, amsgrad=True)
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    for _ in range(2):
        for p, g in zip(params, grads):
            p.grad = minidl.tensor(g)
        opt.step()
    for p, g in zip(params, grads):  # fresh gradient arrays, as backward makes them
        p.grad = minidl.tensor(g)
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    smallest_param_bytes = 10 * 4
    largest = 1000 * 1000 * 4
    assert peak < largest // 100, f"a step allocated {peak} bytes"
    assert peak < 64 * 1024, (
        f"a step allocated {peak} bytes (> {smallest_param_bytes}-byte arrays?)"
    )


# ----------------------------------------------------------------------- subnormal flush
def test_flush_zeroes_exactly_the_state_below_the_threshold():
    threshold = np.float32(flush.threshold(np.float32))
    assert threshold == np.float32(2.0**24 * F32.tiny)
    rng = np.random.default_rng(0)
    n = 100_000
    values = (rng.standard_normal(n) * np.exp2(rng.uniform(-140, -60, n))).astype(np.float32)
    values[:4] = [np.nan, np.inf, -np.inf, 0.0]
    (p,) = tensors([(n,)], np.float32)
    opt = Momentum([p], lr=0.1, beta=0.5, flush_denormal=1)  # flush at every step
    p.grad = minidl.tensor(np.zeros(n, np.float32))
    opt.step()
    opt.state[p]["velocity"][...] = values
    opt.step()  # velocity = 0.5 * velocity, then the flush
    halved = values * np.float32(0.5)
    after = opt.state[p]["velocity"]
    small = np.abs(halved) < threshold
    assert np.all(after[small] == 0)
    assert np.array_equal(after[~small][3:], halved[~small][3:])
    assert np.isnan(after[0]) and after[1] == np.inf and after[2] == -np.inf
    assert not np.any((after != 0) & (np.abs(after) < F32.tiny))


@pytest.mark.parametrize("flush", [True, False])
def test_zero_gradients_do_not_leave_adam_state_in_subnormals(flush):
    (p,) = tensors([(64,)], np.float32)
    opt = Adam([p], lr=1e-3, flush_denormal=flush)
    p.grad = minidl.tensor(np.full(64, 1e-3, np.float32))
    opt.step()
    p.grad = minidl.tensor(np.zeros(64, np.float32))
    seen_subnormal = False
    for _ in range(1000):  # exp_avg decays by 0.9 a step: below tiny after ~800 steps
        opt.step()
        m = opt.state[p]["exp_avg"]
        seen_subnormal |= bool(np.any((m != 0) & (np.abs(m) < F32.tiny)))
    if flush:  # never subnormal, and the decayed average is exactly 0, not stuck above it
        assert not seen_subnormal
        assert np.all(opt.state[p]["exp_avg"] == 0)
    else:
        assert seen_subnormal  # the trap: stuck at the smallest subnormals


def test_flushed_state_keeps_the_updates_products_normal_on_a_dead_layer():
    """All-zero gradients for hundreds of steps (a layer of dead ReLUs), with the default
    flush every 4th step: every state entry is 0 or at least beta1**3 * threshold at every
    step, so the update's products such as lr * m stay normal numbers and never take the
    slow subnormal path (timings: bench_mnist.py)."""
    (p,) = tensors([(1000,)], np.float32)
    opt = Adam([p], lr=1e-3)
    p.grad = minidl.tensor(np.full(1000, 1e-3, np.float32))
    opt.step()
    p.grad = minidl.tensor(np.zeros(1000, np.float32))
    threshold = flush.threshold(np.float32)
    for _ in range(900):  # m decays by 0.9 a step, past threshold / 0.9 and beyond
        opt.step()
        m = opt.state[p]["exp_avg"]
        assert np.all((m == 0) | (np.abs(m) >= np.float32(0.9**3 * threshold)))
        assert np.all((m == 0) | (np.abs(m * np.float32(1e-3)) >= F32.tiny))
    assert np.all(opt.state[p]["exp_avg"] == 0)


def test_flush_clears_subnormal_state_in_one_step():
    (p,) = tensors([(1000,)], np.float32)
    opt = Adam([p], lr=1e-3, flush_denormal=1)
    p.grad = minidl.tensor(np.zeros(1000, np.float32))
    opt.step()
    opt.state[p]["exp_avg"][...] = np.float32(1e-40)
    opt.state[p]["exp_avg_sq"][...] = np.float32(-1e-41) + np.float32(2e-41)
    before = p.data.copy()
    opt.step()
    assert np.all(opt.state[p]["exp_avg"] == 0) and np.all(opt.state[p]["exp_avg_sq"] == 0)
    assert np.allclose(p.data, before, rtol=0, atol=1e-30)


def test_flush_every_k_steps_staggers_the_chunks():
    (p,) = tensors([(100,)], np.float32)
    opt = Adam([p], lr=1e-3, flush_denormal=3)
    opt.chunk_size = 10
    p.grad = minidl.tensor(np.zeros(100, np.float32))
    opt.step()
    opt.state[p]["exp_avg"][...] = np.float32(1e-40)
    counts = []
    for _ in range(3):
        opt.step()
        counts.append(int(np.count_nonzero(opt.state[p]["exp_avg"])))
    assert counts[0] > 0 and counts[-1] == 0 and counts[0] > counts[1] > counts[2]
    with pytest.raises(ValueError, match="Invalid flush_denormal value"):
        Adam([p], flush_denormal=-1)


@pytest.mark.parametrize("executor", ["fast", "plain"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_flush_is_dtype_correct(dtype, executor):
    """float32/64: exactly the entries below 2 * tiny / eps_of_dtype become 0. float16 (which
    NumPy computes in float32, where its subnormals are normal) is never flushed: by the same
    formula its threshold would be 0.125, which ordinary state reaches."""
    fi = np.finfo(dtype)
    threshold = flush.threshold(dtype)
    n = 64
    values = np.geomspace(float(fi.smallest_subnormal) * 4, 1.0, n) * np.where(
        np.arange(n) % 2, 1, -1
    )
    values = values.astype(dtype)
    p, q = tensors([(n,), (n,)], dtype)
    opt = Momentum([p], lr=0.1, beta=0.5, flush_denormal=1, executor=executor)
    ref = Momentum([q], lr=0.1, beta=0.5, flush_denormal=False, executor=executor)
    for o, t in ((opt, p), (ref, q)):
        t.grad = minidl.tensor(np.zeros(n, dtype))
        o.step()
        o.state[t]["velocity"][...] = values
        o.step()  # velocity = 0.5 * velocity, then the flush
    got, unflushed = opt.state[p]["velocity"], ref.state[q]["velocity"]
    if dtype == np.float16:
        assert threshold is None
        np.testing.assert_array_equal(got, unflushed)
        assert np.count_nonzero(got) == n  # the state 1e-2 .. 1e-6 is still there
    else:
        assert threshold == 2 * float(fi.tiny) / float(fi.eps)
        small = np.abs(unflushed) < dtype(threshold)
        assert small.any() and (~small).any()
        np.testing.assert_array_equal(got[small], 0)
        np.testing.assert_array_equal(got[~small], unflushed[~small])


@pytest.mark.parametrize("executor", ["fast", "plain"])
@pytest.mark.parametrize("cls", [Adam, RMSprop, Adagrad])
def test_eps_zero_with_tiny_then_zero_gradients_stays_finite(cls, executor):
    """With eps = 0 the update divides by sqrt of the state; a flush that zeroed a tiny second
    moment would make it inf or NaN (torch, which does not flush, stays finite)."""
    (p,) = tensors([(100,)], np.float32)
    opt = cls([p], lr=1e-3, eps=0, executor=executor)  # flush_denormal on (the default)
    p.grad = minidl.tensor(np.full(100, 1e-18, np.float32))  # g*g = 1e-36: below the threshold
    opt.step()
    p.grad = minidl.tensor(np.zeros(100, np.float32))
    for _ in range(12):
        opt.step()
        assert np.all(np.isfinite(p.data))
    assert flush.applies(opt.param_groups[0]) is False
    assert flush.applies({"eps": 1e-8}) and flush.applies({}) and not flush.applies({"eps": 1e-12})


# ------------------------------------------------------- the CUDA body, compiled as C
def _rule_and_coefficients(cls, kw, dtype, step=20):
    (p,) = tensors([(3,)], dtype)
    opt = cls([p], **kw)
    group = opt.param_groups[0]
    init = opt.initial_state(group)
    rule = compile_rule(opt.rule(group, step), tuple(init))
    coefs = rule.coefficients(opt.scalars(group, step)) + [flush.threshold(dtype)]
    return rule, init, coefs


def _c_function(rule, dtype, workdir):
    ctype = {np.float32: "float", np.float64: "double"}[dtype]
    _, _, body = rule.cuda_source(dtype, flush=True)
    names = ["p", *rule.state_names]
    coef_names = rule.coef_names + ["flush_threshold"]
    args = ", ".join(
        [f"const {ctype} *g_", f"const {ctype} *c_"] + [f"{ctype} *{n}_" for n in names]
    )
    src = [
        "#include <math.h>",
        f"void run(long count, {args}) {{",
        "  for (long k = 0; k < count; k++) {",
        f"    {ctype} g = g_[k];",
    ]
    src += [f"    {ctype} {c} = c_[{j}];" for j, c in enumerate(coef_names)]
    src += [f"    {ctype} {n} = {n}_[k];" for n in names]
    src += ["    " + line for line in body.splitlines()]
    src += [f"    {n}_[k] = {n};" for n in names] + ["  }", "}"]
    cfile, lib = os.path.join(workdir, "rule.c"), os.path.join(workdir, "rule.so")
    with open(cfile, "w") as f:
        f.write("\n".join(src))
    subprocess.run(
        [
            shutil.which("cc") or "gcc",
            "-O2",
            "-ffp-contract=off",
            "-fno-fast-math",
            "-shared",
            "-fPIC",
            cfile,
            "-o",
            lib,
            "-lm",
        ],
        check=True,
    )
    return ctypes.CDLL(lib).run


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler"
)
@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_cuda_kernel_body_matches_numpy_bit_for_bit(cls, kw, tmp_path):
    dtype = np.float32
    rule, init, coefs = _rule_and_coefficients(cls, kw, dtype)
    n = 257
    rng = np.random.default_rng(3)
    g = rng.standard_normal(n).astype(dtype)
    g[:10] = 0
    arrays = [rng.standard_normal(n).astype(dtype)]  # p
    for name in rule.state_names:
        s = np.abs(rng.standard_normal(n)).astype(dtype) * 0.01 + np.float32(init[name])
        s[:5] = np.float32(3e-39)  # subnormals, for the flush
        arrays.append(s)
    expected = [a.copy() for a in arrays]
    scratch = [np.empty(n, dtype) for _ in range(rule.n_scratch)]
    rule.chunk_function(flush=True)(g, *expected, *scratch, *[np.array(c, dtype) for c in coefs])
    run = _c_function(rule, dtype, str(tmp_path))
    pointer = np.ctypeslib.as_ctypes_type(dtype)
    c_coefs = np.array(coefs, dtype)
    ptr = lambda a: a.ctypes.data_as(ctypes.POINTER(pointer))
    run(ctypes.c_long(n), ptr(g), ptr(c_coefs), *[ptr(a) for a in arrays])
    for got, want in zip(arrays, expected):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------- GPU
def _needs_gpu():
    if not backend.cupy_available():
        pytest.skip("CuPy with a CUDA GPU is not available")


def _trajectory(cls, kw, device, steps=30, executor="fast"):
    params = tensors([(50, 40), (40,), (7, 3), (1,)], np.float32, seed=1)
    if device == "gpu":
        for p in params:
            p.data = backend.to_device(p.data, "gpu")
    opt = cls(params, **kw, executor=executor)
    rng = np.random.default_rng(2)
    for _ in range(steps):
        for p in params:
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad = minidl.tensor(backend.to_device(g, device))
        opt.step()
    return params, opt


@pytest.mark.gpu
@pytest.mark.parametrize("executor", ["fast", "plain"])
@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_gpu_trajectory_matches_cpu(cls, kw, executor):
    _needs_gpu()
    cpu, _ = _trajectory(cls, kw, "cpu")
    gpu, opt = _trajectory(cls, kw, "gpu", executor=executor)
    cupy = backend.get_cupy()
    for pc, pg in zip(cpu, gpu):
        assert isinstance(pg.data, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(pg.data), pc.data, rtol=1e-5, atol=1e-6)
        assert all(isinstance(v, cupy.ndarray) for k, v in opt.state[pg].items() if k != "step")


@pytest.mark.gpu
def test_gpu_state_dict_round_trip_and_flush():
    _needs_gpu()
    cupy = backend.get_cupy()
    params, opt = _trajectory(Adam, dict(lr=1e-3), "gpu", steps=3)
    sd = opt.state_dict()
    assert isinstance(sd["state"][0]["exp_avg"], np.ndarray)
    opt.state[params[0]]["exp_avg"][...] = np.float32(1e-40)
    params[0].grad = minidl.tensor(cupy.zeros(params[0].shape, np.float32))
    opt.step()
    assert not cupy.any(
        (opt.state[params[0]]["exp_avg"] != 0)
        & (cupy.abs(opt.state[params[0]]["exp_avg"]) < F32.tiny)
    )
    opt.load_state_dict(sd)
    assert opt.state[params[0]]["step"] == 3


def test_a_threaded_run_takes_longer_chunks_from_half_a_million_elements():
    sizes = {"small": [(500, 1000)], "large": [(500, 1000), (300, 200)]}  # 500k, 560k
    plans = {}
    for name, shapes in sizes.items():
        params = tensors(shapes, np.float32)
        opt = Adam(params, lr=1e-3)
        opt.threads = 2
        for p in params:
            p.grad = minidl.tensor(np.ones(p.shape, np.float32))
        opt.step()
        (bucket,) = {bucket for bucket, _ in opt._executors[0][1]._where.values()}
        (plans[name],) = bucket.plans.values()
    chunk = Adam.chunk_size
    assert not plans["small"].parallel  # below 2**19 elements: one thread
    assert {n for _, _, _, _, n, _ in plans["small"].chunks} == {chunk, 500000 % chunk}
    assert plans["large"].parallel
    lengths = {n for _, _, _, _, n, _ in plans["large"].direct}
    assert max(lengths) == 4 * chunk  # fewer, longer ufunc calls per thread
    assert all(len(views[None][0]) >= 4 * chunk for views in plans["large"].scratch)


def test_two_threads_give_the_single_thread_result_bit_for_bit(monkeypatch):
    import time

    from minidl.optim import fast

    taken = []  # the thread slot of each chunk run
    real_run_chunks = fast._Bucket._run_chunks

    def run_chunks(self, entries, slot, *work):
        if slot == 0:
            time.sleep(0.002)  # give the helper thread a head start, so both take chunks

        def counted():
            for entry in entries:
                taken.append(slot)
                yield entry

        real_run_chunks(self, counted(), slot, *work)

    monkeypatch.setattr(fast._Bucket, "_run_chunks", run_chunks)
    monkeypatch.setattr(fast._Bucket, "parallel_min", 1)
    shapes = [(40, 50), (7,), (3, 300), (1,)]
    results = []
    for threads in (1, 2):
        params = tensors(shapes, np.float32)
        opt = Adam(params, lr=1e-2, amsgrad=True, flush_denormal=2)
        opt.chunk_size, opt.threads = 256, threads
        rng = np.random.default_rng(7)
        for _ in range(5):
            for p in params:
                p.grad = minidl.tensor(rng.standard_normal(p.shape).astype(np.float32))
            opt.step()
        results.append(
            [p.data.copy() for p in params] + [opt.state[p]["exp_avg_sq"] for p in params]
        )
    assert 0 in taken and 1 in taken  # the two-thread optimizer's helper took chunks too
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
