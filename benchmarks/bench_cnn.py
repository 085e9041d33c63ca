"""One training epoch of a small CNN on MNIST, minidl against PyTorch (CPU).

    python benchmarks/bench_cnn.py                    # 2 threads, median of 3 epochs
    python benchmarks/bench_cnn.py --epochs 5 --threads 1 --profile

The model (the issue's): Conv(1,32,3,p1)-ReLU-MaxPool2-Conv(32,64,3,p1)-ReLU-MaxPool2-
Linear(3136,128)-ReLU-Linear(128,10), cross-entropy, Adam (lr 1e-3), batch 64, the real
MNIST training set (938 steps). Both frameworks start from the same weights and see the
same batches in the same order. They run interleaved in chunks of --chunk steps (minidl,
torch, torch, minidl, ...), so that a busy phase of a shared machine hits both alike; an
epoch's time is the sum of its chunks, and the table gives the median over --epochs
epochs of the epoch, of forward (the model and the loss), of backward (zero_grad and
backward) and of the optimizer steps. Peak memory is measured in a fresh process per
framework over --memory-steps steps (VmHWM after resetting it, so it covers the training
alone, not the loaded data set or the imports).

Where minidl's time goes, and what was done about it (cProfile and timings of single
pieces, batch 64; the GEMM of the second convolution is 64 x 288 x 12544, 0.46 GFLOP, in
forward and twice in backward). Times marked "loaded" were taken while other jobs kept
the 2-core machine's load average near 10, so only their ratios mean something:
  1. First version: im2col into (N, C, kh, kw, Ho, Wo), one matmul per sample (64
     products of 64 x 288 x 196) and dW summed over the batch: 177 s an epoch with one
     BLAS thread (loaded); with two, far worse: each small product wakes and syncs
     OpenBLAS's threads.
  2. cols as (C, kh, kw, N, Ho, Wo): ONE product per convolution over the whole batch,
     (O, CK) @ (CK, N L), and dW one product too: 100 s (1 thread, loaded).
  3. Max-pool backward: np.where(mask, g broadcast, 0) took 12 ms for (64, 32, 28, 28),
     mask * g takes 0.5 ms. Batch norm's backward lost four passes the same way (a
     per-channel weight factors out of the means, whose sums are db and dw).
  4. im2col, col2im and pooling in (C, H, W, N) order, the batch innermost, and the
     convolutions' outputs left in that order behind their (N, C, H, W) views: the strided
     adds of col2im move runs of Wo N numbers instead of rows of Wo (30 ms -> 1.3 ms for
     a (64, 32, 14, 14) gradient); interleaved against torch, 1 thread: 2.27x -> 1.73x
     (loaded).
  5. Windows that tile the plane (2x2 pooling) folded back by one reordering copy instead
     of zeros plus kh kw adds: 35 -> 26 ms a step (2 threads, quiet machine).
  Left (quiet machine, 2 threads, 26 ms a step against torch's 13; forward 1.3x, backward
  3x): the second convolution's two backward GEMMs take 4.3 ms where torch's whole
  backward of that layer (oneDNN's direct kernels, no im2col matrix) takes 2.6 ms;
  col2im 0.8 ms; the two max-pool backwards 3.7 ms; the rest is single-threaded NumPy
  passes and first touches of fresh arrays, where torch runs fused kernels on both cores.
  OpenBLAS picks its Haswell (AVX2) kernels on this AVX-512 CPU: OPENBLAS_CORETYPE=SkylakeX
  gives 1.89x instead of 2.01x.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

THREADS = harness.limit_threads(harness.threads_from_argv(sys.argv, default=os.cpu_count()))

import numpy as np  # noqa: E402

import minidl  # noqa: E402
import minidl.nn.functional as F  # noqa: E402
from minidl import nn, optim  # noqa: E402

CHILD = "--memory-child" in sys.argv
torch = None if CHILD and "torch" not in sys.argv else harness.import_torch(THREADS)
BATCH, LR = 64, 1e-3


def load_mnist():
    """The real MNIST training images (N, 1, 28, 28) in [0, 1], or random ones of that shape."""
    try:
        from minidl.data import MNIST

        train = MNIST(train=True, download=False)
        return (
            np.asarray(train.images, dtype=np.float32).reshape(-1, 1, 28, 28),
            np.asarray(train.targets, dtype=np.int64),
            "MNIST",
        )
    except Exception as exc:  # no files: same shapes, random values
        print(f"(real MNIST not found: {exc.__class__.__name__}; using random data)")
        rng = np.random.default_rng(0)
        return (
            rng.random((60000, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, 60000),
            "random 60000x1x28x28",
        )


def cnn(nn_):
    """The benchmark's CNN in minidl's or torch's ``nn`` (the same names and layouts)."""
    return nn_.Sequential(
        nn_.Conv2d(1, 32, 3, padding=1),
        nn_.ReLU(),
        nn_.MaxPool2d(2),
        nn_.Conv2d(32, 64, 3, padding=1),
        nn_.ReLU(),
        nn_.MaxPool2d(2),
        nn_.Flatten(),
        nn_.Linear(3136, 128),
        nn_.ReLU(),
        nn_.Linear(128, 10),
    )


def initial_state(seed=0):
    minidl.manual_seed(seed)
    return {k: v.copy() for k, v in cnn(nn).state_dict().items()}


class MinidlRun:
    name = "minidl"

    def __init__(self, state):
        self.model = cnn(nn)
        self.model.load_state_dict(state)
        self.opt = optim.Adam(self.model.parameters(), lr=LR)

    def train_step(self, x, y):
        t0 = time.perf_counter()
        loss = F.cross_entropy(self.model(minidl.Tensor(x)), y)
        t1 = time.perf_counter()
        self.opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        self.opt.step()
        return t1 - t0, t2 - t1, time.perf_counter() - t2


class TorchRun:
    name = "torch"

    def __init__(self, state):
        self.model = cnn(torch.nn)
        self.model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.loss = torch.nn.CrossEntropyLoss()

    def train_step(self, x, y):
        t0 = time.perf_counter()
        loss = self.loss(self.model(torch.from_numpy(x)), torch.from_numpy(y))
        t1 = time.perf_counter()
        self.opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        self.opt.step()
        return t1 - t0, t2 - t1, time.perf_counter() - t2


def run_steps(run, X, Y, indices):
    """Train on the batches of ``indices``; (wall, forward, backward, step) seconds."""
    totals = np.zeros(3)
    start = time.perf_counter()
    for i in range(0, len(indices), BATCH):
        idx = indices[i : i + BATCH]
        totals += run.train_step(X[idx], Y[idx])
    return np.array([time.perf_counter() - start, *totals])


def compare(runs, X, Y, epochs, chunk, steps, seed=0):
    """Epochs (one untimed warm-up chunk first) interleaved chunk by chunk; medians."""
    rng = np.random.default_rng(seed)
    warm = rng.permutation(len(X))[: 2 * BATCH]
    for run in runs:
        run_steps(run, X, Y, warm)
    per_epoch = {run.name: [] for run in runs}
    for epoch in range(epochs):
        order = rng.permutation(len(X))[: steps * BATCH]
        sums = {run.name: np.zeros(4) for run in runs}
        for c, start in enumerate(range(0, len(order), chunk * BATCH)):
            part = order[start : start + chunk * BATCH]
            for run in runs if c % 2 == 0 else runs[::-1]:
                sums[run.name] += run_steps(run, X, Y, part)
        for name, s in sums.items():
            per_epoch[name].append(s)
        print(
            f"  epoch {epoch + 1}/{epochs}: "
            + ", ".join(f"{name} {s[0]:.1f} s" for name, s in sums.items()),
            flush=True,
        )
    return {
        name: [statistics.median(e[k] for e in ms) for k in range(4)]
        for name, ms in per_epoch.items()
    }


def _status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def memory_child(kind, steps):
    """In a fresh process: peak RSS (MiB) above the loaded data and imports, over ``steps``
    training steps."""
    X, Y, _ = load_mnist()
    run = MinidlRun(initial_state()) if kind == "minidl" else TorchRun(initial_state())
    run_steps(run, X, Y, np.arange(BATCH))  # first-step allocations of the framework
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        base = _status_mib("VmRSS")
        run_steps(run, X, Y, np.random.default_rng(0).permutation(len(X))[: steps * BATCH])
        print(f"{_status_mib('VmHWM') - base:.1f}")
    except OSError:
        print("nan")


def peak_memory(kind, steps):
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--memory-child",
            kind,
            "--threads",
            str(THREADS),
            "--memory-steps",
            str(steps),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(f"(peak memory of {kind}: the child failed: {done.stderr.strip()[-300:]})")
        return float("nan")
    return float(done.stdout.strip().splitlines()[-1])


def profile(X, Y, steps):
    import cProfile
    import pstats

    run = MinidlRun(initial_state())
    idx = np.random.default_rng(0).permutation(len(X))[: steps * BATCH]
    run_steps(run, X, Y, idx[:BATCH])
    profiler = cProfile.Profile()
    profiler.runctx("run_steps(run, X, Y, idx)", globals(), locals())
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def load_line():
    try:
        return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (the median is shown)")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps per epoch (default: the whole training set, 938)",
    )
    p.add_argument("--chunk", type=int, default=50, help="steps per interleaved chunk")
    p.add_argument("--threads", type=int, default=THREADS)
    p.add_argument("--memory-steps", type=int, default=50)
    p.add_argument("--profile", action="store_true", help="cProfile minidl over --steps steps")
    p.add_argument("--memory-child", choices=["minidl", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.memory_steps)

    X, Y, source = load_mnist()
    steps = args.steps or -(-len(X) // BATCH)
    if args.profile:
        return profile(X, Y, min(steps, 100))
    print(
        f"bench_cnn: {source}, Conv32-Pool-Conv64-Pool-FC128-FC10, Adam, batch {BATCH}, "
        f"{steps} steps an epoch, median of {args.epochs} epochs, interleaved in chunks of "
        f"{args.chunk} steps" + ("" if torch else "; torch not installed")
    )
    print(harness.machine_line(THREADS))
    print(f"before: {load_line()}", flush=True)
    state = initial_state()
    runs = [MinidlRun(state)] + ([TorchRun(state)] if torch is not None else [])
    result = compare(runs, X, Y, args.epochs, args.chunk, steps)
    memory = {run.name: peak_memory(run.name, args.memory_steps) for run in runs}
    print(f"after: {load_line()}\n")
    ours = result["minidl"]
    rows = [
        [
            name,
            f"{total:.1f}",
            f"{fwd:.1f}",
            f"{bwd:.1f}",
            f"{step:.2f}",
            f"{memory[name]:.0f}",
            harness.ratio(ours[0], total),
        ]
        for name, (total, fwd, bwd, step) in result.items()
    ]
    harness.table(
        ["framework", "epoch s", "forward s", "backward s", "step s", "peak MiB", "minidl/this"],
        rows,
    )


if __name__ == "__main__":
    main()
