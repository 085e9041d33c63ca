"""A stand-in for CuPy built on NumPy: minidl's GPU code paths, run on a machine without a GPU.

    PYTHONPATH=tests python -m pytest -p fake_cupy -m gpu     # every GPU test, on the CPU

Loaded as a pytest plugin it makes ``minidl.backend`` see this module as CuPy with one
device, so the tests marked ``gpu`` run instead of skipping. What that checks:

* every branch minidl takes for a GPU array (``array_module(x)`` returns this module for
  this module's ``ndarray``, which is no ``numpy.ndarray``);
* that no GPU array reaches NumPy unnoticed: as in CuPy, ``numpy.asarray(x)`` raises
  TypeError (use ``.get()`` or ``asnumpy``), and a NumPy array mixed into device
  arithmetic or passed to a device function raises TypeError; reductions return 0-d
  device arrays, not NumPy scalars;
* the fused optimizer kernels: an ``ElementwiseKernel`` body is compiled as C with the
  system compiler and run over the arrays, with CuPy's check that array dtypes match the
  declared types; a * b + c is fused into one fma unless the kernel's options say
  ``--fmad=false``, as NVRTC does (on a host with FMA instructions).

What it cannot check is CUDA itself: NVRTC's dialect, the GPU's math library, streams,
memory, speed; ``benchmarks/gpu_check.py`` on a real device does. Random numbers come
from NumPy's generator, not CuPy's, so only their seeding behaviour carries over.
"""

import atexit
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import types

import numpy
from numpy.lib.mixins import NDArrayOperatorsMixin

__version__ = "0.0-fake"
_IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
    "construct a NumPy array explicitly."
)
# functions that take host data on purpose (the host-to-device copies)
_TAKES_HOST_ARRAYS = {"asarray", "array", "asanyarray", "ascontiguousarray"}
_NOT_IN_CUPY = {"ctypes", "tofile"}


def _unwrap(x, host_ok):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, numpy.ndarray) and not host_ok:
        raise TypeError(
            f"Unsupported type {type(x)} (a NumPy array where CuPy needs a "
            "cupy.ndarray: move it with cupy.asarray first)"
        )
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, host_ok) for v in x)
    return x


def _no_sequences(inputs):
    """CuPy's ufuncs take arrays and scalars, not lists: cupy.add(x, [1, 2]) raises."""
    for x in inputs:
        if isinstance(x, (list, tuple)):
            raise TypeError(f"Unsupported type {type(x)}")


def _wrap(x):
    if isinstance(x, numpy.ndarray):
        return ndarray(x)
    if isinstance(x, numpy.generic):  # CuPy reductions give 0-d arrays, never scalars
        return ndarray(numpy.asarray(x))
    if isinstance(x, (list, tuple)):  # split, nonzero, broadcast_arrays, ...
        return type(x)(_wrap(v) for v in x)
    return x


def _call(fn, args, kwargs, host_ok=False):
    args = _unwrap(args, host_ok)
    kwargs = {k: _unwrap(v, host_ok) for k, v in kwargs.items()}
    return _wrap(fn(*args, **kwargs))


class ndarray(NDArrayOperatorsMixin):
    """A device array: NumPy data behind CuPy's rules."""

    __slots__ = ("_a",)
    __array_priority__ = 100

    def __init__(self, array):
        object.__setattr__(self, "_a", array)

    # CuPy's own
    def get(self):
        return self._a.copy()

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self._a.__array_interface__["data"][0])

    @property
    def device(self):
        return _Device()

    # NumPy protocols
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _no_sequences(inputs)
        _check_method(ufunc, method)
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o, host_ok=False) for o in out)
        result = getattr(ufunc, method)(*_unwrap(inputs, host_ok=False), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        return _call(func, args, kwargs)

    # everything else: NumPy's methods and attributes, on the device
    def __getattr__(self, name):
        if name == "_a" or name.startswith("__") or name in _NOT_IN_CUPY:  # no
            # __array_struct__ or __array_interface__: NumPy must not see the data
            raise AttributeError(f"fake cupy.ndarray has no attribute {name!r}")
        value = getattr(self._a, name)
        if callable(value):
            return lambda *args, **kwargs: _call(value, args, kwargs)
        return _wrap(value)

    def __setattr__(self, name, value):
        if name == "shape":
            self._a.shape = value
        else:
            raise AttributeError(f"cannot set {name!r} of a fake cupy.ndarray")

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, host_ok=True)])

    def __setitem__(self, key, value):  # host data may be copied in, as in CuPy
        self._a[_unwrap(key, host_ok=True)] = _unwrap(value, host_ok=True)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __bool__(self):
        return bool(self._a)

    def __format__(self, spec):
        return format(self._a, spec) if self._a.ndim == 0 else format(str(self), spec)

    def __repr__(self):
        return repr(self._a).replace("array(", "fake_cupy.array(", 1)

    def __str__(self):
        return str(self._a)

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):
        return ndarray, (self._a.copy(),)


# The ufunc methods CuPy has, and for which ufuncs (CuPy's reference, "Universal
# functions"); outer exists for all of them
_UFUNC_METHODS = {
    "reduce": {"add", "multiply"},
    "accumulate": {"add", "multiply"},
    "reduceat": {"add"},
    "at": {"add", "subtract", "maximum", "minimum", "bitwise_and", "bitwise_or", "bitwise_xor"},
}


def _check_method(ufunc, method):
    allowed = _UFUNC_METHODS.get(method)
    if allowed is not None and ufunc.__name__ not in allowed:
        raise NotImplementedError(
            f"CuPy's {ufunc.__name__} has no .{method} (CuPy has it for "
            f"{', '.join(sorted(allowed))} only)"
        )


class _Ufunc:
    def __init__(self, ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        _no_sequences(args)
        out = kwargs.get("out")
        result = _call(self._ufunc, args, kwargs)
        return out if out is not None else result

    def __getattr__(self, name):  # reduce, at, outer, nin, ...
        _check_method(self._ufunc, name)
        value = getattr(self._ufunc, name)
        if callable(value):
            return lambda *args, **kwargs: _call(value, args, kwargs)
        return value


def _function(name, fn):
    host_ok = name in _TAKES_HOST_ARRAYS

    def device_function(*args, **kwargs):
        return _call(fn, args, kwargs, host_ok)

    device_function.__name__ = name
    return device_function


def _on_device(name, value):
    """A NumPy attribute as CuPy has it: ufuncs, functions and submodules on the device."""
    if isinstance(value, numpy.ufunc):
        return _Ufunc(value)
    if isinstance(value, types.ModuleType):  # cupy.lib.stride_tricks, cupy.linalg, ...
        return _Submodule(value)
    if callable(value) and not isinstance(value, type):
        return _function(name, value)
    return value


class _Submodule:
    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return _on_device(name, getattr(self._module, name))


def __getattr__(name):
    """Any other NumPy name, on the device: ufuncs, functions, dtypes, constants."""
    return _on_device(name, getattr(numpy, name))


def asarray(x, dtype=None, order=None):
    if isinstance(x, ndarray):
        return x if dtype is None or x.dtype == numpy.dtype(dtype) else x.astype(dtype)
    return ndarray(numpy.array(_unwrap(x, host_ok=True), dtype=dtype, order=order or "K"))


def array(x, dtype=None, copy=True, order="K"):
    return ndarray(numpy.array(_unwrap(x, host_ok=True), dtype=dtype, copy=copy, order=order))


def asnumpy(x):
    return x._a.copy() if isinstance(x, ndarray) else numpy.asarray(x)


def get_array_module(*args):
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else numpy


# ------------------------------------------------------------------ random numbers
class _Random(types.ModuleType):
    """cupy.random's names, drawn from NumPy's legacy generator (other values than CuPy's)."""

    def __init__(self):
        super().__init__("fake_cupy.random")
        self.seed()

    def seed(self, seed=None):
        self.last_seed = seed
        self._state = numpy.random.RandomState(seed)

    def __getattr__(self, name):
        draw = getattr(self._state, name)

        def method(*args, dtype=None, **kwargs):
            values = numpy.asarray(draw(*args, **kwargs))
            return ndarray(values if dtype is None else values.astype(dtype))

        return method


random = _Random()


# ------------------------------------------------------------------------ devices
class _Device:
    id = 0
    compute_capability = "90"

    def __init__(self, index=0):
        if index != 0:
            raise RuntimeError("cudaErrorInvalidDevice: the fake has one device")

    def use(self):
        pass

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _properties(index=0):
    return {
        "name": b"fake_cupy (NumPy)",
        "totalGlobalMem": 2**30,
        "major": 9,
        "minor": 0,
        "multiProcessorCount": 1,
    }


_runtime = types.SimpleNamespace(
    getDeviceCount=lambda: 1,
    getDeviceProperties=_properties,
    deviceSynchronize=lambda: None,
    deviceGetAttribute=lambda attribute, index: 0,
    runtimeGetVersion=lambda: 0,
    driverGetVersion=lambda: 0,
)
_stream = types.SimpleNamespace(synchronize=lambda: None, ptr=0)
cuda = types.SimpleNamespace(runtime=_runtime, Device=_Device, get_current_stream=lambda: _stream)
_pool = types.SimpleNamespace(free_all_blocks=lambda: None, used_bytes=lambda: 0)


def get_default_memory_pool():
    return _pool


# ------------------------------------------------------------- fused kernels, as C
_C_TYPES = {"float32": "float", "float64": "double", "int32": "int", "int64": "long long"}
_build_dir = None
_libraries = {}


def _parameters(text):
    """ "float32 g, float32 lr" -> [(numpy dtype, name)]; CuPy's generic types are not faked."""
    params = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        type_name, name = item.split()
        if type_name not in _C_TYPES:
            raise NotImplementedError(f"fake ElementwiseKernel: type {type_name!r} in {item!r}")
        params.append((numpy.dtype(type_name), name))
    return params


def _host_has_fma():
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " fma" in line for line in f)
    except OSError:
        return False


def _compile(source, contract):
    """The C function of ``source``. ``contract``: let the compiler fuse a * b + c into one
    rounding (fma), as NVRTC does unless told --fmad=false; where the host has no FMA
    instruction the products are rounded apart anyway."""
    global _build_dir
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("fake ElementwiseKernel needs a C compiler (cc or gcc)")
    flags = (
        ["-ffp-contract=fast", "-mfma"] if contract and _host_has_fma() else ["-ffp-contract=off"]
    )
    key = hashlib.sha1((source + " ".join(flags)).encode()).hexdigest()[:16]
    if key not in _libraries:
        if _build_dir is None:
            _build_dir = tempfile.mkdtemp(prefix="fake_cupy_")
            atexit.register(shutil.rmtree, _build_dir, True)
        c_file, library = (os.path.join(_build_dir, f"{key}.{ext}") for ext in ("c", "so"))
        with open(c_file, "w") as f:
            f.write(source)
        subprocess.run(
            [
                compiler,
                "-O2",
                *flags,
                "-fno-fast-math",
                "-shared",
                "-fPIC",
                c_file,
                "-o",
                library,
                "-lm",
            ],
            check=True,
            capture_output=True,
        )
        _libraries[key] = ctypes.CDLL(library).run
    return _libraries[key]


class ElementwiseKernel:
    """Runs the CUDA body elementwise as C: inputs are read-only locals, outputs are
    loaded, updated by the body and stored back."""

    def __init__(self, in_params, out_params, operation, name="kernel", options=(), **kwargs):
        self.inputs, self.outputs = _parameters(in_params), _parameters(out_params)
        self.operation, self.name, self.options = operation, name, tuple(options)

    def source(self, input_is_array):
        """The C function for inputs that are arrays (indexed by i) or scalars ([0])."""
        params = self.inputs + self.outputs
        lines = [
            "#include <math.h>",
            "void run(long n, " + ", ".join(f"{_C_TYPES[d.name]} *{n}_" for d, n in params) + ") {",
            "  for (long i = 0; i < n; i++) {",
        ]
        lines += [
            f"    const {_C_TYPES[d.name]} {n} = {n}_[{'i' if is_array else '0'}];"
            for (d, n), is_array in zip(self.inputs, input_is_array)
        ]
        lines += [f"    {_C_TYPES[d.name]} {n} = {n}_[i];" for d, n in self.outputs]
        lines += ["    " + line for line in self.operation.splitlines()]
        lines += [f"    {n}_[i] = {n};" for d, n in self.outputs] + ["  }", "}"]
        return "\n".join(lines) + "\n"

    def __call__(self, *args):
        if len(args) != len(self.inputs) + len(self.outputs):
            raise TypeError(
                f"{self.name}: {len(args)} arguments for "
                f"{len(self.inputs)} inputs and {len(self.outputs)} outputs"
            )
        shapes = {a.shape for a in args if isinstance(a, ndarray) and a.ndim}
        if len(shapes) > 1:
            raise NotImplementedError(f"fake ElementwiseKernel: arrays of shapes {shapes}")
        size = int(numpy.prod(shapes.pop())) if shapes else 1
        buffers, outputs, input_is_array = [], [], []
        for k, (value, (dtype, name)) in enumerate(zip(args, self.inputs + self.outputs)):
            is_output = k >= len(self.inputs)
            if isinstance(value, numpy.ndarray):
                raise TypeError(f"{self.name}: argument {name!r} is a NumPy array")
            is_array = isinstance(value, ndarray) and value.ndim > 0
            if is_array:
                if value.dtype != dtype:
                    raise TypeError(
                        f"{self.name}: Type is mismatched. {name} {value.dtype} {dtype}"
                    )
                data = numpy.ascontiguousarray(value._a)
                if is_output:
                    outputs.append((value._a, data))
            elif is_output:
                raise TypeError(f"{self.name}: output {name!r} must be an array")
            else:  # a scalar, cast to the declared type
                data = numpy.array([_unwrap(value, host_ok=False)], dtype)
            if not is_output:
                input_is_array.append(is_array)
            buffers.append(data)
        run = _compile(self.source(input_is_array), "--fmad=false" not in self.options)
        run(ctypes.c_long(size), *[b.ctypes.data_as(ctypes.c_void_p) for b in buffers])
        for target, data in outputs:
            if data is not target:
                target[...] = data.reshape(target.shape)


# ---------------------------------------------------------------- as a pytest plugin
def install():
    """Make minidl.backend take this module for CuPy, with one device."""
    import sys

    from minidl import backend

    fake = sys.modules[__name__]
    sys.modules["cupy"] = fake  # for tests that import cupy themselves
    backend._cupy_module = fake
    backend._cupy_problem = None


def pytest_configure(config):
    install()


def pytest_report_header(config):
    return "fake_cupy: GPU tests run on NumPy through a stand-in for CuPy (tests/fake_cupy.py)"
