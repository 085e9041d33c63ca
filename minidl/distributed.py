"""Collectives between processes over MPI: the only module in minidl that imports mpi4py.

Start N copies of a script with ``mpiexec -n N python train.py``; in each, ``init()`` joins
``MPI.COMM_WORLD``, and ``all_reduce``/``broadcast`` then combine the same array across all
of them, in place, as ``torch.distributed`` does::

    import minidl.distributed as dist
    dist.init()
    x = minidl.tensor([1.0, 2.0]) * (dist.get_rank() + 1)
    dist.all_reduce(x)            # every rank now holds the sum over the ranks

``init()`` also arranges three things a multi-process job needs:

* an uncaught exception on any rank prints its traceback and aborts the whole job
  (``MPI_Abort``), instead of leaving the other ranks waiting forever in a collective;
* BLAS threads per rank: N ranks on one machine each running BLAS with every core is
  many times slower than one thread each (measured 20x on 2 cores), so each rank gets
  ``cores // ranks on this machine`` threads (or the cores the launcher bound it to), unless
  ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` or
  ``MINIDL_NUM_THREADS`` says otherwise; set through threadpoolctl, so it works although
  NumPy was imported before ``init()``;
* on the CuPy backend, rank r on a machine uses GPU ``r % GPUs on that machine``.

On the GPU, CuPy arrays travel through NCCL (``cupy.cuda.nccl``) when CuPy has it, else
through the MPI library itself when it is CUDA-aware (declare it with
``MINIDL_MPI_CUDA_AWARE=1``: MPI has no portable way to ask), else the call fails with an
error that says so.
"""

import os
import sys
import time
import warnings

import numpy

from . import backend
from .tensor import Tensor

__all__ = [
    "init",
    "is_initialized",
    "get_rank",
    "get_world_size",
    "all_reduce",
    "broadcast",
    "barrier",
    "abort",
    "threads_per_rank",
]

_INSTALL_HINT = (
    'Install them with `pip install -e ".[mpi]"` in a checkout (or '
    '`pip install "minidl[mpi]"`), which brings mpi4py and the MPICH wheel with '
    "its mpiexec; on a cluster, build mpi4py against the system MPI instead "
    '(see the README, "Training on several processes or machines").'
)

_MPI = None  # the mpi4py.MPI module, once imported
_comm = None  # MPI.COMM_WORLD once init() has run
_local_rank = 0  # rank among the processes on this machine
_local_size = 1
_thread_limiter = None
_nccl = None  # the NCCL communicator, made at the first GPU collective


def _mpi():
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise ImportError(
                f"minidl.distributed needs mpi4py and an MPI library ({exc}). " + _INSTALL_HINT
            ) from None
        _MPI = MPI
    return _MPI


# ---- the process group ---------------------------------------------------------------------
def init():
    """Join the job's processes (``MPI.COMM_WORLD``). Calling it again does nothing."""
    global _comm, _local_rank, _local_size
    if _comm is not None:
        return
    MPI = _mpi()
    _comm = MPI.COMM_WORLD
    node = _comm.Split_type(MPI.COMM_TYPE_SHARED, key=_comm.Get_rank())
    _local_rank, _local_size = node.Get_rank(), node.Get_size()
    node.Free()
    _abort_job_on_uncaught_exception(_comm)
    _limit_blas_threads(threads_per_rank(_local_size))
    if backend.current() == "cupy":
        cupy = backend.get_cupy()
        cupy.cuda.Device(_local_rank % cupy.cuda.runtime.getDeviceCount()).use()


def is_initialized():
    return _comm is not None


def _world():
    if _comm is None:
        raise RuntimeError(
            "minidl.distributed is not initialized: call "
            "minidl.distributed.init() first (in a script started by mpiexec)"
        )
    return _comm


def get_rank():
    """This process's index in the job, 0 .. world size - 1."""
    return _world().Get_rank()


def get_world_size():
    """The number of processes in the job."""
    return _world().Get_size()


def barrier():
    """Wait until every rank has reached this call."""
    _world().Barrier()


def _abort_job_on_uncaught_exception(comm):
    """An uncaught exception ends this rank; the others would wait for it in their next
    collective forever. Print the traceback, then take the whole job down."""
    previous = sys.excepthook

    def abort_job(kind, value, traceback):
        previous(kind, value, traceback)
        if comm.Get_size() > 1:
            abort(1)

    sys.excepthook = abort_job


def abort(status=1):
    """End every rank of the job now, with exit status ``status`` (``MPI_Abort``).

    For a rank that has to stop while the others may wait for it in a collective: a plain
    ``sys.exit`` there would leave them waiting (and ``sys.exit`` is no exception that
    ``init()``'s hook sees). Output already written reaches mpiexec first.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(0.5)  # lets mpiexec pass the last output on before it ends the job
    _world().Abort(status if isinstance(status, int) else 1)  # sys.exit("text") means 1


# ---- BLAS threads ----------------------------------------------------------------------------
_THREAD_VARIABLES = (
    "MINIDL_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def threads_per_rank(ranks_on_this_machine):
    """BLAS threads for each rank: what the environment asks for, else the cores the
    launcher bound this process to when it bound it, else the machine's cores shared out."""
    for name in _THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return max(1, int(value))
            except ValueError:
                raise ValueError(f"{name}={value!r}: expected a number of threads") from None
    machine = os.cpu_count() or 1
    try:
        mine = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS)
        mine = machine
    if mine < machine:
        return mine
    return max(1, machine // max(1, ranks_on_this_machine))


def _limit_blas_threads(threads):
    global _thread_limiter
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        warnings.warn(
            f"threadpoolctl is not installed, so minidl cannot give each rank "
            f"{threads} BLAS thread(s); ranks that share a machine may then run many "
            f"times slower. Install it (it comes with the [mpi] extra) or start the "
            f"job with OMP_NUM_THREADS={threads}.",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    _thread_limiter = threadpool_limits(limits=threads)  # stays in force: never restored


# ---- collectives -----------------------------------------------------------------------------
_REDUCE_OPS = {
    "sum": "SUM",
    "prod": "PROD",
    "product": "PROD",
    "min": "MIN",
    "max": "MAX",
    "avg": "SUM",
    "mean": "SUM",
}


def _array_of(x, what):
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, numpy.ndarray) or backend.array_module(x) is not numpy:
        return x
    raise TypeError(
        f"{what} works in place on a minidl Tensor or a NumPy/CuPy array, got {type(x).__name__}"
    )


def _modified(x):
    if isinstance(x, Tensor) and hasattr(x, "_version"):
        x._bump_version()  # so a backward that saved this tensor sees the in-place write


def all_reduce(tensor, op="sum"):
    """Replace ``tensor`` on every rank by the reduction over all ranks, in place.

    op: "sum", "prod", "min", "max", or "avg" (the sum divided by the world size; float
    dtypes only). Works on Tensors and NumPy arrays, and CuPy arrays on the GPU.
    """
    array = _array_of(tensor, "all_reduce")
    name = str(op).lower()
    if name not in _REDUCE_OPS:
        raise ValueError(
            f"all_reduce: unknown op {op!r}; expected one of 'sum', 'prod', 'min', 'max', 'avg'"
        )
    averaging = _REDUCE_OPS[name] == "SUM" and name in ("avg", "mean")
    if averaging and array.dtype.kind not in "fc":
        raise TypeError(f"all_reduce(op='avg') needs a float array, got {array.dtype}")
    comm = _world()
    if backend.array_module(array) is numpy:
        op_ = getattr(_mpi(), _REDUCE_OPS[name])
        _in_place(array, lambda buf: comm.Allreduce(_mpi().IN_PLACE, buf, op=op_))
    else:
        _gpu_collective(array, "all_reduce", _REDUCE_OPS[name])
    if averaging:
        array /= comm.Get_size()
    _modified(tensor)


def broadcast(tensor, src=0):
    """Replace ``tensor`` on every rank by rank ``src``'s, in place."""
    array = _array_of(tensor, "broadcast")
    comm = _world()
    if not 0 <= int(src) < comm.Get_size():
        raise ValueError(
            f"broadcast: src={src} is not a rank of this job (0 .. {comm.Get_size() - 1})"
        )
    if backend.array_module(array) is numpy:
        _in_place(array, lambda buf: comm.Bcast(buf, root=int(src)))
    else:
        _gpu_collective(array, "broadcast", int(src))
    _modified(tensor)


def _in_place(array, collective):
    """Run ``collective`` on ``array``'s memory (through a contiguous copy if it has gaps)."""
    if not array.flags.writeable:
        raise ValueError("cannot reduce or broadcast into a read-only array")
    if array.flags.c_contiguous:
        collective(array)
    else:
        buffer = numpy.ascontiguousarray(array)
        collective(buffer)
        array[...] = buffer


# ---- GPU arrays ------------------------------------------------------------------------------
def choose_gpu_transport(nccl_available, mpi_cuda_aware):
    """How CuPy arrays travel: "nccl" when CuPy has NCCL, else "mpi" when the MPI library is
    CUDA-aware, else an error saying what to install or set."""
    if nccl_available:
        return "nccl"
    if mpi_cuda_aware:
        return "mpi"
    raise backend.BackendError(
        "minidl.distributed cannot combine GPU arrays: CuPy has no NCCL (cupy.cuda.nccl; "
        "install NCCL for your CUDA, e.g. `pip install nvidia-nccl-cu12`), and the MPI "
        "library is not declared CUDA-aware (set MINIDL_MPI_CUDA_AWARE=1 if it is, e.g. an "
        "Open MPI built with CUDA). Or train on the CPU: minidl.backend.use('numpy')."
    )


def _nccl_available():
    try:
        from cupy.cuda import nccl
    except ImportError:
        return False
    return getattr(nccl, "available", True)


def _gpu_collective(array, kind, arg):
    cupy = backend.get_cupy()
    transport = choose_gpu_transport(
        _nccl_available(), os.environ.get("MINIDL_MPI_CUDA_AWARE", "") == "1"
    )
    if not array.flags.c_contiguous:
        buffer = cupy.ascontiguousarray(array)
        _gpu_collective(buffer, kind, arg)
        array[...] = buffer
        return
    if transport == "mpi":
        cupy.cuda.get_current_stream().synchronize()  # MPI reads the memory outside CuPy's stream
        MPI, comm = _mpi(), _world()
        if kind == "all_reduce":
            comm.Allreduce(MPI.IN_PLACE, array, op=getattr(MPI, arg))
        else:
            comm.Bcast(array, root=arg)
        return
    from cupy.cuda import nccl

    comm = _nccl_communicator(nccl)
    dtype = _NCCL_DTYPES.get(array.dtype.str[1:])
    if dtype is None:
        raise TypeError(f"NCCL cannot reduce arrays of dtype {array.dtype}")
    stream = cupy.cuda.get_current_stream().ptr
    ptr = array.data.ptr
    if kind == "all_reduce":
        op = getattr(
            nccl,
            {"SUM": "NCCL_SUM", "PROD": "NCCL_PROD", "MIN": "NCCL_MIN", "MAX": "NCCL_MAX"}[arg],
        )
        comm.allReduce(ptr, ptr, array.size, getattr(nccl, dtype), op, stream)
    else:
        comm.bcast(ptr, array.size, getattr(nccl, dtype), arg, stream)


_NCCL_DTYPES = {
    "f2": "NCCL_FLOAT16",
    "f4": "NCCL_FLOAT32",
    "f8": "NCCL_FLOAT64",
    "i4": "NCCL_INT32",
    "i8": "NCCL_INT64",
    "u1": "NCCL_UINT8",
    "i1": "NCCL_INT8",
}


def _nccl_communicator(nccl):
    """One NCCL communicator over all ranks; rank 0's id reaches the others over MPI."""
    global _nccl
    if _nccl is None:
        comm = _world()
        uid = numpy.zeros(
            nccl.NCCL_UNIQUE_ID_BYTES if hasattr(nccl, "NCCL_UNIQUE_ID_BYTES") else 128, numpy.int8
        )
        if comm.Get_rank() == 0:
            uid[:] = nccl.get_unique_id()
        comm.Bcast(uid, root=0)
        _nccl = nccl.NcclCommunicator(comm.Get_size(), tuple(int(b) for b in uid), comm.Get_rank())
    return _nccl
