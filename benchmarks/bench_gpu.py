"""minidl on a CUDA GPU (CuPy) against torch on the same GPU, in the same run.

    python benchmarks/bench_gpu.py device                  # the GPU and its peak bandwidth
    python benchmarks/bench_gpu.py optim --sizes 1e7,1e8   # one optimizer step
    python benchmarks/bench_gpu.py mlp                     # one MNIST epoch of an MLP
    python benchmarks/bench_gpu.py cnn                     # ... of bench_cnn.py's CNN
    python benchmarks/bench_gpu.py optim --device cpu ...  # the same code on the CPU: a smoke
                                                           # test of this script, not a benchmark

optim   Adam and SGD with momentum on n float32 parameters (one tensor), gradients fixed:
        time per step, the bytes the step must move (Adam reads p, g, m, v and writes
        p, m, v: 28 B a parameter; SGD-momentum 20 B), the bandwidth that achieves, and
        that against the device's peak (2 x memory clock x bus width, the CUDA device
        attributes) and against a device-to-device copy moving as many bytes (what the
        memory delivers in practice). minidl's fast executor (one fused kernel) is the
        "minidl" column, its plain executor (a CuPy call per operation) "plain".
        torch.optim's fused=True and foreach=True run as peers when torch sees the GPU.
mlp     One epoch of an MLP 784-256-10 (ReLU, cross-entropy) on MNIST (or random data of
        its shape when $MINIDL_DATA does not hold it), batches indexed on the device:
        minidl against torch (default and fused optimizer), same initial weights, same
        batches; SGD-momentum and Adam, batch 128.
cnn     The same for bench_cnn.py's CNN (Conv 1-32-64, max pools, Linear 3136-128-10),
        Adam, batch 64.

Timing: every candidate runs in blocks (k optimizer steps, or one epoch) that end with a
device synchronisation, so kernel launches and Python overhead count as in training;
candidates are interleaved block by block and medians are reported. Tables are Markdown.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import harness
import numpy as np

import minidl
import minidl.nn.functional as F
from minidl import backend, nn, optim

# CUDA device attribute numbers (cudaDeviceAttr): CUDA 13 dropped these two from
# cudaDeviceProp, so they are asked for by number when getDeviceProperties lacks them.
_ATTR_MEMORY_CLOCK_KHZ = 36
_ATTR_MEMORY_BUS_WIDTH_BITS = 37

# name, minidl constructor, torch class name and kwargs, bytes moved per float32 parameter
# (minidl's keyword arguments also get executor="fast" and executor="plain")
OPTIMIZERS = [
    ("Adam", lambda p, **kw: optim.Adam(p, lr=1e-3, **kw), "Adam", dict(lr=1e-3), 28),
    (
        "SGD momentum",
        lambda p, **kw: optim.SGD(p, lr=1e-3, momentum=0.9, **kw),
        "SGD",
        dict(lr=1e-3, momentum=0.9),
        20,
    ),
]


def peak_bandwidth(memory_clock_khz, bus_width_bits):
    """Peak DRAM bandwidth in bytes/s: two transfers per memory clock (double data rate)
    over a bus of ``bus_width_bits``; None when either is unknown."""
    if not memory_clock_khz or not bus_width_bits:
        return None
    return 2 * memory_clock_khz * 1e3 * bus_width_bits / 8


def gb_per_s(n_bytes, seconds):
    """Achieved bandwidth in GB/s (1e9 bytes), or None."""
    return None if not seconds else n_bytes / seconds / 1e9


class Device:
    """The arrays, the synchronisation and torch's device name for "gpu" or "cpu"."""

    def __init__(self, name, with_torch=True):
        self.name = name
        self.gpu = name == "gpu"
        self.xp = backend.get_cupy() if self.gpu else np
        self.torch = harness.import_torch() if with_torch else None
        if self.torch is not None and self.gpu and not self.torch.cuda.is_available():
            self.torch = None  # a CPU-only torch is no peer for a GPU
        self.torch_device = "cuda" if self.gpu else "cpu"

    def sync(self):
        """Wait for all work queued on the device (CuPy's and torch's streams alike)."""
        if self.gpu:
            self.xp.cuda.runtime.deviceSynchronize()

    def properties(self):
        """{name, memory GiB, compute capability, SMs, peak GB/s, versions} of this device."""
        info = {
            "device": self.name,
            "numpy": np.__version__,
            "torch": getattr(self.torch, "__version__", None),
        }
        if not self.gpu:
            return info
        cupy = self.xp
        runtime = cupy.cuda.runtime
        index = cupy.cuda.Device().id
        props = runtime.getDeviceProperties(index)

        def attribute(key, number):
            value = props.get(key)
            if not value:
                try:
                    value = runtime.deviceGetAttribute(number, index)
                except Exception:  # an old or unusual runtime: say "unknown"
                    value = None
            return value

        clock, width = (
            attribute("memoryClockRate", _ATTR_MEMORY_CLOCK_KHZ),
            attribute("memoryBusWidth", _ATTR_MEMORY_BUS_WIDTH_BITS),
        )
        name = props.get("name", b"?")
        peak = peak_bandwidth(clock, width)
        info.update(
            name=name.decode() if isinstance(name, bytes) else str(name),
            memory_gib=props.get("totalGlobalMem", 0) / 2**30,
            compute_capability=f"{props.get('major')}.{props.get('minor')}",
            multiprocessors=props.get("multiProcessorCount"),
            memory_clock_mhz=clock and clock / 1e3,
            bus_width_bits=width,
            peak_gb_s=peak and peak / 1e9,
            cupy=cupy.__version__,
            cuda_runtime=runtime.runtimeGetVersion(),
            cuda_driver=runtime.driverGetVersion(),
        )
        return info

    def timed_block(self, fn, k=1):
        """A callable running ``fn`` k times between two synchronisations; time / k is
        the time per call."""

        def block():
            self.sync()
            for _ in range(k):
                fn()
            self.sync()

        return block


def describe(info):
    """One Markdown line about the device, from :meth:`Device.properties`."""
    if info["device"] != "gpu":
        return (
            f"CPU smoke run (not a benchmark): NumPy {info['numpy']}, "
            f"torch {info['torch'] or 'not used'}"
        )
    peak = "unknown" if info["peak_gb_s"] is None else f"{info['peak_gb_s']:.0f} GB/s"
    return (
        f"{info['name']}, {info['memory_gib']:.0f} GiB, compute capability "
        f"{info['compute_capability']}, {info['multiprocessors']} SMs, memory "
        f"{info['memory_clock_mhz'] or '?'} MHz x {info['bus_width_bits'] or '?'} bits "
        f"(peak {peak}); CUDA runtime {info['cuda_runtime']}, driver "
        f"{info['cuda_driver']}; CuPy {info['cupy']}, NumPy {info['numpy']}, "
        f"torch {info['torch'] or 'not used (not installed, without CUDA, or --no-torch)'}"
    )


# ------------------------------------------------------------------ optimizer steps
def _minidl_step(dev, make, n, executor):
    xp = dev.xp
    p = minidl.Tensor(xp.ones(n, np.float32), requires_grad=True)
    p.grad = minidl.Tensor(xp.full(n, 1e-3, np.float32))
    opt = make([p], executor=executor)
    opt.step()  # state allocated, kernel compiled
    return opt.step


def _torch_step(dev, name, kw, n, impl):
    torch = dev.torch
    if torch is None:
        return None
    p = torch.nn.Parameter(torch.ones(n, device=dev.torch_device))
    p.grad = torch.full((n,), 1e-3, device=dev.torch_device)
    try:
        opt = getattr(torch.optim, name)([p], **kw, **impl)
        opt.step()
    except (RuntimeError, TypeError, ValueError):  # no such implementation here
        return None
    return opt.step


def _copy(dev, n_bytes):
    """A device-to-device copy that reads and writes n_bytes in all."""
    src = dev.xp.ones(n_bytes // 2 // 4, np.float32)
    dst = dev.xp.empty_like(src)
    return lambda: dev.xp.copyto(dst, src)


def bench_optim(dev, sizes, repeat, steps_per_block, peak_gb_s):
    headers = [
        "params",
        "optimizer",
        "B/param",
        "minidl ms",
        "minidl GB/s",
        "of peak",
        "copy GB/s",
        "minidl/copy",
        "plain ms",
        "torch fused ms",
        "torch foreach ms",
        "minidl/fused",
        "minidl/foreach",
    ]
    rows = []
    for n in sizes:
        for name, make, tname, tkw, nbytes in OPTIMIZERS:
            moved = n * nbytes
            candidates = {
                "copy": _copy(dev, moved),
                "minidl": _minidl_step(dev, make, n, "fast"),
                "plain": _minidl_step(dev, make, n, "plain"),
                "fused": _torch_step(dev, tname, tkw, n, dict(fused=True)),
                "foreach": _torch_step(dev, tname, tkw, n, dict(foreach=True)),
            }
            blocks = {
                k: None if f is None else dev.timed_block(f, steps_per_block)
                for k, f in candidates.items()
            }
            t = {
                k: None if v is None else v / steps_per_block
                for k, v in harness.medians(
                    harness.interleaved(blocks, repeat=repeat, warmup=1)
                ).items()
            }
            ours, copy = gb_per_s(moved, t["minidl"]), gb_per_s(moved, t["copy"])
            rows.append(
                [
                    f"{n:.0e}",
                    name,
                    nbytes,
                    harness.fmt(t["minidl"], digits=3),
                    f"{ours:.0f}",
                    "-" if not peak_gb_s else f"{ours / peak_gb_s:.0%}",
                    f"{copy:.0f}",
                    harness.ratio(t["minidl"], t["copy"]),
                    harness.fmt(t["plain"], digits=3),
                    harness.fmt(t["fused"], digits=3),
                    harness.fmt(t["foreach"], digits=3),
                    harness.ratio(t["minidl"], t["fused"]),
                    harness.ratio(t["minidl"], t["foreach"]),
                ]
            )
            print(f"  {rows[-1][0]} {name}: {rows[-1][3]} ms", file=sys.stderr, flush=True)
            del candidates, blocks
            if dev.gpu:  # 1e8 parameters hold GBs: give them back before the next size
                dev.xp.get_default_memory_pool().free_all_blocks()
    harness.table(headers, rows)


# ------------------------------------------------------------ MLP and CNN epochs
def load_mnist(limit=None):
    """(images (N, 1, 28, 28) float32, labels (N,) int64, source) on the host: the real
    MNIST training set when it is found without downloading, else random data of its shape."""
    try:
        from minidl.data import MNIST

        train = MNIST(train=True, download=False)
        X, Y, source = train.images, train.targets, "MNIST"
    except Exception as exc:
        print(
            f"(real MNIST not found: {exc.__class__.__name__}; using random data)", file=sys.stderr
        )
        rng, n = np.random.default_rng(0), limit or 60000
        X = rng.random((n, 28, 28), dtype=np.float32)
        Y, source = rng.integers(0, 10, n), "random data of MNIST's shape"
    if limit:
        X, Y = X[:limit], Y[:limit]
    X = np.ascontiguousarray(X, np.float32).reshape(len(X), 1, 28, 28)
    return X, np.asarray(Y, np.int64), source


def build(nn_, kind):
    """The benchmark's model in minidl's or torch's ``nn`` (the same names): the MLP of
    bench_mnist.py or the CNN of bench_cnn.py."""
    if kind == "mlp":
        return nn_.Sequential(nn_.Flatten(), nn_.Linear(784, 256), nn_.ReLU(), nn_.Linear(256, 10))
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


def _optimizer(optim_, params, name, **kind):
    return (
        optim_.SGD(params, lr=0.01, momentum=0.9, **kind)
        if name == "momentum"
        else optim_.Adam(params, lr=1e-3, **kind)
    )


class MinidlRun:
    name = "minidl"

    def __init__(self, dev, weights, kind, optimizer):
        self.model = build(nn, kind)
        for p, w in zip(self.model.parameters(), weights):
            p.data[...] = w
        self.model.to(dev.name)
        self.opt = _optimizer(optim, self.model.parameters(), optimizer)

    def step(self, x, y):
        loss = F.cross_entropy(self.model(minidl.Tensor(x)), minidl.Tensor(y))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


class TorchRun:
    def __init__(self, dev, weights, kind, optimizer, fused):
        torch = dev.torch
        self.name = "torch fused" if fused else "torch"
        self.model = build(torch.nn, kind).to(dev.torch_device)
        with torch.no_grad():
            for p, w in zip(self.model.parameters(), weights):
                p.copy_(torch.from_numpy(w))
        self.opt = _optimizer(
            torch.optim, self.model.parameters(), optimizer, **({"fused": True} if fused else {})
        )
        self.loss = torch.nn.CrossEntropyLoss()

    def step(self, x, y):
        loss = self.loss(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def bench_epochs(dev, kind, batches, optimizers, epochs, limit):
    """One epoch of ``kind`` ("mlp" or "cnn") per candidate, interleaved; medians."""
    X, Y, source = load_mnist(limit)
    print(
        f"{source}: {len(X)} images; median of {epochs} epoch(s) after one warm-up, "
        "candidates interleaved epoch by epoch\n"
    )
    torch = dev.torch
    data = {"minidl": (dev.xp.asarray(X), dev.xp.asarray(Y), dev.xp.asarray)}  # on the device once
    if torch is not None:
        data["torch"] = (
            torch.from_numpy(X).to(dev.torch_device),
            torch.from_numpy(Y).to(dev.torch_device),
            lambda a: torch.from_numpy(a).to(dev.torch_device),
        )
    minidl.manual_seed(0)
    weights = [p.numpy() for p in build(nn, kind).parameters()]
    rows = []
    for optimizer in optimizers:
        for batch in batches:
            runs = [MinidlRun(dev, weights, kind, optimizer)]
            if torch is not None:
                runs += [TorchRun(dev, weights, kind, optimizer, fused) for fused in (False, True)]
            times = {run.name: [] for run in runs}
            rng = np.random.default_rng(0)
            for e in range(epochs + 1):
                order = rng.permutation(len(X))
                for run in runs:
                    images, labels, upload = data[run.name.split()[0]]
                    index = upload(order)
                    dev.sync()
                    start = time.perf_counter()
                    for i in range(0, len(order), batch):
                        j = index[i : i + batch]
                        run.step(images[j], labels[j])
                    dev.sync()
                    if e:
                        times[run.name].append(time.perf_counter() - start)
            med = harness.medians(times)
            for name, seconds in med.items():
                rows.append(
                    [
                        optimizer,
                        batch,
                        name,
                        f"{seconds:.3f}",
                        f"{len(X) / seconds:,.0f}",
                        harness.ratio(med["minidl"], seconds) if name != "minidl" else "",
                    ]
                )
            print(
                f"  {kind} {optimizer} {batch}: minidl {med['minidl']:.3f} s",
                file=sys.stderr,
                flush=True,
            )
    harness.table(["optimizer", "batch", "run", "epoch s", "images/s", "minidl/this"], rows)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("what", choices=["device", "optim", "mlp", "cnn"])
    ap.add_argument("--device", choices=["gpu", "cpu"], default="gpu")
    ap.add_argument("--sizes", default="1e7,1e8", help="optim: comma-separated parameter counts")
    ap.add_argument("--repeat", type=int, default=7, help="optim: timed blocks (median)")
    ap.add_argument("--steps-per-block", type=int, default=10, help="optim: steps in a block")
    ap.add_argument(
        "--batch",
        type=int,
        nargs="*",
        default=None,
        help="mlp, cnn: batch sizes (default 128 for the MLP, 64 for the CNN)",
    )
    ap.add_argument(
        "--optimizer",
        nargs="*",
        default=None,
        choices=["momentum", "adam"],
        help="mlp, cnn: optimizers (default both for the MLP, adam for the CNN)",
    )
    ap.add_argument("--epochs", type=int, default=3, help="mlp, cnn: timed epochs (median)")
    ap.add_argument(
        "--limit", type=int, default=None, help="mlp, cnn: first N training images only"
    )
    ap.add_argument("--no-torch", action="store_true", help="minidl alone, without torch")
    args = ap.parse_args(argv)
    dev = Device(args.device, with_torch=not args.no_torch)
    info = dev.properties()
    print(describe(info), flush=True)
    if args.what == "optim":
        print(
            f"\nOne optimizer step on {args.device}, float32, median of {args.repeat} blocks "
            f"of {args.steps_per_block} steps; copy = device-to-device copy moving the "
            "step's bytes\n"
        )
        bench_optim(
            dev,
            [int(float(s)) for s in args.sizes.split(",") if s],
            args.repeat,
            args.steps_per_block,
            info.get("peak_gb_s"),
        )
    elif args.what in ("mlp", "cnn"):
        mlp = args.what == "mlp"
        model = (
            "an MLP 784-256-10"
            if mlp
            else (
                "bench_cnn.py's CNN (two 3x3 convolutions, "
                "32 and 64 channels, max pools, 3136-128-10)"
            )
        )
        print(f"\nOne epoch of {model} on {args.device}")
        bench_epochs(
            dev,
            args.what,
            args.batch or [128 if mlp else 64],
            args.optimizer or (["momentum", "adam"] if mlp else ["adam"]),
            args.epochs,
            args.limit,
        )


if __name__ == "__main__":
    main()
