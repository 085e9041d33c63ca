"""The GPU half of minidl, checked in one command (under 6 minutes on a CUDA machine).

    PYTHONPATH=. python benchmarks/gpu_check.py --out gpu_check.md
    PYTHONPATH=. python benchmarks/gpu_check.py --dry-run       # what it would run, and why not
    PYTHONPATH=. python benchmarks/gpu_check.py --cpu-smoke     # the same steps, tiny, on the
                                                                # CPU through tests/fake_cupy.py

Needs: CuPy with a CUDA GPU (cupy-cudaXXx), pytest; optionally torch with CUDA (the peer
in the benchmarks; without it those columns say "-"). Nothing is installed or downloaded:
it runs from a plain checkout. MNIST must already be on disk, in $MINIDL_DATA/mnist/ or
datasets/mnist/ (the four standard .gz files); without it the training steps are skipped
and the benchmarks use random data of MNIST's shape.

Steps, each a subprocess with its own timeout; a step that fails or times out is
reported and the next one runs anyway:
  device     the GPU, its peak memory bandwidth, CUDA, CuPy and torch versions
  pytest     `pytest -m gpu`: every GPU test (a skip on a GPU machine counts as a problem)
  mnist      examples/train_mnist.py --backend cupy --epochs 3: accuracy, time per epoch
  optim      benchmarks/bench_gpu.py optim: Adam and SGD-momentum steps on 1e7 and 1e8
             float32 parameters, bandwidth against the device's peak, torch fused/foreach
  mlp        benchmarks/bench_gpu.py mlp: an MLP epoch on the GPU against torch CUDA
  cnn        examples/train_cnn.py --backend cupy, one epoch
  cnn-bench  benchmarks/bench_gpu.py cnn: bench_cnn.py's CNN, an epoch on the GPU against
             torch CUDA
The result is ONE Markdown file (--out) to paste into docs/performance.md: the device,
a table of the steps, each step's numbers, and the tail of the log of any step that
did not succeed. The whole run is also bounded (--budget seconds): a step never gets
more than what is left.
"""

import argparse
import datetime
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
LOG_TAIL_LINES = 40
MIN_STEP_SECONDS = 5  # a step is skipped when less than this is left of the budget


@dataclass
class Step:
    name: str
    title: str
    command: list
    timeout: float
    summarize: object = None  # output text -> Markdown lines (list of str)
    skip_reason: str = None  # set when the step cannot run here
    judge: object = None  # output text -> a status other than "ok" despite exit 0, or None


@dataclass
class Result:
    step: Step
    status: str  # "ok", "failed", "timed out", "skipped", "incomplete"
    seconds: float = 0.0
    output: str = ""
    returncode: int = None
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------ running a step
def run_command(command, timeout, env=None, cwd=ROOT):
    """Run ``command`` (stdout and stderr together); kill its whole process group at the
    timeout. Returns (returncode or None on timeout, output, seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        returncode = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # pytest or a training run and its children
        output, _ = proc.communicate()
        returncode = None
    return returncode, output or "", time.perf_counter() - start


def run_step(step, timeout, env=None):
    """Run one step within ``timeout`` seconds; never raises for the step's own failure."""
    if step.skip_reason:
        return Result(step, "skipped", notes=[step.skip_reason])
    if timeout < MIN_STEP_SECONDS:
        return Result(step, "skipped", notes=["no time left in the budget"])
    try:
        code, output, seconds = run_command(step.command, timeout, env)
    except OSError as exc:  # the command could not start at all
        return Result(step, "failed", output=str(exc), notes=[f"could not start: {exc}"])
    status = "timed out" if code is None else ("ok" if code == 0 else "failed")
    if status == "ok" and step.judge is not None:
        status = step.judge(output) or status
    result = Result(step, status, seconds, output, code)
    if status == "timed out":
        result.notes.append(f"stopped after {timeout:.0f} s")
    if step.summarize is not None:
        try:
            result.notes += step.summarize(output)
        except Exception as exc:  # a parser must not cost the other steps
            result.notes.append(f"(could not read the output: {exc!r})")
    return result


# ------------------------------------------------------------- reading the outputs
_PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)")


_PYTEST_VERBOSE = re.compile(r"^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)", re.M)


def parse_pytest(output):
    """Counts from pytest's final line (or, when it was stopped before printing one, from
    its verbose per-test lines), the ids of failed tests and the skip reasons."""
    counts = {}
    for line in reversed(output.splitlines()):
        found = _PYTEST_COUNT.findall(line)
        if found and (" in " in line or line.startswith("=")):
            counts = {("error" if kind.startswith("error") else kind): int(n) for n, kind in found}
            break
    verbose = _PYTEST_VERBOSE.findall(output)
    if not counts:
        for _, outcome in verbose:
            kind = outcome.lower()
            counts[kind] = counts.get(kind, 0) + 1
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
    failed += [
        test for test, outcome in verbose if outcome in ("FAILED", "ERROR") and test not in failed
    ]
    skipped = re.findall(r"^SKIPPED \[\d+\] (.+)$", output, re.M)
    return counts, failed, skipped


def judge_pytest(output):
    """A GPU test that skipped on a GPU machine is a gap: the step is "incomplete"."""
    counts, _, _ = parse_pytest(output)
    return "incomplete" if counts.get("skipped") or not counts.get("passed") else None


def summarize_pytest(output):
    counts, failed, skipped = parse_pytest(output)
    if not counts:
        return ["pytest printed no summary line"]
    notes = [", ".join(f"{n} {kind}" for kind, n in counts.items())]
    notes += [f"failed: `{test}`" for test in failed]
    if counts.get("skipped"):
        notes.append("skipped (on a GPU machine each skip is a gap in the check):")
        notes += [f"  - {reason}" for reason in skipped]
    slowest = re.findall(r"^([\d.]+)s (?:call|setup|teardown) +(\S+)$", output, re.M)
    if slowest:  # --durations: where the step's time goes (first use compiles CuPy kernels)
        notes.append("slowest: " + ", ".join(f"`{test}` {sec} s" for sec, test in slowest))
    return notes


_EPOCH = re.compile(
    r"^epoch (\d+): (?:train loss (\S+) acc (\S+), )?"
    r"test loss (\S+) acc (\S+) \(([\d.]+) s\)",
    re.M,
)


def parse_epochs(output):
    """[(epoch, train acc or None, test acc, seconds of that epoch)] from the lines the
    example trainers print ("... (cumulative seconds)")."""
    rows, previous = [], 0.0
    for epoch, _, train_acc, _, test_acc, elapsed in _EPOCH.findall(output):
        elapsed = float(elapsed)
        rows.append(
            (
                int(epoch),
                float(train_acc) if train_acc else None,
                float(test_acc),
                elapsed - previous,
            )
        )
        previous = elapsed
    return rows


def summarize_training(output):
    rows = parse_epochs(output)
    if not rows:
        return ["no epoch finished"]
    header = next((line for line in output.splitlines() if " parameters, optimizer " in line), "")
    lines = [header.strip()] if header else []
    lines += ["", "| epoch | train acc | test acc | seconds |", "|---|---|---|---|"]
    lines += [
        f"| {e} | {'-' if tr is None else f'{tr:.4f}'} | {te:.4f} | {s:.1f} |"
        for e, tr, te, s in rows
    ]
    if len(rows) > 1:
        later = [s for *_, s in rows[1:]]
        lines.append(
            f"\nfirst epoch {rows[0][3]:.1f} s, later epochs "
            f"{sum(later) / len(later):.1f} s on average (on a GPU the first "
            "epoch includes compiling CuPy's kernels)"
        )
    return lines


def summarize_tables(output):
    """The Markdown tables and the header lines a benchmark printed (not its indented
    progress lines), with a blank line before each table."""
    lines = []
    for line in output.splitlines():
        if not line.strip() or line.startswith((" ", "(", "Traceback")):
            continue
        if line.startswith("|") and not (lines and lines[-1].startswith("|")):
            lines.append("")
        lines.append(line)
    return lines


# ------------------------------------------------------------------------ the plan
def mnist_folder():
    """The folder holding MNIST's four files (from $MINIDL_DATA or datasets/), or None."""
    candidates = (
        [Path(os.environ["MINIDL_DATA"]) / "mnist"] if os.environ.get("MINIDL_DATA") else []
    )
    candidates.append(ROOT / "datasets" / "mnist")
    for folder in candidates:
        if all((folder / name).is_file() for name in MNIST_FILES):
            return folder
    return None


def gpu_test_files():
    """The test files that mark tests ``gpu`` (all of tests/ when none is found)."""
    files = [
        path
        for path in sorted((ROOT / "tests").glob("test_*.py"))
        if "mark.gpu" in path.read_text(errors="replace")
    ]
    return files or [ROOT / "tests"]


# --cpu-smoke runs every script as it runs on the GPU, but with tests/fake_cupy.py (a
# NumPy stand-in for CuPy) installed first: the whole check, end to end, without a GPU
_WITH_FAKE_CUPY = (
    "import os, runpy, sys; import fake_cupy; fake_cupy.install(); "
    "sys.argv = sys.argv[1:]; "
    "sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0]))); "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def plan(python, smoke=False, have_mnist=True):
    """The steps in order. ``smoke``: the same steps, tiny, on the stand-in for CuPy."""
    run = [python, "-c", _WITH_FAKE_CUPY] if smoke else [python]
    no_data = (
        None
        if have_mnist
        else (
            "MNIST not found: put the four .gz files in $MINIDL_DATA/mnist/ or datasets/mnist/ "
            "(nothing is downloaded here)"
        )
    )
    train_limits = ["--train-limit", "2000", "--test-limit", "500"] if smoke else []
    # (the stand-in is no GPU for torch: importing torch there would only cost time)
    optim_args = (
        ["--sizes", "1e4,1e5", "--repeat", "3", "--steps-per-block", "2", "--no-torch"]
        if smoke
        else ["--sizes", "1e7,1e8"]
    )
    mlp_args = ["--limit", "2000", "--epochs", "1", "--no-torch"] if smoke else []
    # only the files that have GPU tests are collected, and one that cannot be imported
    # there (a module missing on that machine) is reported without stopping the others
    # -v: a line per test, so a run stopped at its timeout still says what passed and failed
    pytest = (
        [
            python,
            "-m",
            "pytest",
            "-m",
            "gpu",
            "-v",
            "-rfEs",
            "--durations=5",
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
        ]
        + (["-p", "fake_cupy"] if smoke else [])
        + [str(path.relative_to(ROOT)) for path in gpu_test_files()]
    )
    steps = [
        Step(
            "device",
            "The device",
            [*run, "benchmarks/bench_gpu.py", "device", *["--no-torch"] * smoke],
            30,
            lambda out: [line for line in out.splitlines() if line.strip()][-1:],
        ),
        Step("pytest", "`pytest -m gpu`", pytest, 150, summarize_pytest, judge=judge_pytest),
        Step(
            "mnist",
            "MNIST MLP, 3 epochs (`examples/train_mnist.py --backend cupy`)",
            [
                *run,
                "examples/train_mnist.py",
                "--backend",
                "cupy",
                "--epochs",
                "3",
                "--no-progress",
                *train_limits,
            ],
            75,
            summarize_training,
            no_data,
        ),
        Step(
            "optim",
            "One optimizer step (`benchmarks/bench_gpu.py optim`)",
            [*run, "benchmarks/bench_gpu.py", "optim", *optim_args],
            60,
            summarize_tables,
        ),
        Step(
            "mlp",
            "MLP epoch against torch (`benchmarks/bench_gpu.py mlp`)",
            [*run, "benchmarks/bench_gpu.py", "mlp", *mlp_args],
            50,
            summarize_tables,
        ),
    ]
    cnn_train = ROOT / "examples" / "train_cnn.py"
    steps.append(
        Step(
            "cnn",
            "CNN, 1 epoch (`examples/train_cnn.py --backend cupy`)",
            [
                *run,
                "examples/train_cnn.py",
                "--backend",
                "cupy",
                "--epochs",
                "1",
                "--no-progress",
                *(["--train-limit", "1000", "--test-limit", "200"] if smoke else []),
            ],
            45,
            summarize_training,
            no_data or (None if cnn_train.is_file() else "examples/train_cnn.py does not exist"),
        )
    )
    steps.append(
        Step(
            "cnn-bench",
            "CNN epoch against torch (`benchmarks/bench_gpu.py cnn`)",
            [
                *run,
                "benchmarks/bench_gpu.py",
                "cnn",
                *(
                    ["--limit", "256", "--epochs", "1", "--no-torch"]
                    if smoke
                    else ["--epochs", "2"]
                ),
            ],
            45,
            summarize_tables,
        )
    )
    return steps


# ---------------------------------------------------------------------- the report
def markdown(results, started, budget, smoke):
    """The summary file's text."""
    device = next((r for r in results if r.step.name == "device"), None)
    if device and device.status == "ok" and device.notes:
        device_line = device.notes[-1]
    elif device and device.output.strip():  # say why, in one line: the error's last line
        device_line = f"no usable GPU: {device.output.strip().splitlines()[-1]}"
    else:
        device_line = "device unknown (the device step did not run)"
    kind = (
        ("CPU smoke run of the GPU check on tests/fake_cupy.py (plumbing only, no GPU numbers)")
        if smoke
        else "GPU check"
    )
    lines = [
        f"## {kind}, {started:%Y-%m-%d %H:%M} UTC",
        "",
        device_line,
        "",
        f"`PYTHONPATH=. python benchmarks/gpu_check.py` (budget {budget:.0f} s, "
        f"{sum(r.seconds for r in results):.0f} s used)",
        "",
        "| step | status | seconds |",
        "|---|---|---|",
    ]
    lines += [f"| {r.step.name} | {r.status} | {r.seconds:.0f} |" for r in results]
    for r in results:
        if r.step.name == "device":
            continue
        lines += ["", f"### {r.step.title}: {r.status}", ""]
        lines += r.notes or ["(nothing to report)"]
        if r.status in ("failed", "timed out", "incomplete") and r.output:
            tail = r.output.rstrip().splitlines()[-LOG_TAIL_LINES:]
            lines += ["", f"Last {len(tail)} lines of the log:", "", "```", *tail, "```"]
    return "\n".join(lines) + "\n"


def write_atomically(path, text):
    """Write through a temporary file and a rename: a killed run leaves the last summary."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default="gpu_check.md", help="the Markdown summary to write")
    ap.add_argument("--budget", type=float, default=340, help="seconds for all steps together")
    ap.add_argument("--only", nargs="*", default=None, help="run only these steps")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    ap.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="run the same steps on the CPU with tiny sizes (checks this script)",
    )
    args = ap.parse_args(argv)

    folder = mnist_folder()
    paths = [str(ROOT)] + [str(ROOT / "tests")] * args.cpu_smoke  # tests/: fake_cupy
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            paths + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
    )
    if folder is not None:
        env["MINIDL_DATA"] = str(folder.parent)
    steps = plan(sys.executable, smoke=args.cpu_smoke, have_mnist=folder is not None)
    if args.only:
        unknown = set(args.only) - {s.name for s in steps}
        if unknown:
            ap.error(f"unknown step(s) {sorted(unknown)}; the steps are {[s.name for s in steps]}")
        steps = [s for s in steps if s.name in args.only]
    print(f"MNIST: {folder or 'not found ($MINIDL_DATA/mnist/ or datasets/mnist/)'}")
    if args.dry_run:
        for s in steps:
            what = (
                f"skip: {s.skip_reason}"
                if s.skip_reason
                else " ".join(map(str, s.command)).replace(
                    f"-c {_WITH_FAKE_CUPY}", "(with fake_cupy)"
                )
            )
            print(f"{s.name:10s} {s.timeout:4.0f} s  {what}")
        return 0

    started = datetime.datetime.now(datetime.timezone.utc)
    deadline = time.monotonic() + args.budget
    results = []
    for s in steps:
        left = deadline - time.monotonic()
        print(
            f"[{s.name}] {'skipped' if s.skip_reason else 'running'} "
            f"(timeout {min(s.timeout, left):.0f} s)",
            flush=True,
        )
        result = run_step(s, min(s.timeout, left), env)
        results.append(result)
        print(f"[{s.name}] {result.status} in {result.seconds:.0f} s", flush=True)
        for note in result.notes:
            print(f"    {note}")
        write_atomically(Path(args.out), markdown(results, started, args.budget, args.cpu_smoke))
    print(f"summary: {args.out}")
    return 0 if all(r.status in ("ok", "skipped") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
