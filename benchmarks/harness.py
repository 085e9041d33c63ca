"""Small shared helpers for the benchmarks: threads, timing, tables.

Import this module and call :func:`limit_threads` *before* NumPy (or torch) is imported:
BLAS and OpenMP read their thread counts once, at load time::

    import harness
    harness.limit_threads(1)
    import numpy as np

Timing is by medians over repetitions after warm-up, and candidates that are compared
are run interleaved (one repetition of each in turn), so that a slow phase of the machine
hits them all alike. Results are ratios against a peer measured in the same run.
"""

import datetime
import os
import platform
import statistics
import sys
import time

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def limit_threads(n):
    """Set the thread-count variables of OpenMP, OpenBLAS, MKL, ... to ``n`` (None: leave).

    Takes effect only for libraries loaded afterwards: call it before importing NumPy.
    Returns ``n``. Never touches OPENBLAS_CORETYPE.
    """
    if n is None:
        return None
    if "numpy" in sys.modules:
        print(
            "harness.limit_threads: NumPy is already imported; BLAS keeps its thread count",
            file=sys.stderr,
        )
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    return n


def threads_from_argv(argv, default=1):
    """The value of ``--threads N`` / ``--threads=N`` in ``argv`` (before argparse runs)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return default


def import_torch(threads=None):
    """torch, with ``torch.set_num_threads(threads)``, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    if threads is not None:
        torch.set_num_threads(threads)
    return torch


def time_once(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_time(fn, repeat=7, warmup=1):
    """Median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    return statistics.median(time_once(fn) for _ in range(repeat))


def interleaved(candidates, repeat=7, warmup=1):
    """Time several candidates in turn: {name: fn} -> {name: [seconds, ...]}.

    Each round runs every candidate once, so the medians of the lists compare fairly.
    A candidate that is None is skipped (and reported as None).
    """
    live = {k: f for k, f in candidates.items() if f is not None}
    for _ in range(warmup):
        for f in live.values():
            f()
    times = {k: [] for k in live}
    for _ in range(repeat):
        for k, f in live.items():
            times[k].append(time_once(f))
    return {k: times.get(k) for k in candidates}


def medians(times):
    """{name: [seconds]} -> {name: median seconds or None}."""
    return {k: (statistics.median(v) if v else None) for k, v in times.items()}


def machine_line(threads=None):
    """One line: date, CPU, cores, Python, NumPy (and torch) versions, thread limit."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    parts = [
        datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        cpu,
        f"{os.cpu_count()} cores",
        f"Python {platform.python_version()}",
    ]
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        parts.append(f"NumPy {numpy.__version__}")
    torch = sys.modules.get("torch")
    if torch is not None:
        parts.append(f"torch {torch.__version__}")
    if threads is not None:
        parts.append(f"{threads} thread(s)")
    return " | ".join(parts)


def fmt(value, unit="ms", digits=2):
    """A time in seconds as text in ``unit`` (ms or us); '-' for None."""
    if value is None:
        return "-"
    scale = {"s": 1, "ms": 1e3, "us": 1e6}[unit]
    return f"{value * scale:.{digits}f}"


def ratio(a, b, digits=2):
    """a / b as text like '2.31x'; '-' when either is missing."""
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.{digits}f}x"


def table(headers, rows, file=None):
    """Print a Markdown table (so the README can quote it as is)."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
        for i, h in enumerate(headers)
    ]
    out = file or sys.stdout
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |", file=out)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=out)
    for r in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |", file=out)
    out.flush()
