"""benchmarks/gpu_check.py and bench_gpu.py, checked on the CPU: the orchestration (a
failing or hanging step does not stop the others), the readers of pytest's and the
trainers' output against the real programs, the bandwidth arithmetic and the device
query's fallbacks with a stand-in for CuPy, and bench_gpu's code run on NumPy."""

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
from contextlib import redirect_stdout
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_check():
    return _load("gpu_check")


@pytest.fixture(scope="module")
def bench_gpu():
    return _load("bench_gpu")


def _python(code):
    return [sys.executable, "-c", code]


def test_a_failing_or_hanging_step_does_not_stop_the_others(gpu_check, tmp_path, monkeypatch):
    Step = gpu_check.Step
    steps = [
        Step("first", "Prints", _python("print('| a | b |')"), 30, gpu_check.summarize_tables),
        Step("broken", "Fails", _python("print('context line'); raise SystemExit(3)"), 30),
        Step(
            "hangs",
            "Sleeps",
            _python("import time; print('started', flush=True); time.sleep(60)"),
            1.5,
        ),
        Step("absent", "Cannot run", ["true"], 30, skip_reason="needs something absent"),
        Step("last", "Still runs", _python("print('done')"), 30),
    ]
    monkeypatch.setattr(gpu_check, "plan", lambda python, smoke, have_mnist: steps)
    monkeypatch.setattr(gpu_check, "MIN_STEP_SECONDS", 1)
    out = tmp_path / "summary.md"
    assert gpu_check.main(["--out", str(out), "--budget", "60"]) == 1  # not all ok
    text = out.read_text()
    for name, status in [
        ("first", "ok"),
        ("broken", "failed"),
        ("hangs", "timed out"),
        ("absent", "skipped"),
        ("last", "ok"),
    ]:
        assert f"| {name} | {status} |" in text
    assert "| a | b |" in text  # the summarizer's output
    assert "context line" in text  # the tail of the failed step's log
    assert "started" in text and "stopped after 2 s" in text
    assert "needs something absent" in text
    assert not list(tmp_path.glob("*.tmp"))  # written through a rename


def test_the_budget_bounds_every_step(gpu_check, tmp_path, monkeypatch):
    steps = [
        gpu_check.Step("slow", "Sleeps", _python("import time; time.sleep(60)"), 100),
        gpu_check.Step("after", "No time", _python("print(1)"), 100),
    ]
    monkeypatch.setattr(gpu_check, "plan", lambda python, smoke, have_mnist: steps)
    monkeypatch.setattr(gpu_check, "MIN_STEP_SECONDS", 1)
    out = tmp_path / "summary.md"
    gpu_check.main(["--out", str(out), "--budget", "1.5"])
    text = out.read_text()
    assert "| slow | timed out |" in text
    assert "| after | skipped |" in text and "no time left in the budget" in text


def test_dry_run_names_what_is_missing(gpu_check, monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "mnist_folder", lambda: None)
    assert gpu_check.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    for name in ("device", "pytest", "mnist", "optim", "mlp", "cnn"):
        assert f"\n{name} " in out
    assert "-m pytest -m gpu" in out and "bench_gpu.py optim --sizes 1e7,1e8" in out
    assert "skip: MNIST not found" in out and "nothing is downloaded" in out
    with pytest.raises(SystemExit):
        gpu_check.main(["--dry-run", "--only", "bogus"])
    assert "unknown step(s) ['bogus']" in capsys.readouterr().err


def test_pytest_collects_only_the_files_with_gpu_tests(gpu_check):
    names = [path.name for path in gpu_check.gpu_test_files()]
    assert "test_gpu.py" in names and "test_gpu_ops.py" in names
    assert "test_readme.py" not in names and "test_gpu_check.py" not in names
    pytest_step = next(s for s in gpu_check.plan("python") if s.name == "pytest")
    assert "tests/test_gpu.py" in pytest_step.command


def test_pytest_reader_on_a_real_pytest_run(gpu_check, tmp_path):
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent("""
        import time
        import pytest
        def test_good(): time.sleep(0.02)  # above --durations' 5 ms floor
        def test_bad(): assert 1 == 2
        @pytest.mark.skip(reason="no frobnicator here")
        def test_skipped(): pass
    """)
    )
    (tmp_path / "test_unimportable.py").write_text("import no_such_module_here\n")
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-v",
            "-rfEs",
            "--durations=5",
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    counts, failed, skipped = gpu_check.parse_pytest(output)
    assert counts == {"failed": 1, "passed": 1, "skipped": 1, "error": 1}
    assert sorted(f.split("::")[-1] for f in failed) == ["test_bad", "test_unimportable.py"]
    assert len(skipped) == 1 and "no frobnicator here" in skipped[0]
    notes = gpu_check.summarize_pytest(output)
    assert notes[0] == "1 failed, 1 passed, 1 skipped, 1 error"
    assert notes[-1].startswith("slowest: `") and "test_sample.py::" in notes[-1]
    assert gpu_check.judge_pytest(output) == "incomplete"  # a skip on the GPU is a gap
    assert gpu_check.judge_pytest("==== 3 passed in 0.1s ====") is None
    assert gpu_check.judge_pytest("==== 5 deselected in 0.1s ====") == "incomplete"
    # stopped at its timeout before the summary: the per-test lines still count
    cut = output[: output.index("\n", output.index("test_skipped SKIPPED")) + 1]
    counts, failed, _ = gpu_check.parse_pytest(cut)
    assert counts == {"passed": 1, "failed": 1, "skipped": 1}
    assert [f.split("::")[-1] for f in failed] == ["test_bad"]


def test_epoch_reader_on_the_real_trainer(gpu_check, load_example, capsys):
    if not gpu_check.mnist_folder():
        pytest.skip("needs MNIST in $MINIDL_DATA/mnist/")
    history = load_example("train_mnist").main(
        [
            "--epochs",
            "2",
            "--train-limit",
            "256",
            "--test-limit",
            "128",
            "--no-progress",
            "--hidden",
            "16",
            "--data-dir",
            str(gpu_check.mnist_folder().parent),
        ]
    )
    rows = gpu_check.parse_epochs(capsys.readouterr().out)
    assert [r[0] for r in rows] == [1, 2]
    assert [r[2] for r in rows] == [round(h["test_acc"], 4) for h in history]
    assert all(0 <= r[1] <= 1 and r[3] >= 0 for r in rows)


def test_peak_bandwidth_arithmetic(bench_gpu):
    # an H100 SXM: HBM3 at 2619 MHz on a 5120-bit bus, double data rate:
    # 2 * 2.619e9 /s * 640 B = 3352.32 GB/s
    assert bench_gpu.peak_bandwidth(2_619_000, 5120) == pytest.approx(3352.32e9)
    assert bench_gpu.peak_bandwidth(None, 5120) is None and bench_gpu.peak_bandwidth(0, 64) is None
    assert bench_gpu.gb_per_s(28e7, 0.1) == pytest.approx(2.8) and bench_gpu.gb_per_s(1, 0) is None


def _fake_cupy(props, attributes):
    runtime = types.SimpleNamespace(
        getDeviceProperties=lambda index: dict(props),
        deviceGetAttribute=lambda number, index: attributes[number],
        runtimeGetVersion=lambda: 13000,
        driverGetVersion=lambda: 13010,
    )
    cuda = types.SimpleNamespace(runtime=runtime, Device=lambda: types.SimpleNamespace(id=0))
    return types.SimpleNamespace(cuda=cuda, __version__="13.9.9")


@pytest.mark.parametrize("in_props", [True, False], ids=["cuda12-props", "cuda13-attributes"])
def test_device_properties_find_the_memory_clock_either_way(bench_gpu, in_props):
    """CUDA 13 removed memoryClockRate and memoryBusWidth from cudaDeviceProp: the query
    falls back to the device attributes 36 and 37."""
    props = {
        "name": b"Fake GPU",
        "totalGlobalMem": 80 * 2**30,
        "major": 9,
        "minor": 0,
        "multiProcessorCount": 132,
    }
    if in_props:
        props.update(memoryClockRate=2_619_000, memoryBusWidth=5120)
    attributes = {36: 2_619_000, 37: 5120}
    dev = object.__new__(bench_gpu.Device)
    dev.name, dev.gpu, dev.xp, dev.torch = "gpu", True, _fake_cupy(props, attributes), None
    info = dev.properties()
    assert info["peak_gb_s"] == pytest.approx(3352.32)
    assert info["name"] == "Fake GPU" and info["compute_capability"] == "9.0"
    line = bench_gpu.describe(info)
    assert "Fake GPU, 80 GiB" in line and "peak 3352 GB/s" in line and "CuPy 13.9.9" in line


def test_bench_gpu_epochs_run_on_numpy(bench_gpu, monkeypatch):
    """The MLP and CNN benchmarks' code (data, models, the table) on the CPU; the
    optimizer benchmark runs in the smoke test below."""
    monkeypatch.delenv("MINIDL_DATA", raising=False)  # random images: no MNIST to decode
    out = io.StringIO()
    with redirect_stdout(out):
        for kind in ("mlp", "cnn"):  # without torch, whose import takes seconds
            bench_gpu.main(
                [
                    kind,
                    "--device",
                    "cpu",
                    "--limit",
                    "128",
                    "--epochs",
                    "1",
                    "--optimizer",
                    "adam",
                    "--no-torch",
                ]
            )
    text = out.getvalue()
    assert "CPU smoke run (not a benchmark)" in text
    for batch in (128, 64):
        assert re.search(rf"\|\s+adam \|\s+{batch} \|\s+minidl \|\s+[\d.]+ \|", text)


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="the CuPy stand-in compiles kernel bodies with cc or gcc",
)
def test_cpu_smoke_runs_the_gpu_commands_on_the_stand_in(tmp_path):
    """--cpu-smoke: the same scripts with --backend cupy / the GPU device, through
    tests/fake_cupy.py, end to end (two steps here, to stay quick)."""
    out = tmp_path / "smoke.md"
    env = dict(os.environ, PYTHONPATH=str(BENCHMARKS.parent))
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "gpu_check.py"),
            "--cpu-smoke",
            "--only",
            "device",
            "optim",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = out.read_text()
    assert "| device | ok |" in text and "| optim | ok |" in text
    assert "fake_cupy (NumPy)" in text and "One optimizer step on gpu" in text
    assert "|  1e+04 |         Adam |      28 |" in text


def test_the_summary_says_why_there_is_no_gpu(gpu_check):
    import datetime

    step = gpu_check.Step("device", "The device", ["true"], 30)
    failed = gpu_check.Result(
        step,
        "failed",
        1.0,
        "Traceback ...\nBackendError: CuPy is not installed (No module named 'cupy')\n",
    )
    text = gpu_check.markdown([failed], datetime.datetime(2026, 1, 2, 3, 4), 340, smoke=False)
    assert text.startswith("## GPU check, 2026-01-02 03:04 UTC")
    assert "no usable GPU: BackendError: CuPy is not installed" in text
    assert "| device | failed | 1 |" in text
