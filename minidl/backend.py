"""The array backend: NumPy on the CPU, CuPy on the GPU.

This is the only module in minidl that imports CuPy. Everything else asks it for
the array module of an array (``array_module(x)``) or for the default module new
arrays are created with (``default_module()``), so one code path serves both.

The default backend is chosen by, in order: ``minidl.backend.use("numpy"|"cupy")``,
else the ``MINIDL_BACKEND`` environment variable, else NumPy.
"""

import os

import numpy

__all__ = [
    "BackendError",
    "use",
    "current",
    "default_module",
    "default_device",
    "array_module",
    "device_of",
    "to_device",
    "normalize_device",
    "cupy_available",
    "get_cupy",
]

BACKENDS = ("numpy", "cupy")
_DEVICE_ALIASES = {"cpu": "cpu", "numpy": "cpu", "gpu": "gpu", "cuda": "gpu", "cupy": "gpu"}


class BackendError(RuntimeError):
    """Raised when a backend or device is asked for that this machine cannot provide."""


_cupy_module = None
_cupy_problem = None  # why CuPy cannot be used, once we have looked


def _probe_cupy():
    global _cupy_module, _cupy_problem
    if _cupy_module is not None or _cupy_problem is not None:
        return
    try:
        import cupy
    except ImportError as exc:
        _cupy_problem = (
            f"CuPy is not installed ({exc}). Install it with `pip install 'minidl[gpu]'` "
            "(or the cupy-cudaXXx wheel matching your CUDA), or stay on the CPU with "
            "minidl.backend.use('numpy') / MINIDL_BACKEND=numpy."
        )
        return
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        count, reason = 0, f": {exc}"
    else:
        reason = ""
    if count < 1:
        _cupy_problem = (
            f"CuPy is installed but no CUDA GPU is available{reason}. "
            "Stay on the CPU with minidl.backend.use('numpy') / MINIDL_BACKEND=numpy."
        )
        return
    _cupy_module = cupy


def cupy_available():
    """True when CuPy is installed and at least one CUDA GPU is visible."""
    _probe_cupy()
    return _cupy_module is not None


def get_cupy():
    """The cupy module, or a BackendError that says what is missing and how to fall back."""
    _probe_cupy()
    if _cupy_module is None:
        raise BackendError(_cupy_problem)
    return _cupy_module


_current = "numpy"


def use(name):
    """Select the default backend for new arrays: "numpy" (CPU) or "cupy" (GPU)."""
    name = str(name).lower()
    if name not in BACKENDS:
        raise ValueError(f"Unknown backend {name!r}; expected one of {BACKENDS}")
    if name == "cupy":
        get_cupy()
    global _current
    _current = name


def current():
    """Name of the default backend: "numpy" or "cupy"."""
    return _current


def default_module():
    """The array module (numpy or cupy) that new arrays are created with."""
    return numpy if _current == "numpy" else get_cupy()


def default_device():
    return "cpu" if _current == "numpy" else "gpu"


def array_module(x):
    """The array module of ``x``: numpy for NumPy arrays, cupy for CuPy arrays, and for a
    minidl Tensor :mod:`minidl.ops.xp` (NumPy's names as differentiable ops), so a
    backward formula reads the same in first-order and create_graph mode."""
    if isinstance(x, (numpy.ndarray, numpy.generic)):
        return numpy
    namespace = getattr(type(x), "_array_namespace", None)
    if namespace is not None:
        return namespace
    if _cupy_module is None and type(x).__module__.startswith("cupy"):
        _probe_cupy()  # a CuPy array made before minidl looked for CuPy
    if _cupy_module is not None and isinstance(x, _cupy_module.ndarray):
        return _cupy_module
    return numpy


def device_of(x):
    """ "gpu" for a CuPy array (or a Tensor holding one), "cpu" otherwise."""
    x = getattr(x, "data", x) if hasattr(type(x), "_array_namespace") else x
    return "cpu" if array_module(x) is numpy else "gpu"


def normalize_device(device):
    """Map "cpu"/"numpy" to "cpu" and "gpu"/"cuda"/"cupy" to "gpu"; None to the default.

    minidl uses one GPU, CuPy's current device, so the only index accepted is 0
    ("cuda:0"); any other index is refused rather than silently ignored.
    """
    if device is None:
        return default_device()
    key, colon, index = str(device).lower().partition(":")
    if key not in _DEVICE_ALIASES:
        raise ValueError(f"Unknown device {device!r}; expected 'cpu' or 'gpu' (alias 'cuda')")
    if colon and not index.isdigit():
        raise ValueError(f"Device {device!r}: the index after ':' must be a number, like 'cuda:0'")
    if colon and int(index) != 0:
        raise ValueError(
            f"Device {device!r}: minidl uses a single GPU, CuPy's current device, called "
            f"'gpu', 'cuda' or 'cuda:0'. To run on GPU {int(index)}, make it the only visible "
            f"one: CUDA_VISIBLE_DEVICES={int(index)} python ..."
        )
    return _DEVICE_ALIASES[key]


def to_device(x, device):
    """Return ``x`` as an array on ``device`` ("cpu" or "gpu"); no copy when already there."""
    device = normalize_device(device)
    if device == "cpu":
        if array_module(x) is numpy:
            return x
        return get_cupy().asnumpy(x)
    cupy = get_cupy()
    return x if isinstance(x, cupy.ndarray) else cupy.asarray(x)


_env_choice = os.environ.get("MINIDL_BACKEND")
if _env_choice:
    try:
        use(_env_choice)
    except (ValueError, BackendError) as exc:
        raise type(exc)(f"MINIDL_BACKEND={_env_choice!r}: {exc}") from None
