"""Run by tests/test_distributed.py under ``mpiexec -n 2``: minidl.distributed's collectives.
Rank 0 prints ``RESULT <json>``; the test asserts on it."""

import json

import numpy as np
import threadpoolctl

import minidl
import minidl.distributed as dist

dist.init()
dist.init()  # idempotent
RANK, WORLD = dist.get_rank(), dist.get_world_size()
out = {"world_size": WORLD}


def gathered(x):
    """Rank 0's view of every rank's value of a small vector (allreduce of a one-hot layout)."""
    table = np.zeros((WORLD, len(x)))
    table[RANK] = x
    dist.all_reduce(table)
    return table.tolist()


t = minidl.tensor([1.0, 2.0, 3.0]) * (RANK + 1)
version = getattr(t, "_version", None)
dist.all_reduce(t)
out["sum_tensor"] = t.data.tolist()
out["version_bumped"] = version is None or t._version == version + 1

for op in ("max", "min", "prod", "avg"):
    a = np.array([1.0 + RANK, 10.0 - RANK])
    dist.all_reduce(a, op=op)
    out[op] = a.tolist()

ints = np.array([RANK, 5], dtype=np.int64)
dist.all_reduce(ints)
out["int_sum"] = ints.tolist()

strided = np.arange(12.0).reshape(3, 4)[:, ::2] * (RANK + 1)  # not contiguous
dist.all_reduce(strided)
out["strided"] = strided.tolist()

b = np.full(4, float(RANK))
if RANK == 1:
    b[:] = [7, 8, 9, 10]
dist.broadcast(b, src=1)
out["broadcast_from_1"] = gathered(b)

errors = {}
for label, call in {
    "bad_op": lambda: dist.all_reduce(np.ones(2), op="median"),
    "bad_src": lambda: dist.broadcast(np.ones(2), src=WORLD),
    "not_array": lambda: dist.all_reduce([1.0, 2.0]),
    "avg_int": lambda: dist.all_reduce(np.ones(2, np.int64), op="avg"),
}.items():
    try:
        call()
    except (ValueError, TypeError) as exc:
        errors[label] = f"{type(exc).__name__}: {exc}"
out["errors"] = errors

dist.barrier()
blas = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
out["blas_threads"] = blas
if RANK == 0:
    print("RESULT " + json.dumps(out))
