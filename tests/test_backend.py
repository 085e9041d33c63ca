"""The NumPy/CuPy switch: selection, clear errors without CuPy, device placement."""

import os
import subprocess
import sys
import types

import numpy as np
import pytest

import minidl
from minidl import backend
from minidl.backend import BackendError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_GPU = backend.cupy_available()
gpu = pytest.mark.gpu


@pytest.fixture
def restore_backend():
    before = backend.current()
    yield
    backend.use(before)


@pytest.fixture
def fresh_probe(monkeypatch):
    """Forget what the backend learned about CuPy; monkeypatch restores it afterwards."""
    monkeypatch.setattr(backend, "_cupy_module", None)
    monkeypatch.setattr(backend, "_cupy_problem", None)


def test_array_module_and_device_of():
    assert backend.array_module(np.ones(2)) is np
    assert backend.array_module(np.float32(1)) is np
    assert backend.array_module([1, 2]) is np and backend.array_module(3.0) is np
    assert backend.device_of(np.ones(2)) == "cpu"
    assert minidl.tensor([1.0]).device == "cpu"


def test_normalize_device():
    for name in ("cpu", "CPU", "numpy"):
        assert backend.normalize_device(name) == "cpu"
    for name in ("gpu", "cuda", "cuda:0", "cupy"):
        assert backend.normalize_device(name) == "gpu"
    with pytest.raises(ValueError, match="tpu"):
        backend.normalize_device("tpu")
    assert backend.normalize_device("cpu:0") == "cpu"
    assert backend.normalize_device(None) == backend.default_device()


@pytest.mark.parametrize("device", ["cuda:1", "gpu:2", "CUDA:10", "cpu:1"])
def test_device_index_other_than_0_is_refused(device):
    """minidl uses one GPU; "cuda:1" must not silently mean the current GPU."""
    with pytest.raises(ValueError) as info:
        backend.normalize_device(device)
    message = str(info.value)
    assert repr(device) in message and "cuda:0" in message
    assert f"CUDA_VISIBLE_DEVICES={int(device.split(':')[1])}" in message


@pytest.mark.parametrize("device", ["cuda:", "cuda:x", "cuda:-1", "cuda:0:1", "cuda: 0"])
def test_malformed_device_index_is_refused(device):
    with pytest.raises(ValueError, match="index after ':' must be a number"):
        backend.normalize_device(device)


def test_every_entry_point_refuses_cuda_1():
    """The index is checked before CuPy is looked for, so the message is the same with
    or without a GPU, from every place that takes a device."""
    x = minidl.tensor([1.0, 2.0])
    entry_points = (
        lambda: x.to("cuda:1"),
        lambda: minidl.zeros(2, device="cuda:1"),
        lambda: minidl.tensor([1.0], device="cuda:1"),
        lambda: minidl.nn.Linear(2, 2).to("cuda:1"),
        lambda: minidl.data.DataLoader(minidl.data.TensorDataset(x), device="cuda:1"),
    )
    for make in entry_points:
        with pytest.raises(ValueError, match="CUDA_VISIBLE_DEVICES=1"):
            make()


def test_use_numpy_and_unknown_backend(restore_backend):
    backend.use("numpy")
    assert backend.current() == "numpy" and backend.default_module() is np
    assert minidl.zeros(2).device == "cpu"
    with pytest.raises(ValueError, match="bogus"):
        backend.use("bogus")
    assert backend.current() == "numpy"


def test_use_cupy_without_cupy_installed(restore_backend, fresh_probe, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail
    with pytest.raises(BackendError) as info:
        backend.use("cupy")
    message = str(info.value)
    assert "CuPy is not installed" in message
    assert "use('numpy')" in message and "MINIDL_BACKEND=numpy" in message
    assert backend.current() != "cupy"
    assert not backend.cupy_available()


def test_use_cupy_without_a_gpu(restore_backend, fresh_probe, monkeypatch):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(BackendError) as info:
        backend.use("cupy")
    message = str(info.value)
    assert "no CUDA GPU" in message and "cudaErrorNoDevice" in message
    assert "use('numpy')" in message
    with pytest.raises(BackendError, match="no CUDA GPU"):
        backend.get_cupy()


@pytest.mark.skipif(HAVE_GPU, reason="CuPy and a GPU are present")
def test_gpu_requests_fail_clearly_without_cupy():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    for move in (lambda: x.to("gpu"), x.cuda, lambda: x.to("cuda:0")):
        with pytest.raises(BackendError, match="CuPy|GPU"):
            move()
    with pytest.raises(BackendError):
        minidl.tensor([1.0], device="gpu")
    with pytest.raises(BackendError):
        minidl.zeros(2, device="cuda")
    with pytest.raises(BackendError):
        backend.use("cupy")


class FakeGpuArray:
    """Stands in for a CuPy array, to check the device test without a GPU."""

    shape, ndim, dtype, size = (2,), 1, np.dtype(np.float32), 2


def test_mixing_devices_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(backend, "_cupy_module", types.SimpleNamespace(ndarray=FakeGpuArray))
    on_gpu = minidl.Tensor._make(FakeGpuArray(), None)
    assert on_gpu.device == "gpu"
    on_cpu = minidl.tensor([1.0, 2.0], requires_grad=True)
    ops = (lambda: on_cpu + on_gpu, lambda: on_gpu * on_cpu, lambda: minidl.cat([on_cpu, on_gpu]))
    for op in ops:
        with pytest.raises(RuntimeError, match=r"same device, got \[('cpu', 'gpu'|'gpu', 'cpu')\]"):
            op()


def test_moving_to_the_gpu_keeps_the_device_array(monkeypatch):
    """CPU -> GPU through Tensor.to, with a stand-in device array: the op's output must
    stay a device array (not be wrapped by numpy.asarray), and it is differentiable."""
    monkeypatch.setattr(backend, "_cupy_module", types.SimpleNamespace(ndarray=FakeGpuArray))
    moved = []

    def fake_to_device(x, device):
        moved.append(backend.normalize_device(device))
        return FakeGpuArray() if moved[-1] == "gpu" else np.ones(2, np.float32)

    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    monkeypatch.setattr(backend, "to_device", fake_to_device)
    y = x.to("cuda")
    assert isinstance(y.data, FakeGpuArray) and y.device == "gpu" and y.requires_grad
    assert y.to("gpu") is y
    y.grad_fn.backward(y.grad_fn, FakeGpuArray())  # the gradient goes back to the CPU
    assert moved == ["gpu", "cpu"]


def _run_with_backend(value):
    env = dict(os.environ, MINIDL_BACKEND=value, PYTHONPATH=ROOT)
    code = "import minidl; print(minidl.backend.current(), minidl.zeros(2).device)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_env_var_numpy():
    result = _run_with_backend("numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["numpy", "cpu"]


def test_env_var_cupy():
    result = _run_with_backend("cupy")
    if HAVE_GPU:
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["cupy", "gpu"]
    else:
        assert result.returncode != 0
        assert "BackendError" in result.stderr and "MINIDL_BACKEND='cupy'" in result.stderr
        assert "MINIDL_BACKEND=numpy" in result.stderr  # how to fall back


def test_env_var_bogus():
    result = _run_with_backend("bogus")
    assert result.returncode != 0
    assert "ValueError" in result.stderr and "bogus" in result.stderr


# ---- on a real GPU ------------------------------------------------------------------
def _needs_gpu():
    if not backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")


def _gpu_cases():
    rng = np.random.default_rng(1)
    shapes = {
        "add": [(3, 1, 4), (4,)],
        "mul": [(2, 3), (1, 3)],
        "div": [(2, 3), (2, 3)],
        "matmul": [(5, 2, 3), (3, 4)],
        "vecmat": [(3,), (3, 4)],
        "exp": [(2, 3)],
        "log_softmax": [(4, 5)],
        "softmax": [(4, 5)],
        "sum": [(2, 3, 4)],
        "mean": [(2, 3, 4)],
        "max": [(3, 4)],
        "getitem": [(5, 3)],
        "cat": [(2, 3), (1, 3)],
        "stack": [(2, 3), (2, 3)],
        "sigmoid": [(3, 3)],
        "relu": [(3, 3)],
        "tanh": [(3, 3)],
        "clamp": [(3, 3)],
        "maximum": [(2, 3), (3,)],
        "transpose": [(2, 3, 4)],
        "reshape": [(2, 6)],
        "pow": [(2, 3)],
    }
    fns = {
        "add": lambda a, b: a + b,
        "mul": lambda a, b: a * b - 2 * a,
        "div": lambda a, b: a / (b * b + 1),
        "matmul": lambda a, b: a @ b,
        "vecmat": lambda a, b: a @ b,
        "exp": minidl.exp,
        "log_softmax": minidl.log_softmax,
        "softmax": lambda a: a.softmax(0),
        "sum": lambda a: a.sum((0, 2), keepdim=True),
        "mean": lambda a: a.mean(1),
        "max": lambda a: a.max(dim=1).values,
        "getitem": lambda a: a[[0, 4, 4, 1], 1:],
        "cat": lambda a, b: minidl.cat([a, b]),
        "stack": lambda a, b: minidl.stack([a, b], 1),
        "sigmoid": minidl.sigmoid,
        "relu": minidl.relu,
        "tanh": minidl.tanh,
        "clamp": lambda a: a.clamp(-0.5, 0.5),
        "maximum": minidl.maximum,
        "transpose": lambda a: a.transpose(0, 2),
        "reshape": lambda a: a.reshape(3, 4),
        "pow": lambda a: (a * a + 1) ** 1.5,
    }
    return [
        (name, fns[name], [rng.standard_normal(s).astype(np.float32) for s in shapes[name]])
        for name in fns
    ]


@gpu
@pytest.mark.parametrize(
    "name, fn, arrays", _gpu_cases(), ids=lambda c: c if isinstance(c, str) else ""
)
def test_gpu_ops_match_cpu(name, fn, arrays):
    _needs_gpu()
    cpu = [minidl.tensor(a, requires_grad=True) for a in arrays]
    gpu_ = [minidl.tensor(a, requires_grad=True, device="gpu") for a in arrays]
    out_cpu, out_gpu = fn(*cpu), fn(*gpu_)
    assert out_gpu.device == "gpu" and out_gpu.dtype == out_cpu.dtype
    np.testing.assert_allclose(out_gpu.numpy(), out_cpu.numpy(), rtol=1e-5, atol=1e-6)
    weights = np.random.default_rng(2).standard_normal(out_cpu.shape).astype(np.float32)
    out_cpu.backward(weights)
    out_gpu.backward(minidl.tensor(weights, device="gpu"))
    for c, g in zip(cpu, gpu_):
        assert g.grad.device == "gpu"
        np.testing.assert_allclose(g.grad.numpy(), c.grad.numpy(), rtol=1e-4, atol=1e-5)


@gpu
def test_gpu_device_mixing_and_to_roundtrip():
    _needs_gpu()
    cupy = backend.get_cupy()
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.to("gpu")
    assert y.device == "gpu" and isinstance(y.data, cupy.ndarray)
    assert backend.array_module(y.data) is cupy and y.cuda() is y
    with pytest.raises(RuntimeError, match="same device"):
        x + y
    z = ((y * y).sum() * 2).cpu()
    assert z.device == "cpu"
    z.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy())
    np.testing.assert_array_equal(x.cuda().cpu().numpy(), x.numpy())
    assert isinstance(y.numpy(), np.ndarray)
    assert "device='gpu'" in repr(y)


@gpu
def test_gpu_default_backend_and_creation(restore_backend):
    _needs_gpu()
    backend.use("cupy")
    assert backend.default_module() is backend.get_cupy()
    minidl.manual_seed(5)
    on_gpu = minidl.randn(3, 2)
    assert on_gpu.device == "gpu"
    for t in (minidl.zeros(2), minidl.tensor([1.0]), minidl.arange(3), minidl.ones_like(on_gpu)):
        assert t.device == "gpu"
    backend.use("numpy")
    minidl.manual_seed(5)
    np.testing.assert_array_equal(minidl.randn(3, 2).numpy(), on_gpu.numpy())
    assert minidl.zeros(2).device == "cpu"


@gpu
def test_gpu_gradcheck_of_a_gpu_function():
    _needs_gpu()
    x = minidl.tensor(np.random.default_rng(3).standard_normal((3, 4)), requires_grad=True)
    assert minidl.gradcheck(lambda t: (t.cuda() @ t.T.cuda()).log_softmax(-1), x)
