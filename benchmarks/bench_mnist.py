"""One training epoch of an MLP 784-256-10 (ReLU, cross-entropy) on MNIST, three ways.

    python benchmarks/bench_mnist.py                  # batch 64 and 128, SGD+momentum and Adam
    python benchmarks/bench_mnist.py --epochs 7 --threads 1

Candidates, all fed the same batches in the same order, interleaved epoch by epoch:
  minidl          nn.Sequential + F.cross_entropy + optim.SGD(momentum=0.9) / optim.Adam
  numpy-loop      benchmarks/numpy_mlp.py: forward/backward written out, in-place updates,
                  the floor any NumPy framework can reach
  torch           torch.optim default (foreach) and fused=True, when torch is installed
  floor           the five matrix products of a step alone, into preallocated outputs,
                  plus the optimizer's memory traffic alone (see FloorRun): no framework
                  can go below it
Each row gives the median over the timed epochs of the whole epoch, of forward+backward
(with zero_grad) and of the optimizer steps, and minidl's epoch time over that row's.
A second table shows the subnormal trap (below), a third the peak memory of a full
training run.

The subnormal trap: the optimizer state of weights that only see MNIST's black border
decays into float32's slow subnormal range; minidl flushes it (``flush_denormal=True``,
the default; why and how: :mod:`minidl.optim.flush`). The second table times Adam with
and without the flush; the hand-written loop flushes the same way, and PyTorch gets
``torch.set_flush_denormal(True)`` in the "+ftz" rows.

Profile (cProfile over one epoch on real MNIST, batch 64, Adam, 938 steps, 2 threads;
1.64 s unprofiled, 2.0 s under the profiler), where the time of a step goes:
  - GEMMs, 0.57 s (~35%): the fused Linear forward (x @ W.T + b, 0.31 s) and backward
    (g.T @ x and g @ W, 0.26 s). The first layer's input needs no gradient, so its
    g @ W is skipped, as the hand-written loop skips it.
  - the optimizer's elementwise update, 0.62 s (~38%): the generated Adam chunk function,
    ~15 in-place ufunc calls per 32768-element chunk, 7 chunks a step; one chunk in four
    also flushes its state. Allocation: none (flat buffers, preallocated scratch).
  - Python overhead of the framework, ~0.2 s (~12%): Function.apply (4 a step, ~8 us
    each), the backward walk (~25 us a step), module calls. Measured alone on a 4-4-3
    model: 133 us per forward+backward and 42 us per Adam step that are not arithmetic.
  - cross-entropy and ReLU elementwise work, ~0.1 s; batch gathering (X[idx]), ~0.05 s.
So a framework step costs the hand-written loop's arithmetic plus ~0.15 ms of Python;
what was done about it: fused Linear and cross-entropy Functions (one node each), no
input gradient for the first layer, leaves take their gradient arrays without copying,
the optimizer's rule compiled once into a chunked in-place NumPy program.

Against the floor (2026-12-01, real MNIST, one BLAS thread, under load; epoch seconds at
batch 64, SGD+momentum): minidl 0.976 = forward+backward 0.782 + step 0.161 (+ batching);
floor 0.734 = GEMMs 0.626 + memory traffic 0.061. So ~170 us a step above the GEMMs in
forward+backward (bias, ReLU and cross-entropy passes over the activations, and the
Python of four nodes each way: ~40 us measured on the 16-32-1 model, see bench_small.py)
and ~105 us above the floor's traffic in the step: the SGD chunk makes four ufunc passes
(momentum * buf, + g, lr * buf, p -) where the floor makes two, plus the subnormal flush
(three more) on every fourth chunk. A LinearReLU node for Linear then ReLU changed the
CPU time of a step by less than the noise (622 against 624 us), and was not kept.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

THREADS = harness.limit_threads(harness.threads_from_argv(sys.argv, default=os.cpu_count()))

import numpy as np  # noqa: E402
from numpy_mlp import NumpyMLP  # noqa: E402

import minidl  # noqa: E402
import minidl.nn.functional as F  # noqa: E402
from minidl import nn, optim  # noqa: E402

# the memory children run without torch, whose import alone takes hundreds of MiB
torch = None if "--rss-child" in sys.argv else harness.import_torch(THREADS)

LR = {"momentum": 0.01, "adam": 1e-3}


def load_mnist():
    """The real MNIST training set when $MINIDL_DATA holds it, else random data of its shape."""
    try:
        from minidl.data import MNIST

        train = MNIST(train=True, download=False)
        return train.images.reshape(len(train), -1), train.targets, "MNIST"
    except Exception as exc:  # no files: same shapes, random values
        print(f"(real MNIST not found: {exc.__class__.__name__}; using random data)")
        rng = np.random.default_rng(0)
        return (
            rng.random((60000, 784), dtype=np.float32),
            rng.integers(0, 10, 60000),
            "random 60000x784",
        )


def initial_params(seed=0):
    minidl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return [p.numpy() for p in model.parameters()]


class MinidlRun:
    name = "minidl"

    def __init__(self, params, optimizer, flush=True):
        self.model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        for p, value in zip(self.model.parameters(), params):
            p.data[...] = value
        ps = self.model.parameters()
        self.opt = (
            optim.SGD(ps, lr=LR["momentum"], momentum=0.9, flush_denormal=flush)
            if optimizer == "momentum"
            else optim.Adam(ps, lr=LR["adam"], flush_denormal=flush)
        )

    def train_step(self, x, y):
        t0 = time.perf_counter()
        loss = F.cross_entropy(self.model(minidl.Tensor(x)), y)
        self.opt.zero_grad()
        loss.backward()
        t1 = time.perf_counter()
        self.opt.step()
        return t1 - t0, time.perf_counter() - t1

    def params(self):
        return [p.numpy() for p in self.model.parameters()]


class NumpyRun:
    name = "numpy-loop"

    def __init__(self, params, optimizer):
        self.net = NumpyMLP(params, optimizer, lr=LR[optimizer])

    def train_step(self, x, y):
        t0 = time.perf_counter()
        self.net.forward_backward(x, y)
        t1 = time.perf_counter()
        self.net.step()
        return t1 - t0, time.perf_counter() - t1

    def params(self):
        return [p.copy() for p in self.net.params]


class FloorRun:
    """The compute floor of a step: the five matrix products alone (forward 2, backward
    3: the first layer's input needs no gradient) into preallocated outputs, then the
    optimizer's memory traffic alone as in-place passes over one flat buffer per array
    (SGD-momentum: buf += g, p -= buf, 24 bytes a parameter against the 20 it must move;
    Adam: m += g, v += g, p -= m, 36 against 28). No bias, ReLU, loss or framework."""

    name = "floor"

    def __init__(self, params, optimizer):
        w1, _, w2, _ = params
        self.w1, self.w2 = w1.copy(), w2.copy()
        n = sum(p.size for p in params)
        self.state = [np.zeros(n, np.float32) for _ in range(2 if optimizer == "adam" else 1)]
        self.p, self.g = np.zeros(n, np.float32), np.full(n, 1e-3, np.float32)
        self.outputs = {}

    def _buffers(self, batch):
        if batch not in self.outputs:
            self.outputs[batch] = [
                np.empty(s, np.float32)
                for s in ((batch, 256), (batch, 10), (10, 256), (batch, 256), (256, 784))
            ]
        return self.outputs[batch]

    def train_step(self, x, y):
        h, z, dw2, dh, dw1 = self._buffers(len(x))
        t0 = time.perf_counter()
        np.matmul(x, self.w1.T, out=h)
        np.matmul(h, self.w2.T, out=z)
        np.matmul(z.T, h, out=dw2)
        np.matmul(z, self.w2, out=dh)
        np.matmul(dh.T, x, out=dw1)
        t1 = time.perf_counter()
        for s in self.state:
            np.add(s, self.g, out=s)
        np.subtract(self.p, self.state[0], out=self.p)
        return t1 - t0, time.perf_counter() - t1

    def params(self):
        return []


class TorchRun:
    def __init__(self, params, optimizer, fused=False, flush=False):
        self.name = "torch" + (" fused" if fused else "") + (" +ftz" if flush else "")
        self.flush = flush
        self.model = torch.nn.Sequential(
            torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
        )
        with torch.no_grad():
            for p, value in zip(self.model.parameters(), params):
                p.copy_(torch.from_numpy(value))
        kind = {"fused": True} if fused else {}
        self.opt = (
            torch.optim.SGD(self.model.parameters(), lr=LR["momentum"], momentum=0.9, **kind)
            if optimizer == "momentum"
            else torch.optim.Adam(self.model.parameters(), lr=LR["adam"], **kind)
        )
        self.loss = torch.nn.CrossEntropyLoss()

    def train_step(self, x, y):
        torch.set_flush_denormal(self.flush)
        t0 = time.perf_counter()
        loss = self.loss(self.model(torch.from_numpy(x)), torch.from_numpy(y))
        self.opt.zero_grad()
        loss.backward()
        t1 = time.perf_counter()
        self.opt.step()
        t2 = time.perf_counter()
        torch.set_flush_denormal(False)
        return t1 - t0, t2 - t1

    def params(self):
        return [p.detach().numpy().copy() for p in self.model.parameters()]


def run_epoch(run, X, Y, order, batch):
    forward_backward = step = 0.0
    start = time.perf_counter()
    for i in range(0, len(order), batch):
        idx = order[i : i + batch]
        fb, st = run.train_step(X[idx], Y[idx])
        forward_backward += fb
        step += st
    return time.perf_counter() - start, forward_backward, step


def compare(runs, X, Y, batch, epochs, seed=0):
    """Interleave the runs epoch by epoch (one warm-up epoch each); medians per run."""
    rng = np.random.default_rng(seed)
    times = {run.name: [] for run in runs}
    for epoch in range(epochs + 1):
        order = rng.permutation(len(X))
        for run in runs:
            measured = run_epoch(run, X, Y, order, batch)
            if epoch:
                times[run.name].append(measured)
    return {
        name: tuple(statistics.median(m[k] for m in ms) for k in range(3))
        for name, ms in times.items()
    }


def speed_tables(X, Y, batches, optimizers, epochs):
    """Epoch, forward+backward and step medians for every candidate; ratios to minidl."""
    rows = []
    params = initial_params()
    for optimizer in optimizers:
        for batch in batches:
            runs = [
                MinidlRun(params, optimizer),
                NumpyRun(params, optimizer),
                FloorRun(params, optimizer),
            ]
            if torch is not None:
                runs += [TorchRun(params, optimizer), TorchRun(params, optimizer, fused=True)]
            result = compare(runs, X, Y, batch, epochs)
            ours = result["minidl"]
            for name, (total, fb, st) in result.items():
                rows.append(
                    [
                        optimizer,
                        batch,
                        name,
                        f"{total:.3f}",
                        f"{fb:.3f}",
                        f"{st:.3f}",
                        "" if name == "minidl" else harness.ratio(ours[0], total),
                    ]
                )
    harness.table(
        ["optimizer", "batch", "run", "epoch s", "fwd+bwd s", "step s", "minidl/this"], rows
    )


def subnormal_table(X, Y, batch, epochs):
    """Adam with and without flushing small state values, minidl and torch."""
    params = initial_params()
    runs = [MinidlRun(params, "adam", flush=True), MinidlRun(params, "adam", flush=False)]
    runs[0].name, runs[1].name = "minidl (flush)", "minidl (no flush)"
    if torch is not None:
        runs += [TorchRun(params, "adam", flush=True), TorchRun(params, "adam", flush=False)]
    result = compare(runs, X, Y, batch, epochs)
    with_flush, without = runs[0].params(), runs[1].params()
    change = max(float(np.abs(a - b).max()) for a, b in zip(with_flush, without))
    rows = [[name, f"{total:.3f}", f"{st:.3f}"] for name, (total, fb, st) in result.items()]
    harness.table([f"Adam, batch {batch}", "epoch s", "step s"], rows)
    print(f"max |w(flush) - w(no flush)| after {epochs + 1} epochs: {change:.1e}")


def torch_agreement(X, Y, batch, steps=100):
    """Max |w(minidl) - w(torch)| after ``steps`` identical steps, per optimizer: both
    compute the same updates in float32, so they agree to rounding (they drift apart
    slowly over a long run, as any two float32 implementations do)."""
    params = initial_params()
    order = np.random.default_rng(1).permutation(len(X))[: steps * batch]
    rows = []
    for optimizer in ("momentum", "adam"):
        ours, theirs = MinidlRun(params, optimizer), TorchRun(params, optimizer)
        run_epoch(ours, X, Y, order, batch)
        run_epoch(theirs, X, Y, order, batch)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(ours.params(), theirs.params()))
        scale = max(float(np.abs(b).max()) for b in theirs.params())
        rows.append([optimizer, steps, f"{diff:.1e}", f"{scale:.2f}"])
    harness.table(["minidl vs torch", "steps", "max |w - w_torch|", "max |w_torch|"], rows)


def child_peak_rss(kind, batch, optimizer):
    """Run one full training epoch in a fresh process: (peak RSS, peak above the loaded data)
    in MiB, the peak measured over the training alone where Linux lets us reset it."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-child",
            kind,
            "--batch",
            str(batch),
            "--optimizer",
            optimizer,
            "--threads",
            str(THREADS),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    peak, above = out.strip().splitlines()[-1].split()
    return float(peak), float(above)


def _status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def rss_child(kind, batch, optimizer):
    X, Y, _ = load_mnist()
    params = initial_params()
    run = MinidlRun(params, optimizer) if kind == "minidl" else NumpyRun(params, optimizer)
    try:  # reset the high-water mark so that it covers the training alone
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        loaded = _status_mib("VmRSS")
    except OSError:
        loaded = 0.0
    run_epoch(run, X, Y, np.random.default_rng(0).permutation(len(X)), batch)
    try:
        peak = _status_mib("VmHWM")
    except (OSError, KeyError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{peak:.1f} {peak - loaded:.1f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5, help="timed epochs (after one warm-up)")
    p.add_argument("--batch", type=int, nargs="*", default=[64, 128])
    p.add_argument(
        "--optimizer", nargs="*", default=["momentum", "adam"], choices=["momentum", "adam"]
    )
    p.add_argument("--threads", type=int, default=THREADS)
    p.add_argument("--rss-child", choices=["minidl", "numpy-loop"], help=argparse.SUPPRESS)
    p.add_argument(
        "--skip", nargs="*", default=[], choices=["speed", "subnormal", "agreement", "memory"]
    )
    args = p.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child, args.batch[0], args.optimizer[0])

    X, Y, source = load_mnist()
    print(
        f"bench_mnist: {source}, MLP 784-256-10, median of {args.epochs} epochs after one "
        f"warm-up, runs interleaved" + ("" if torch else "; torch not installed")
    )
    print(harness.machine_line(THREADS), "\n")
    if "speed" not in args.skip:
        speed_tables(X, Y, args.batch, args.optimizer, args.epochs)
        print()
    if "subnormal" not in args.skip:
        subnormal_table(X, Y, args.batch[0], args.epochs)
        print()
    if torch is not None and "agreement" not in args.skip:
        torch_agreement(X, Y, args.batch[0])
        print()
    if "memory" not in args.skip:
        rows = []
        for optimizer in args.optimizer:
            (ours, ours_train), (floor, floor_train) = (
                child_peak_rss(kind, 128, optimizer) for kind in ("minidl", "numpy-loop")
            )
            rows.append(
                [
                    optimizer,
                    f"{ours:.1f}",
                    f"{floor:.1f}",
                    harness.ratio(ours, floor),
                    f"{ours_train:.1f}",
                    f"{floor_train:.1f}",
                ]
            )
        harness.table(
            [
                "training epoch, batch 128",
                "minidl peak MiB",
                "numpy-loop peak MiB",
                "ratio",
                "minidl above data",
                "numpy-loop above data",
            ],
            rows,
        )


if __name__ == "__main__":
    main()
