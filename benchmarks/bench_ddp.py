"""Data-parallel training step on 1 and 2 ranks: compute against gradient allreduce.

    python benchmarks/bench_ddp.py                  # ranks 1 and 2, the MNIST MLP, batch 128
    python benchmarks/bench_ddp.py --ranks 1 2 4 --steps 50 --batch-size 256

Starts ``mpiexec -n N`` on this script for each N (needs the [mpi] extra), and 1 rank on
one BLAS thread too, for a fair base on a machine of few cores. Each rank trains
DistributedDataParallel(784-512-256-10 MLP, 535,818 float32 parameters) with Adam on its
1/N of a global batch of random MNIST-shaped data (timing does not depend on the values),
with minidl's default BLAS threads per rank (cores / ranks). Per step, medians over the
timed steps, on rank 0:

  step        forward + backward (ending in the allreduce) + optimizer step
  allreduce   DDP's gradient averaging at the end of backward: copy into the flat bucket,
              MPI allreduce (which includes waiting for the slowest rank), copy back
  compute     step - allreduce on the rank that computed longest in that step (the
              others wait for it inside their allreduce)
  bare        the MPI allreduce alone on a buffer of that size, all ranks ready (a barrier
              first), the best of as many tries: the transfer itself (a median would add
              the time a rank spends descheduled on a busy machine); allreduce - bare is
              copying and waiting for a slower rank
  messages    allreduce calls per step, and the bytes each rank sends into them

Projection. A ring allreduce of B bytes over N ranks sends and receives 2(N-1)/N * B per
rank, so from the 2-rank bare allreduce time t2 (N = 2: 1.0 * B) the cost for N ranks is about
t(N) = 2(N-1)/N * t2 over the same interconnect (here shared memory; across machines,
measure there), and with a fixed batch per rank (weak scaling), the efficiency is
compute / (compute + t(N)), with compute measured at 2 ranks. The projection leaves out
the per-message latency (2(N-1) hops of a ring) and load imbalance, which grow with N.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))


def worker(args):
    import numpy as np

    import minidl
    import minidl.distributed as dist
    from minidl import nn
    from minidl.nn.parallel import DistributedDataParallel

    dist.init()
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} does not split over {world} ranks")
    local = args.batch_size // world
    minidl.manual_seed(0)
    model = DistributedDataParallel(
        nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 512),
            nn.ReLU(),
            nn.Linear(512, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
        )
    )
    optimizer = minidl.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(rank)
    x = minidl.tensor(rng.random((local, 1, 28, 28), dtype=np.float32))
    y = minidl.tensor(rng.integers(0, 10, local))

    allreduce_times = []
    average = model._average_gradients

    def timed_average():
        start = time.perf_counter()
        average()
        allreduce_times.append(time.perf_counter() - start)

    object.__setattr__(model, "_average_gradients", timed_average)  # bench-only probe
    step_times = []
    for _ in range(args.warmup + args.steps):
        dist.barrier()  # every step starts together: the allreduce then measures imbalance only
        start = time.perf_counter()
        optimizer.zero_grad()
        minidl.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        step_times.append(time.perf_counter() - start)
    step = statistics.median(step_times[args.warmup :])
    allreduce = statistics.median(allreduce_times[args.warmup :])
    # compute per step on the slowest rank of that step (a busy machine delays one rank or
    # the other at random, so a per-rank median would hide it): step - allreduce, maxed
    slowest = np.array(step_times) - np.array(allreduce_times)
    dist.all_reduce(slowest, op="max")
    compute = statistics.median(slowest[args.warmup :])
    transfer_times = []  # the bare MPI allreduce of a bucket's size, every rank ready
    buffer = np.zeros(sum(model.bucket_sizes) // 4, np.float32)
    for _ in range(args.warmup + args.steps):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(buffer)
        transfer_times.append(time.perf_counter() - start)
    transfer = min(transfer_times[args.warmup :])
    if rank == 0:
        import threadpoolctl

        blas = [
            p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"
        ]
        print(
            "RESULT "
            + json.dumps(
                {
                    "ranks": world,
                    "batch_per_rank": local,
                    "step": step,
                    "allreduce": allreduce,
                    "transfer": transfer,
                    "compute": float(compute),
                    "messages": len(model.bucket_sizes),
                    "bytes": sum(model.bucket_sizes),
                    "blas_threads": blas[0] if blas else None,
                }
            )
        )


def launch(ranks, args, threads=None):
    mpiexec = shutil.which(
        "mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    )
    if mpiexec is None:
        raise SystemExit('bench_ddp: no mpiexec; install the mpi extra: pip install -e ".[mpi]"')
    command = [
        mpiexec,
        "-n",
        str(ranks),
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--batch-size",
        str(args.batch_size),
    ]
    env = dict(os.environ)
    if threads is not None:
        env["MINIDL_NUM_THREADS"] = str(threads)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"bench_ddp: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(lines[0][len("RESULT ") :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128, help="global batch")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    import harness
    import numpy  # noqa: F401  (named in the machine line)

    print(harness.machine_line())
    results = [launch(n, args) for n in args.ranks]
    if 1 in args.ranks and (os.cpu_count() or 1) > 1:
        results.insert(1, launch(1, args, threads=1))  # the same work on one core
    print(
        f"\nOne step of the MNIST MLP with Adam, global batch {args.batch_size} "
        f"(medians of {args.steps} steps):\n"
    )
    single = next((r for r in results if r["ranks"] == 1 and r["blas_threads"] == 1), results[0])
    harness.table(
        [
            "ranks",
            "batch/rank",
            "BLAS threads",
            "step ms",
            "compute ms",
            "allreduce ms",
            "bare allreduce ms (best)",
            "messages",
            "bytes/rank",
            f"speed-up vs 1 rank x {single['blas_threads']} thread(s)",
        ],
        [
            [
                r["ranks"],
                r["batch_per_rank"],
                r["blas_threads"],
                harness.fmt(r["step"]),
                harness.fmt(r["compute"]),
                harness.fmt(r["allreduce"]),
                harness.fmt(r["transfer"]),
                r["messages"],
                f"{r['bytes']:,}",
                harness.ratio(single["step"], r["step"]),
            ]
            for r in results
        ],
    )
    pair = next((r for r in results if r["ranks"] == 2), None)
    if pair is None:
        return
    t2, compute = pair["transfer"], pair["compute"]
    print(
        f"\nProjected for N ranks from the 2-rank bare allreduce ({harness.fmt(t2)} ms for "
        f"{pair['bytes']:,} bytes) and the 2-rank compute ({harness.fmt(compute)} ms at "
        f"{pair['batch_per_rank']} images per rank), ring allreduce 2(N-1)/N of the buffer:\n"
    )
    rows = []
    for n in (2, 4, 8, 16, 64):
        t = 2 * (n - 1) / n * t2
        rows.append([n, harness.fmt(t), f"{compute / (compute + t):.0%}"])
    harness.table(["ranks N", "allreduce ms", "efficiency (fixed batch per rank)"], rows)


if __name__ == "__main__":
    main()
