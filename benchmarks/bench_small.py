"""Framework overhead on a tiny model: where Python, not arithmetic, sets the pace.

    python benchmarks/bench_small.py                 # MLP 16-32-1, batch 8, SGD+momentum
    python benchmarks/bench_small.py --repeat 15 --steps 500

One training step (zero_grad, forward, MSE loss, backward, optimizer step) of a 16-32-1
MLP with ReLU on a batch of 8 costs a few microseconds of arithmetic; everything else is
the framework's own work per op: building graph nodes, the backward walk, the optimizer's
bookkeeping. minidl and PyTorch (when installed) train the same model on the same batch,
in blocks of ``--steps`` steps, interleaved, one thread each; the table gives the median
time per step and minidl's ratio (target: <= 0.4x PyTorch's).

Profile (cProfile with the collector off, over 1000 steps; instruction counts from
callgrind, (Ir after N steps - Ir after 0) / N with N = 2000, which other processes on a
busy machine cannot disturb; CPU time by time.process_time, best of 5 blocks of 3000 steps,
median of 5 interleaved processes), 2026-12-01, under load:
  - before: 867k instructions, 95.5 us a step (torch: 109.6 us, so 0.87x). Of the profiled
    time: backward 36% (the walk and its nodes), mse_loss 23% (three nodes, Sub, Mul and
    Mean, and NumPy's Python-level mean), the optimizer's step 22%, the forward 13%.
  - mse_loss as one fused MSE node, bit for bit the same numbers: 698k.
  - Function.apply gathers each input's node and needs-grad flag in its one loop over the
    arguments; the walk tests a node's input gradients for aliases once: 687k.
  - nn.ReLU's forward calls the op directly (no keyword dict, no inplace wrapper): 680k.
  - MSE's mean as sum / n, what NumPy's mean computes, without its Python wrapper: 656k,
    66.7 us a step, 0.61x torch (counts repeat within about 1%).
  - tried, not kept: nn.Sequential running Linear then ReLU as one LinearReLU node (657k
    before the mean change, -3%; nothing measurable on the MNIST step, and it changes the
    graph docs/internals.md walks through); parents filtered by itertools.compress (-0.6%).
  What is left (CPU time of the parts): the forward 13.6 us (modules 9.8, loss 3.5), the
  backward 26 us (seed, the walk, four nodes, four leaf gradients), the optimizer's step
  13 us (its bookkeeping around a 2 us update); about 55 NumPy calls in all, at 0.3-0.5 us
  each, and the rest Python spread over every op, each further change 1% or less.
Next session, 2026-12-01 16:16-16:55, same method (instructions with PYTHONHASHSEED=0;
zero_grad + forward + loss + backward "fb", and the whole step):
  - start: fb 451k, step 643k; bench_small 66.7 us, 0.60x torch.
  - the walk follows a chain of single-parent nodes without sorting (a Sequential model's
    graph is one); where the graph branches, the rest is sorted depth-first: fb 442k.
  - Function.apply lists each node's parent nodes that need a gradient in its one loop
    over the arguments, so the walk reads them instead of filtering parents and
    needs_input_grad; the seed gradient is ones(shape, dtype), not ones_like: fb 417k
    (backward in the training loop 27.5 -> 21.5 us).
  - Linear's backward reshapes g and x only for batches of more than one dimension: 408k.
  - the optimizer's step (measured alone, timeit and callgrind; a helper's commits
    b246540..c69e5ab): coefficients of a rule in one compiled tuple expression, hyper-
    parameters told apart by a type table, locate/adopt skipped when identity checks find
    nothing changed, all coefficients in one array the chunks read through 0-d views, the
    state dict found in one lookup: opt.step() 12.7 -> 10.2 us, 193k -> 151k.
  - tried, dropped: ReLU's backward multiplying by a float mask instead of the boolean one
    (fb 405k, 0.4 us less here) cost the MNIST MLP 7% of an Adam epoch (its 64x256 float
    mask pushes the optimizer's chunks out of cache); one numpy.concatenate to gather small
    gradients (1.05 us against 0.74 us for four copies).
  - now (boolean mask): fb 409k, step 556k; bench_small 57.6 us, 0.52x torch, against
    28.8 us for the same step written out in NumPy (the numpy-loop row). A step in the
    training loop runs about 1.3x slower than its parts timed alone (the parts' code and
    objects evict each other from the CPU's caches): the optimizer's step is 10.2 us
    alone, 14.5 us after a backward.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

harness.limit_threads(1)

import numpy as np  # noqa: E402
from numpy_mlp import NumpyMLP  # noqa: E402

import minidl  # noqa: E402
import minidl.nn.functional as F  # noqa: E402
from minidl import nn, optim  # noqa: E402

torch = harness.import_torch(1)
SIZES, BATCH, LR = (16, 32, 1), 8, 0.01


def batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    return x, rng.standard_normal((BATCH, SIZES[2])).astype(np.float32)


def minidl_model():
    minidl.manual_seed(0)
    return nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]))


def minidl_step():
    model = minidl_model()
    opt = optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    x, y = map(minidl.tensor, batch())

    def step():
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()

    return step


def numpy_step():
    """The same step written out in NumPy (benchmarks/numpy_mlp.py), from the same weights:
    the arithmetic alone, the floor of any NumPy framework."""
    net = NumpyMLP([p.data for p in minidl_model().parameters()], "momentum", lr=LR)
    x, y = batch()

    def step():
        net.forward_backward(x, y, loss="mse")
        net.step()

    return step


def torch_step():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(), torch.nn.Linear(SIZES[1], SIZES[2])
    )
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    x, y = map(torch.from_numpy, batch())
    loss_fn = torch.nn.MSELoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def block(step, steps):
    def run():
        for _ in range(steps):
            step()

    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="steps per timed block")
    p.add_argument("--repeat", type=int, default=11, help="timed blocks per candidate")
    args = p.parse_args(argv)
    candidates = {
        "minidl": block(minidl_step(), args.steps),
        "numpy-loop": block(numpy_step(), args.steps),
        "torch": block(torch_step(), args.steps) if torch else None,
    }
    medians = harness.medians(harness.interleaved(candidates, repeat=args.repeat, warmup=2))
    print(
        f"bench_small: MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, SGD+momentum, "
        f"median of {args.repeat} blocks of {args.steps} steps, interleaved"
    )
    print(harness.machine_line(1), "\n")
    ours = medians["minidl"]
    rows = [
        [
            name,
            "not installed" if t is None else f"{t / args.steps * 1e6:.1f}",
            "" if t is None or name == "minidl" else harness.ratio(ours, t),
        ]
        for name, t in medians.items()
    ]
    harness.table(["run", "us per step", "minidl/this"], rows)
    return medians


if __name__ == "__main__":
    main()
