"""Run by tests/test_distributed.py under ``mpiexec -n 2``: DistributedDataParallel on two
ranks against one process stepping on the global batch. Rank 0 prints one line
``RESULT <json>`` with the measured differences; the test asserts on them."""

import json
import sys

import numpy as np

import minidl
import minidl.distributed as dist
from minidl import nn
from minidl.nn.parallel import DistributedDataParallel

dist.init()
RANK, WORLD = dist.get_rank(), dist.get_world_size()
STEPS, SHARD = 3, 4  # each rank gets 4 samples of a global batch of 8
MINE = slice(RANK * SHARD, (RANK + 1) * SHARD)  # this rank's rows of a global batch

OPTIMIZERS = {
    "sgd": lambda ps: minidl.optim.SGD(ps, lr=0.1),
    "momentum": lambda ps: minidl.optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: minidl.optim.Adam(ps, lr=0.01),
}


def make_model(seed, dtype):
    minidl.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).to(dtype=dtype)


def largest_grad_gap(model, reference):
    return max(
        float(np.abs(p.grad.data - q.grad.data).max())
        for p, q in zip(model.parameters(), reference.parameters())
    )


def global_batches(dtype):
    rng = np.random.default_rng(1234)  # the same on every rank
    return [
        (rng.normal(size=(SHARD * WORLD, 6)).astype(dtype), rng.integers(0, 4, SHARD * WORLD))
        for _ in range(STEPS)
    ]


def spread_across_ranks(model):
    """Largest |p - p on rank 0| over all parameters and ranks."""
    worst = np.zeros(1)
    for p in model.parameters():
        reference = p.data.copy()
        dist.broadcast(reference)
        worst[0] = max(worst[0], float(np.abs(p.data - reference).max()))
    dist.all_reduce(worst, op="max")
    return float(worst[0])


def step_equivalence(name, dtype):
    model = make_model(seed=RANK, dtype=dtype)  # different on each rank until DDP broadcasts
    ddp = DistributedDataParallel(model)
    spread_at_start = spread_across_ranks(model)
    reference = make_model(seed=99, dtype=dtype)
    reference.load_state_dict({k: v.copy() for k, v in model.state_dict().items()})
    optimizer = OPTIMIZERS[name](ddp.parameters())
    ref_optimizer = OPTIMIZERS[name](reference.parameters())
    for x, y in global_batches(dtype):
        optimizer.zero_grad()
        nn.functional.cross_entropy(ddp(minidl.tensor(x[MINE])), minidl.tensor(y[MINE])).backward()
        optimizer.step()
        ref_optimizer.zero_grad()
        nn.functional.cross_entropy(reference(minidl.tensor(x)), minidl.tensor(y)).backward()
        ref_optimizer.step()
    rel = max(
        float(np.abs(p.data - q.data).max() / np.abs(q.data).max())
        for p, q in zip(model.parameters(), reference.parameters())
    )
    moved = max(
        float(np.abs(p.data - q.data).max())
        for p, q in zip(model.parameters(), make_model(RANK, dtype).parameters())
    )
    return {
        "optimizer": name,
        "dtype": np.dtype(dtype).name,
        "rel_error": rel,
        "spread_at_start": spread_at_start,
        "spread_after": spread_across_ranks(model),
        "moved": moved,
        "state_dict_keys": list(ddp.module.state_dict()),
    }


class PartlyUsed(nn.Module):
    """``sometimes`` is used on rank 0 only; ``never`` on no rank."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.sometimes = nn.Parameter(np.ones(2))
        self.never = nn.Parameter(np.ones(2))

    def forward(self, x):
        out = self.linear(x)
        return out * self.sometimes if RANK == 0 else out


def unused_parameters():
    model = PartlyUsed().double()
    ddp = DistributedDataParallel(model)
    x = minidl.tensor(np.full((2, 3), 1.0 + RANK))
    ddp(x).sum().backward()
    # on rank 0 d/d sometimes = column sums of linear(x); rank 1 contributes zero
    local = model.linear(minidl.tensor(np.full((2, 3), 1.0))).data.sum(0)
    return {
        "sometimes_grad_error": float(np.abs(model.sometimes.grad.data - local / 2).max()),
        "never_grad_is_none": model.never.grad is None,
    }


def accumulation(sync_first):
    """Two micro-batches per step, the first under no_sync (or not): the gradient must be
    the sum of the two global-batch gradients either way."""
    model = make_model(seed=7, dtype=np.float64)
    ddp = DistributedDataParallel(model)
    reference = make_model(seed=7, dtype=np.float64)
    (xa, ya), (xb, yb), _ = global_batches(np.float64)
    loss = nn.functional.cross_entropy
    if sync_first:
        loss(ddp(minidl.tensor(xa[MINE])), minidl.tensor(ya[MINE])).backward()
    else:
        with ddp.no_sync():
            loss(ddp(minidl.tensor(xa[MINE])), minidl.tensor(ya[MINE])).backward()
    loss(ddp(minidl.tensor(xb[MINE])), minidl.tensor(yb[MINE])).backward()
    loss(reference(minidl.tensor(xa)), minidl.tensor(ya)).backward()
    loss(reference(minidl.tensor(xb)), minidl.tensor(yb)).backward()
    return largest_grad_gap(model, reference)


def cast_after_wrapping():
    """model.double() after wrapping: the gradients must travel in float64, not be
    rounded through the float32 buckets made at construction."""
    model = make_model(seed=7, dtype=np.float32)
    ddp = DistributedDataParallel(model)
    ddp.double()
    reference = make_model(seed=7, dtype=np.float64)
    x, y = global_batches(np.float64)[0]
    nn.functional.cross_entropy(ddp(minidl.tensor(x[MINE])), minidl.tensor(y[MINE])).backward()
    nn.functional.cross_entropy(reference(minidl.tensor(x)), minidl.tensor(y)).backward()
    return largest_grad_gap(model, reference)


def grad_through_ddp():
    """autograd.grad through a DDP output gives this rank's own gradient, touching no .grad."""
    model = make_model(seed=7, dtype=np.float64)
    ddp = DistributedDataParallel(model)
    x, y = global_batches(np.float64)[0]
    loss = nn.functional.cross_entropy(ddp(minidl.tensor(x[MINE])), minidl.tensor(y[MINE]))
    (g,) = minidl.autograd.grad(loss, [model[0].weight])
    reference = make_model(seed=7, dtype=np.float64)
    nn.functional.cross_entropy(
        reference(minidl.tensor(x[MINE])), minidl.tensor(y[MINE])
    ).backward()
    return {
        "error": float(np.abs(g.data - reference[0].weight.grad.data).max()),
        "grad_untouched": model[0].weight.grad is None,
    }


class FailOnce(minidl.Function):
    """Identity whose first backward raises (on every rank)."""

    failed = False

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, g):
        if not FailOnce.failed:
            FailOnce.failed = True
            raise ArithmeticError("backward fails once on purpose")
        return g


def averaging_after_a_failed_backward():
    """A backward that raised after DDP scheduled its allreduce must not stop the next
    backward from averaging."""
    model = make_model(seed=7, dtype=np.float64)
    ddp = DistributedDataParallel(model)
    reference = make_model(seed=7, dtype=np.float64)
    x, y = global_batches(np.float64)[0]

    def forward_failing_once(t):  # the model's own layers, with FailOnce after the Tanh
        return model[2](FailOnce.apply(model[1](model[0](t))))

    model.forward = forward_failing_once
    try:
        nn.functional.cross_entropy(ddp(minidl.tensor(x[MINE])), minidl.tensor(y[MINE])).backward()
    except ArithmeticError:
        pass
    ddp.zero_grad()
    nn.functional.cross_entropy(ddp(minidl.tensor(x[MINE])), minidl.tensor(y[MINE])).backward()
    nn.functional.cross_entropy(reference(minidl.tensor(x)), minidl.tensor(y)).backward()
    return largest_grad_gap(model, reference)


def sampler_coverage():
    """Every index of a 10-sample dataset, padded to 2 x 5, lands on exactly one rank."""
    dataset = minidl.data.TensorDataset(np.arange(10))
    sampler = minidl.data.DistributedSampler(dataset, seed=3)
    loader = minidl.data.DataLoader(dataset, batch_size=2, sampler=sampler)
    counts = np.zeros(10)
    for (batch,) in loader:
        np.add.at(counts, batch.data.astype(np.int64), 1)
    dist.all_reduce(counts)
    return counts.tolist()


results = {
    "steps": [
        step_equivalence(name, dtype) for name in OPTIMIZERS for dtype in (np.float32, np.float64)
    ],
    "unused": unused_parameters(),
    "accumulate_no_sync": accumulation(sync_first=False),
    "accumulate_synced_twice": accumulation(sync_first=True),
    "cast_after_wrapping": cast_after_wrapping(),
    "autograd_grad": grad_through_ddp(),
    "after_failed_backward": averaging_after_a_failed_backward(),
    "sampler_counts": sampler_coverage(),
    "world_size": WORLD,
}
if RANK == 0:
    print("RESULT " + json.dumps(results))
sys.stdout.flush()
