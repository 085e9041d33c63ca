"""Time per optimizer step on 1e6 and 1e7 float32 parameters, against the memory floor.

    python benchmarks/bench_optim.py                    # 1 thread, sizes 1e6 and 1e7
    python benchmarks/bench_optim.py --sizes 1e7 --repeat 21 --threads 1

For each optimizer, interleaved repetition by repetition (medians reported):
  floor          np.copyto of half the bytes the step must move (so read + write = all of
                 them): Adam reads p, g, m, v and writes p, m, v, 28 B per parameter
  minidl         minidl.optim, the fast executor (default): flat state, CPU chunks,
                 flush_denormal on (default; the rows "Adam flush/1" and "Adam no flush"
                 show flush_denormal=1 / False)
  plain          minidl.optim with executor="plain": the rule on whole arrays, parameter
                 by parameter (the readable reference executor; flushes at every step)
  torch foreach  torch.optim default (multi-tensor) implementation, when torch is installed
  torch fused    torch.optim with fused=True, where torch has it for the CPU
The table gives milliseconds and the ratios minidl/floor, plain/floor and minidl/torch.

A second table shows the subnormal trap: Adam's state filled with float32 subnormals
(what a moving average fed zero gradients decays into), zero gradients, time per step
with flush_denormal on (every 4th step, the default), at every step, and off (and torch,
which has no such flush by default).

What the measurements behind the fast executor said (2-core AMD EPYC, one thread):
- where a step's time goes: Adam is 12 ufunc passes over each in-cache chunk (+6 at every
  4th step for the flush) against the floor's one pass over memory, so it sits near 1.8-2x
  the floor on one thread; the remaining lever is a second core ("Adam 2 threads" row,
  Optimizer.threads = 2; opt-in, see minidl/optim/fast.py for why). Profile behind it
  (2026-12-01, Adam, median ms a step, 1 / 2 threads): on a quiet machine 1.19 / 0.95 at
  1e6 and 13.9 / 9.9 at 1e7 with 32768-element chunks; a thread finishing a ufunc call waits
  for the GIL while the other runs Python between its calls, so a threaded run takes chunks
  4x longer: 0.75 and 8.4 ms. With 8 busy processes on the 2 cores (`yes > /dev/null`):
  1.1e6 1.79 / 1.72 ms (means 7.2 / 5.9), 1e7 66.0 / 40.1 ms. Below 2**19 elements one
  thread: in a training loop the helper sleeps between steps, and waking it cost what it
  saved on the MNIST MLP (240 / 227 us a step).
- keeping parameters in their own arrays (gathering the small ones) instead of re-pointing
  them into a flat buffer: CPU time per step 0.87-0.97x the flat-buffer version at 1e6 and
  1e7 parameters, 1.02-1.04x for the MNIST MLP's four (interleaved in one process).
- writing temporaries over dying state values (kernels.Rule._allocate) instead of scratch:
  0-9% faster Adam and RMSprop chunks.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import harness

THREADS = harness.limit_threads(harness.threads_from_argv(sys.argv, default=1))

import numpy as np  # noqa: E402

import minidl  # noqa: E402
from minidl import optim  # noqa: E402

torch = harness.import_torch(THREADS)

# name, minidl constructor, torch constructor name and kwargs, bytes moved per float32 param
# (the constructors take executor= as a keyword)
OPTIMIZERS = [
    ("SGD", lambda p, **kw: optim.SGD(p, lr=1e-3, **kw), "SGD", dict(lr=1e-3), 12),
    (
        "SGD momentum",
        lambda p, **kw: optim.SGD(p, lr=1e-3, momentum=0.9, **kw),
        "SGD",
        dict(lr=1e-3, momentum=0.9),
        20,
    ),
    (
        "Momentum (EMA)",
        lambda p, **kw: optim.Momentum(p, lr=1e-3, beta=0.9, **kw),
        "SGD",
        dict(lr=1e-4, momentum=0.9),
        20,
    ),
    ("RMSprop", lambda p, **kw: optim.RMSprop(p, lr=1e-3, **kw), "RMSprop", dict(lr=1e-3), 20),
    ("Adam", lambda p, **kw: optim.Adam(p, lr=1e-3, **kw), "Adam", dict(lr=1e-3), 28),
    (
        "Adam flush/1",
        lambda p, **kw: optim.Adam(p, lr=1e-3, flush_denormal=1, **kw),
        "Adam",
        dict(lr=1e-3),
        28,
    ),
    (
        "Adam no flush",
        lambda p, **kw: optim.Adam(p, lr=1e-3, flush_denormal=False, **kw),
        "Adam",
        dict(lr=1e-3),
        28,
    ),
    ("AdamW", lambda p, **kw: optim.AdamW(p, lr=1e-3, **kw), "AdamW", dict(lr=1e-3), 28),
    ("Adagrad", lambda p, **kw: optim.Adagrad(p, lr=1e-2, **kw), "Adagrad", dict(lr=1e-2), 20),
    ("RAdam", lambda p, **kw: optim.RAdam(p, lr=1e-3, **kw), "RAdam", dict(lr=1e-3), 28),
    (
        "Adam 2 threads",
        lambda p, **kw: two_threads(optim.Adam(p, lr=1e-3, **kw)),
        "Adam",
        dict(lr=1e-3),
        28,
    ),
]


def two_threads(opt):
    """The fast executor's chunks on two threads (Optimizer.threads; default 1)."""
    opt.threads = 2
    return opt


def floor_copy(n_params, bytes_per_param):
    """A copy that reads and writes bytes_per_param * n_params bytes in all."""
    n = n_params * bytes_per_param // 2 // 4
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    return lambda: np.copyto(dst, src)


def minidl_step(make, n, rng, executor="fast"):
    p = minidl.tensor(rng.standard_normal(n).astype(np.float32), requires_grad=True)
    p.grad = minidl.tensor(rng.standard_normal(n).astype(np.float32))
    opt = make([p], executor=executor)
    opt.step()
    return opt.step


def torch_step(name, kw, n, impl):
    if torch is None:
        return None
    p = torch.nn.Parameter(torch.randn(n))
    p.grad = torch.randn(n)
    try:
        opt = getattr(torch.optim, name)([p], **kw, **impl)
        opt.step()
    except (RuntimeError, TypeError, ValueError):  # no such implementation on the CPU
        return None
    return opt.step


def bench_sizes(sizes, repeat, names):
    rows = []
    for n in sizes:
        floors = {}
        for name, make, tname, tkw, nbytes in OPTIMIZERS:
            if names and name not in names:
                continue
            rng = np.random.default_rng(0)
            if nbytes not in floors:
                floors[nbytes] = floor_copy(n, nbytes)
            cands = {
                "floor": floors[nbytes],
                "minidl": minidl_step(make, n, rng),
                "plain": minidl_step(make, n, rng, "plain"),
                "foreach": torch_step(tname, tkw, n, dict(foreach=True)),
                "fused": torch_step(tname, tkw, n, dict(fused=True)),
            }
            t = harness.medians(harness.interleaved(cands, repeat=repeat, warmup=1))
            rows.append(
                [
                    f"{n:.0e}",
                    name,
                    nbytes,
                    harness.fmt(t["floor"]),
                    harness.fmt(t["minidl"]),
                    harness.ratio(t["minidl"], t["floor"]),
                    harness.fmt(t["plain"]),
                    harness.ratio(t["plain"], t["floor"]),
                    harness.fmt(t["foreach"]),
                    harness.fmt(t["fused"]),
                    harness.ratio(t["minidl"], t["foreach"]),
                    harness.ratio(t["minidl"], t["fused"]),
                ]
            )
            print(f"  {rows[-1][0]} {name}: {rows[-1][4]} ms, {rows[-1][5]} floor", file=sys.stderr)
            del cands
    harness.table(
        [
            "params",
            "optimizer",
            "B/param",
            "floor ms",
            "minidl ms",
            "minidl/floor",
            "plain ms",
            "plain/floor",
            "torch foreach ms",
            "torch fused ms",
            "minidl/foreach",
            "minidl/fused",
        ],
        rows,
    )


def bench_subnormals(n, repeat):
    """Adam steps on a state of subnormals with zero gradients: flush on, off, torch."""
    tiny_state = np.float32(1e-40)  # a subnormal: below float32's tiny = 1.18e-38

    def minidl_case(flush):
        p = minidl.tensor(np.ones(n, np.float32), requires_grad=True)
        p.grad = minidl.tensor(np.zeros(n, np.float32))
        opt = optim.Adam([p], lr=1e-3, flush_denormal=flush)
        opt.step()
        st = opt.state[p]

        def fill():
            st["exp_avg"][...] = tiny_state
            st["exp_avg_sq"][...] = tiny_state

        return opt, fill

    cases = {}
    for flush in (True, 1, False):
        opt, fill = minidl_case(flush)
        fill()
        first = harness.time_once(opt.step)  # the step that meets the subnormals
        for _ in range(3):  # the default period (4) has flushed every chunk after 4 steps
            opt.step()
        steady = harness.median_time(opt.step, repeat=repeat, warmup=0)  # what follows
        cases[f"minidl flush_denormal={flush}"] = (first, steady)
    if torch is not None:
        for label, impl in (
            ("torch foreach", dict(foreach=True)),
            ("torch fused", dict(fused=True)),
        ):
            p = torch.nn.Parameter(torch.ones(n))
            p.grad = torch.zeros(n)
            opt = torch.optim.Adam([p], lr=1e-3, **impl)
            opt.step()
            for key in ("exp_avg", "exp_avg_sq"):
                opt.state[p][key].fill_(float(tiny_state))
            first = harness.time_once(opt.step)
            cases[label] = (first, harness.median_time(opt.step, repeat=repeat, warmup=3))
    base = cases["minidl flush_denormal=True"][1]
    rows = [
        [label, harness.fmt(first), harness.fmt(steady), harness.ratio(steady, base)]
        for label, (first, steady) in cases.items()
    ]
    print(f"\nSubnormal trap: Adam, {n:.0e} float32 parameters, state = 1e-40, zero gradients")
    harness.table(["implementation", "first step ms", "steps 5+ ms (median)", "vs flush on"], rows)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1e6,1e7", help="comma-separated parameter counts")
    ap.add_argument("--repeat", type=int, default=11, help="timed repetitions (median)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/torch threads")
    ap.add_argument("--only", default="", help="comma-separated optimizer names")
    ap.add_argument("--subnormal-size", type=float, default=1e6)
    ap.add_argument("--chunk", type=int, default=None, help="CPU chunk size in elements")
    ap.add_argument(
        "--optim-threads",
        type=int,
        default=None,
        help=f"threads of minidl's fast executor (default {optim.Optimizer.threads})",
    )
    args = ap.parse_args()
    if args.chunk:
        optim.Optimizer.chunk_size = args.chunk
    if args.optim_threads:
        optim.Optimizer.threads = args.optim_threads
    sizes = [int(float(s)) for s in args.sizes.split(",") if s]
    names = {s.strip() for s in args.only.split(",") if s.strip()}
    print(harness.machine_line(THREADS))
    print(
        f"minidl.optim: CPU chunks of {optim.Optimizer.chunk_size} elements, "
        f"{optim.Optimizer.threads} thread(s) from 2**19 elements on, flush_denormal on; "
        "floor = np.copyto moving the step's bytes (read + write), one thread\n"
    )
    bench_sizes(sizes, args.repeat, names)
    bench_subnormals(int(args.subnormal_size), max(3, args.repeat // 2))


if __name__ == "__main__":
    main()
