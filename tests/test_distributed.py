"""Data-parallel training: DistributedSampler, the engine's end-of-backward callback, and,
under ``mpiexec -n 2``, minidl.distributed's collectives and DistributedDataParallel, on the
CPU and on the GPU paths (NCCL, CUDA-aware MPI) through tests/fake_cupy.py.

The MPI tests start the scripts tests/mpi_*.py with the mpiexec next to this Python (the
venv's, from the [mpi] extra) or on PATH, in their own process group, and kill the whole
group after a timeout, so a rank that hangs cannot hang the test run. They are skipped,
with the reason, where mpi4py or mpiexec is missing.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import minidl
import minidl.distributed as dist
from minidl import autograd
from minidl.backend import BackendError
from minidl.data import DataLoader, DistributedSampler, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TIMEOUT = 60  # seconds for one mpiexec job; the jobs take 1-3 s


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None, 'mpi4py is not installed (pip install -e ".[mpi]")'
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    found = shutil.which("mpiexec", path=path)
    return (found, None) if found else (None, "no mpiexec next to this Python or on PATH")


MPIEXEC, NO_MPI = _mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason=NO_MPI or "")


def run_mpi(script, *args, ranks=2):
    """(exit status, output) of ``mpiexec -n ranks python script args`` (script: a path
    from the repository root, or a file in tests/)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in dist._THREAD_VARIABLES:  # let minidl choose the threads per rank
        env.pop(name, None)
    job = subprocess.Popen(
        [
            MPIEXEC,
            "-n",
            str(ranks),
            sys.executable,
            os.path.join(HERE if os.sep not in script else ROOT, script),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        output, _ = job.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        output, _ = job.communicate()
        pytest.fail(f"mpiexec {script} {' '.join(args)} hung for {TIMEOUT} s:\n{output}")
    return job.returncode, output


def result_of(script):
    status, output = run_mpi(script)
    assert status == 0, output
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, output
    return json.loads(lines[0][len("RESULT ") :])


# ---- MPI: collectives ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def collectives():
    return result_of("mpi_collectives.py")


@needs_mpi
def test_all_reduce_and_broadcast(collectives):
    c = collectives
    assert c["world_size"] == 2
    assert c["sum_tensor"] == [3.0, 6.0, 9.0]  # (1 + 2) * [1, 2, 3]
    assert c["version_bumped"]
    assert c["max"] == [2.0, 10.0] and c["min"] == [1.0, 9.0]
    assert c["prod"] == [2.0, 90.0] and c["avg"] == [1.5, 9.5]
    assert c["int_sum"] == [1, 10]
    assert c["strided"] == (np.arange(12.0).reshape(3, 4)[:, ::2] * 3).tolist()
    assert c["broadcast_from_1"] == [[7, 8, 9, 10], [7, 8, 9, 10]]


@needs_mpi
def test_collective_errors_name_the_problem(collectives):
    errors = collectives["errors"]
    assert "unknown op 'median'" in errors["bad_op"]
    assert "src=2 is not a rank" in errors["bad_src"]
    assert "Tensor or a NumPy/CuPy array, got list" in errors["not_array"]
    assert errors["avg_int"].startswith("TypeError") and "int64" in errors["avg_int"]


@needs_mpi
def test_each_rank_gets_its_share_of_blas_threads(collectives):
    try:
        mine = len(os.sched_getaffinity(0))
    except AttributeError:
        mine = os.cpu_count()
    cores = os.cpu_count()
    expected = mine if mine < cores else max(1, cores // 2)
    assert collectives["blas_threads"] and set(collectives["blas_threads"]) == {expected}


# ---- MPI: DistributedDataParallel --------------------------------------------------------------
@pytest.fixture(scope="module")
def ddp():
    return result_of("mpi_ddp_step.py")


@needs_mpi
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("float64", 1e-12)])
def test_two_ranks_step_like_one_process_on_the_global_batch(ddp, optimizer, dtype, rtol):
    (run,) = [r for r in ddp["steps"] if r["optimizer"] == optimizer and r["dtype"] == dtype]
    assert run["spread_at_start"] == 0.0  # rank 0's initial weights were broadcast
    assert run["moved"] > 1e-3  # three steps really changed the weights
    assert run["rel_error"] <= rtol
    assert run["spread_after"] == 0.0  # the replicas stayed identical, bit for bit
    assert run["state_dict_keys"] == ["0.weight", "0.bias", "2.weight", "2.bias"]


@needs_mpi
def test_unused_parameters(ddp):
    # used on rank 0 only: rank 1 counts as zero in the average; unused everywhere: None
    assert ddp["unused"]["sometimes_grad_error"] < 1e-12
    assert ddp["unused"]["never_grad_is_none"]


@needs_mpi
def test_gradient_accumulation_with_and_without_no_sync(ddp):
    assert ddp["accumulate_no_sync"] < 1e-12
    assert ddp["accumulate_synced_twice"] < 1e-12


@needs_mpi
def test_a_model_cast_after_wrapping_averages_in_its_new_dtype(ddp):
    assert ddp["cast_after_wrapping"] < 1e-12  # float32 buckets would round to ~1e-8


@needs_mpi
def test_a_failed_backward_does_not_stop_the_next_from_averaging(ddp):
    assert ddp["after_failed_backward"] < 1e-12


@needs_mpi
def test_autograd_grad_through_ddp_is_the_local_gradient(ddp):
    assert ddp["autograd_grad"]["error"] < 1e-12
    assert ddp["autograd_grad"]["grad_untouched"]


@needs_mpi
def test_distributed_sampler_shards_cover_the_dataset_once(ddp):
    assert ddp["sampler_counts"] == [1.0] * 10


# ---- MPI: the GPU paths, on tests/fake_cupy.py ------------------------------------------------
@needs_mpi
@pytest.mark.parametrize("transport", ["nccl", "mpi"])
def test_gpu_arrays_through_nccl_or_cuda_aware_mpi(transport):
    status, output = run_mpi("mpi_gpu_fake.py", transport)
    assert status == 0, output
    (line,) = [l for l in output.splitlines() if l.startswith("RESULT ")]
    r = json.loads(line[len("RESULT ") :])
    assert r["sum"] == [3.0, 6.0, 9.0] and r["broadcast"] == [10.0] * 3 and r["max"] == [1.0, 5.0]
    assert r["grad_rel_error"] < 1e-5  # DDP on "GPU" parameters: the global batch's gradient
    if transport == "nccl":
        assert r["nccl_calls"] == ["allReduce", "bcast", "init"]
        # sum of 3, max of 2, then DDP's one bucket: 6*8 + 8 + 8*3 + 3 gradients + 4 flags
        assert r["nccl_counts"] == [3, 2, 87]
    else:
        assert r["nccl_calls"] == []


# ---- MPI: failures end the job -----------------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize("mode", ["raise", "die"])
def test_a_failing_rank_ends_the_job_instead_of_hanging(mode):
    status, output = run_mpi("mpi_failure.py", mode)
    assert status != 0, output
    assert "finished" not in output
    if mode == "raise":
        assert "rank 1 fails on purpose" in output  # the traceback is shown


# ---- MPI: the example's --distributed -----------------------------------------------------------
DATA = os.environ.get("MINIDL_DATA")


@needs_mpi
@pytest.mark.skipif(
    not DATA or not os.path.isdir(os.path.join(DATA, "mnist")),
    reason="real MNIST not found: set MINIDL_DATA to a folder holding mnist/",
)
def test_train_mnist_distributed_prints_once_and_resumes_exactly(tmp_path):
    quick = [
        os.path.join("examples", "train_mnist.py"),
        "--distributed",
        "--data-dir",
        DATA,
        "--no-progress",
        "--train-limit",
        "600",
        "--test-limit",
        "200",
        "--hidden",
        "32",
        "--batch-size",
        "60",
        "--schedule",
        "constant",
    ]

    def epochs_of(*args):
        status, output = run_mpi(*quick, *args)
        assert status == 0, output
        return [line.split(" (")[0] for line in output.splitlines() if line.startswith("epoch ")]

    straight = epochs_of("--epochs", "2")
    assert len(straight) == 2  # one report per epoch: only rank 0 prints
    checkpoint = str(tmp_path / "ckpt.npz")
    assert epochs_of("--epochs", "1", "--save", checkpoint) == straight[:1]
    assert epochs_of("--epochs", "2", "--resume", checkpoint) == straight[1:]
    status, output = run_mpi(*quick, "--batch-size", "61")
    assert status == 2 and "--batch-size 61 does not split evenly over 2 ranks" in output


# ---- without MPI ---------------------------------------------------------------------------------
def ranks_of(n, replicas, **options):
    dataset = TensorDataset(np.arange(n))
    return [
        list(DistributedSampler(dataset, num_replicas=replicas, rank=r, **options))
        for r in range(replicas)
    ]


def test_distributed_sampler_without_shuffle_pads_by_repeating_the_start():
    assert ranks_of(10, 3, shuffle=False) == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    assert ranks_of(10, 3, shuffle=False, drop_last=True) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert ranks_of(2, 3, shuffle=False) == [[0], [1], [0]]
    assert ranks_of(9, 3, shuffle=False, drop_last=True) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


def test_distributed_sampler_shuffles_the_same_permutation_on_every_rank():
    shares = ranks_of(10, 3, seed=5)
    assert [len(s) for s in shares] == [4, 4, 4]
    interleaved = [shares[i % 3][i // 3] for i in range(12)]  # rank r took positions r, r+3, ...
    assert sorted(interleaved[:10]) == list(range(10)) and interleaved[:10] != list(range(10))
    assert interleaved[10:] == interleaved[:2]  # padding repeats the permutation's start
    assert ranks_of(10, 3, seed=5) == shares  # a seed is a fixed order
    assert ranks_of(10, 3, seed=6) != shares


def test_distributed_sampler_set_epoch_changes_the_order():
    sampler = DistributedSampler(TensorDataset(np.arange(20)), num_replicas=2, rank=1)
    first = list(sampler)
    assert list(sampler) == first  # the same epoch gives the same order
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and len(sampler) == 10
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_distributed_sampler_checks_its_arguments():
    dataset = TensorDataset(np.arange(4))
    with pytest.raises(
        ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"
    ):
        DistributedSampler(dataset, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas should be at least 1"):
        DistributedSampler(dataset, num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="rank should be an integer"):
        DistributedSampler(dataset, num_replicas=2, rank=0.5)
    if not dist.is_initialized():
        with pytest.raises(RuntimeError, match="pass num_replicas and rank"):
            DistributedSampler(dataset)


def test_dataloader_batches_the_sampler_order():
    dataset = TensorDataset(np.arange(10) * 10)
    sampler = DistributedSampler(dataset, num_replicas=3, rank=1, shuffle=False)
    loader = DataLoader(dataset, batch_size=3, sampler=sampler)
    assert len(loader) == 2
    assert [b.data.tolist() for (b,) in loader] == [[10, 40, 70], [0]]
    loader = DataLoader(dataset, batch_size=3, sampler=sampler, drop_last=True)
    assert len(loader) == 1 and [b.data.tolist() for (b,) in loader] == [[10, 40, 70]]
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(dataset, sampler=sampler, shuffle=True)


def test_threads_per_rank(monkeypatch):
    for name in dist._THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert [dist.threads_per_rank(n) for n in (1, 2, 3, 16)] == [8, 4, 2, 1]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert dist.threads_per_rank(4) == 1  # the launcher bound this rank to one core
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert dist.threads_per_rank(2) == 3  # the user's choice wins
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="OMP_NUM_THREADS='many'"):
        dist.threads_per_rank(2)


def test_gpu_arrays_travel_through_nccl_else_cuda_aware_mpi_else_an_error():
    assert dist.choose_gpu_transport(nccl_available=True, mpi_cuda_aware=True) == "nccl"
    assert dist.choose_gpu_transport(nccl_available=True, mpi_cuda_aware=False) == "nccl"
    assert dist.choose_gpu_transport(nccl_available=False, mpi_cuda_aware=True) == "mpi"
    with pytest.raises(BackendError, match="no NCCL.*MINIDL_MPI_CUDA_AWARE=1.*use\\('numpy'\\)"):
        dist.choose_gpu_transport(nccl_available=False, mpi_cuda_aware=False)


def test_missing_mpi4py_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # makes `import mpi4py` fail
    monkeypatch.setattr(dist, "_MPI", None)
    monkeypatch.setattr(dist, "_comm", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[mpi\]"'):
        dist.init()
    with pytest.raises(RuntimeError, match="call minidl.distributed.init"):
        dist.get_rank()


def test_queue_callback_runs_once_backward_has_finished():
    seen = []

    class Mark(minidl.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            autograd.queue_callback(lambda: seen.append((x.grad.data.copy(), y.grad.data.copy())))
            return g

    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = minidl.tensor([3.0, 4.0], requires_grad=True)
    (Mark.apply(x * y) + 5 * y).sum().backward()  # y.grad complete, in whatever order
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0][0], [3.0, 4.0])
    np.testing.assert_array_equal(seen[0][1], [6.0, 7.0])
    with pytest.raises(RuntimeError, match="only be called during backward"):
        autograd.queue_callback(lambda: None)
