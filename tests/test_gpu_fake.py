"""The GPU code paths on the CPU: every test marked ``gpu`` runs against tests/fake_cupy.py,
a NumPy stand-in for CuPy that is as strict as CuPy about host/device mixing; and the
stand-in itself is checked to be that strict, so a pass means something."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import fake_cupy as fake
import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
needs_cc = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="the stand-in compiles kernel bodies with cc or gcc",
)


def test_the_stand_in_refuses_what_cupy_refuses():
    x = fake.asarray(np.arange(4, dtype=np.float32))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(x)
    for mix in (
        lambda: x + np.ones(4, np.float32),
        lambda: np.ones(4, np.float32) * x,
        lambda: fake.exp(np.ones(2)),
        lambda: fake.maximum(x, np.zeros(4)),
    ):
        with pytest.raises(TypeError, match="NumPy array"):
            mix()
    for mix in (lambda: x + [1, 2, 3, 4], lambda: fake.exp([1.0, 2.0])):
        with pytest.raises(TypeError, match="Unsupported type"):
            mix()
    for method in (
        lambda: fake.maximum.accumulate(x),
        lambda: np.maximum.accumulate(x),
        lambda: fake.multiply.at(x, 0, 2.0),
    ):  # CuPy has few ufunc methods
        with pytest.raises(NotImplementedError, match="CuPy has it for"):
            method()
    np.testing.assert_array_equal(fake.asnumpy(fake.add.accumulate(x)), [0, 1, 3, 6])
    with pytest.raises(AttributeError, match="ctypes"):
        x.ctypes  # noqa: B018


def test_the_stand_in_behaves_like_cupy_where_numpy_differs():
    x = fake.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    total = x.sum()
    assert isinstance(total, fake.ndarray) and total.ndim == 0 and float(total) == 15
    assert isinstance(x[1, 2], fake.ndarray) and int(x[1, 2]) == 5
    assert isinstance(x * np.float32(2) + 1, fake.ndarray)  # NumPy scalars are fine
    pieces = fake.split(x, [1], axis=1)
    assert all(isinstance(p, fake.ndarray) for p in pieces)
    x[0] = np.array([7, 8, 9], np.float32)  # host data may be copied in
    np.testing.assert_array_equal(fake.asnumpy(x), [[7, 8, 9], [3, 4, 5]])
    assert fake.get_array_module(x) is fake and fake.get_array_module(np.ones(1)) is np
    fake.add.at(x, (fake.asarray(np.array([1, 1])), 0), 1.0)
    assert float(x[1, 0]) == 5.0


@needs_cc
def test_the_stand_in_runs_kernel_bodies_as_c():
    kernel = fake.ElementwiseKernel(
        "float32 x, float32 a",
        "float32 y",
        "float t_v1 = (a * x);\ny = (t_v1 + sqrtf(y));",
        "axpy",
        options=("--fmad=false",),
    )
    rng = np.random.default_rng(0)
    xs, ys = rng.random(1000, np.float32), rng.random(1000, np.float32)
    y = fake.asarray(ys)
    kernel(fake.asarray(xs), 0.1, y)  # a Python float, cast to the declared float32
    np.testing.assert_array_equal(fake.asnumpy(y), np.float32(0.1) * xs + np.sqrt(ys))
    with pytest.raises(TypeError, match="Type is mismatched"):
        kernel(fake.asarray(xs.astype(np.float64)), 0.1, y)
    with pytest.raises(TypeError, match="NumPy array"):
        kernel(xs, 0.1, y)


@needs_cc
@pytest.mark.skipif(not fake._host_has_fma(), reason="the host has no FMA instruction")
def test_the_stand_in_fuses_multiply_adds_unless_told_not_to():
    """NVRTC contracts a * b + c into an fma by default; minidl's kernels pass --fmad=false
    so that they round as NumPy does. The stand-in does the same, so dropping the option
    would show in the bit-exact GPU tests."""
    rng = np.random.default_rng(1)
    a, x, c = (rng.standard_normal(4096).astype(np.float32) for _ in range(3))
    separate = a * x + c  # NumPy: the product rounded, then the sum
    for options, exact in ((("--fmad=false",), True), ((), False)):
        kernel = fake.ElementwiseKernel(
            "float32 a, float32 x, float32 c",
            "float32 y",
            "y = ((a * x) + c);",
            "fma",
            options=options,
        )
        y = fake.zeros(4096, np.float32)
        kernel(fake.asarray(a), fake.asarray(x), fake.asarray(c), y)
        assert np.array_equal(fake.asnumpy(y), separate) == exact


@needs_cc
def test_every_gpu_test_passes_on_the_stand_in():
    """pytest -m gpu with the stand-in installed. A failure here is a GPU-only path that
    breaks CuPy's rules (a device array handed to NumPy, a host array mixed into device
    arithmetic) or a gap in tests/fake_cupy.py: the output below says which test."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS.parent)]))
    files = [
        str(path) for path in sorted(TESTS.glob("test_*.py")) if "mark.gpu" in path.read_text()
    ]  # collecting only these saves seconds
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "fake_cupy",
            "-m",
            "gpu",
            "-q",
            "-rfEs",
            "-p",
            "no:cacheprovider",
            *files,
        ],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "needs CuPy" not in result.stdout and "CuPy with a CUDA GPU" not in result.stdout
