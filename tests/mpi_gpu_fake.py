"""Run by tests/test_distributed.py under ``mpiexec -n 2``: minidl.distributed's GPU paths on
the CPU, through tests/fake_cupy.py (CuPy's API on NumPy) and, for ``nccl``, a stand-in for
``cupy.cuda.nccl`` below that does each NCCL call with MPI on the memory its pointers name.
``mpi`` declares the MPI CUDA-aware and hands it the arrays (their __cuda_array_interface__
points at host memory here, which the MPI reads like any buffer).

What this checks: which transport is taken, the NCCL calls' arguments (unique id shared
from rank 0, pointers, counts, dtype and op codes, root), and that DistributedDataParallel
on "GPU" parameters steps like one process on the global batch. Not CUDA itself.
Rank 0 prints ``RESULT <json>``.
"""

import ctypes
import json
import os
import sys
import types

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_cupy

TRANSPORT = sys.argv[1]
WORLD = MPI.COMM_WORLD
calls = []  # (name, count) of every NCCL call


def _fake_nccl():
    nccl = types.ModuleType("cupy.cuda.nccl")
    dtypes = {
        "NCCL_FLOAT16": np.float16,
        "NCCL_FLOAT32": np.float32,
        "NCCL_FLOAT64": np.float64,
        "NCCL_INT32": np.int32,
        "NCCL_INT64": np.int64,
        "NCCL_UINT8": np.uint8,
        "NCCL_INT8": np.int8,
    }
    ops = {"NCCL_SUM": MPI.SUM, "NCCL_PROD": MPI.PROD, "NCCL_MAX": MPI.MAX, "NCCL_MIN": MPI.MIN}
    for code, name in enumerate([*dtypes, *ops]):
        setattr(nccl, name, code)
    by_code = {getattr(nccl, k): v for k, v in {**dtypes, **ops}.items()}

    def at(ptr, count, dtype_code):
        dtype = np.dtype(by_code[dtype_code])
        raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
        return np.frombuffer(raw, dtype=dtype)

    class NcclCommunicator:
        def __init__(self, ndev, commId, rank):
            assert (ndev, rank) == (WORLD.Get_size(), WORLD.Get_rank())
            assert len(commId) == 128 and commId == WORLD.bcast(commId, root=0), (
                "every rank must get rank 0's unique id"
            )
            calls.append(("init", 0))

        def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
            assert sendbuf == recvbuf  # minidl reduces in place
            WORLD.Allreduce(MPI.IN_PLACE, at(recvbuf, count, datatype), op=by_code[op])
            calls.append(("allReduce", count))

        def bcast(self, buff, count, datatype, root, stream):
            WORLD.Bcast(at(buff, count, datatype), root=root)
            calls.append(("bcast", count))

    nccl.NcclCommunicator = NcclCommunicator
    nccl.get_unique_id = lambda: tuple(int(b) for b in np.random.randint(-128, 128, 128))
    return nccl


fake_cupy.install()
if TRANSPORT == "nccl":
    fake_cupy.cuda.nccl = _fake_nccl()
    sys.modules["cupy.cuda"] = fake_cupy.cuda
    sys.modules["cupy.cuda.nccl"] = fake_cupy.cuda.nccl
else:
    os.environ["MINIDL_MPI_CUDA_AWARE"] = "1"
    fake_cupy.ndarray.__cuda_array_interface__ = property(
        lambda self: {
            "shape": self._a.shape,
            "typestr": self._a.dtype.str,
            "strides": None,
            "version": 3,
            "data": (self._a.__array_interface__["data"][0], False),
        }
    )

import minidl  # noqa: E402
import minidl.distributed as dist  # noqa: E402
from minidl import nn  # noqa: E402
from minidl.nn.parallel import DistributedDataParallel  # noqa: E402

minidl.backend.use("cupy")
dist.init()
RANK = dist.get_rank()
out = {}

x = minidl.tensor([1.0, 2.0, 3.0], device="gpu") * (RANK + 1)
dist.all_reduce(x)
out["sum"] = x.data.get().tolist()
y = minidl.tensor(np.full(3, 10.0 * RANK), device="gpu")
dist.broadcast(y, src=1)
out["broadcast"] = y.data.get().tolist()
m = minidl.tensor(np.array([RANK, 5 - RANK], np.float64), device="gpu")
dist.all_reduce(m, op="max")
out["max"] = m.data.get().tolist()

SHARD = 4
rng = np.random.default_rng(5)
xs, ys = rng.normal(size=(2 * SHARD, 6)).astype(np.float32), rng.integers(0, 3, 2 * SHARD)
minidl.manual_seed(RANK)
model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to("gpu")
ddp = DistributedDataParallel(model)
reference = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to("cpu")
reference.load_state_dict({k: v.get() for k, v in model.state_dict().items()})
mine = slice(RANK * SHARD, (RANK + 1) * SHARD)
nn.functional.cross_entropy(
    ddp(minidl.tensor(xs[mine], device="gpu")), minidl.tensor(ys[mine], device="gpu")
).backward()
nn.functional.cross_entropy(reference(minidl.tensor(xs)), minidl.tensor(ys)).backward()
out["grad_rel_error"] = max(
    float(np.abs(p.grad.data.get() - q.grad.data).max() / np.abs(q.grad.data).max())
    for p, q in zip(model.parameters(), reference.parameters())
)
out["nccl_calls"] = sorted({name for name, _ in calls})
out["nccl_counts"] = [count for name, count in calls if name == "allReduce"]
if RANK == 0:
    print("RESULT " + json.dumps(out))
