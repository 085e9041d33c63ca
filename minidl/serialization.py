"""save / load of state dicts as ``.npz`` files: never pickle, never half-written.

A saved object is a tree of dicts (str or int keys), lists, tuples, numbers, strings,
None and arrays (NumPy, CuPy or Tensors; all come back as NumPy arrays). The tree's
shape is stored as JSON in the member ``__minidl__``, each array as its own member,
and everything is read back with ``allow_pickle=False``. The file is written to a
temporary file in the same folder and renamed over the target, so a crash leaves
either the old file or the new one. Zip CRCs catch corrupted members.
"""
import json
import os
import tempfile
import zipfile
import zlib

import numpy

from . import backend
from .tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

FORMAT = "minidl.save/1"
_HEADER = "__minidl__"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or not a minidl checkpoint."""


def _encode(obj, arrays, where):
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} at {where}")
            items.append([key, _encode(value, arrays, f"{where}[{key!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, numpy.generic):  # before float: numpy.float64 is a float too
        name = f"a{len(arrays)}"
        arrays[name] = numpy.asarray(obj)
        return {"scalar": name}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        array = numpy.asarray(backend.to_device(obj, "cpu"))
        if array.dtype.hasobject:
            raise TypeError(f"save: object arrays cannot be saved without pickle ({where})")
        name = f"a{len(arrays)}"
        arrays[name] = array
        return {"array": name}
    raise TypeError(f"save: cannot save an object of type {type(obj).__name__} at {where}; "
                    "save state dicts of arrays, numbers, strings, lists and dicts")


def _decode(node, arrays):
    (kind, value), = node.items()
    if kind == "dict":
        return {key: _decode(v, arrays) for key, v in value}
    if kind == "list":
        return [_decode(v, arrays) for v in value]
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in value)
    if kind == "value":
        return value
    if kind == "scalar":
        return arrays[value][()]
    if kind == "array":
        return arrays[value]
    raise ValueError(f"unknown node kind {kind!r}")


def save(obj, path):
    """Write ``obj`` (e.g. ``model.state_dict()``) to ``path`` atomically."""
    path = os.fspath(path)
    arrays = {}
    tree = _encode(obj, arrays, "obj")
    header = json.dumps({"format": FORMAT, "tree": tree})
    arrays[_HEADER] = numpy.frombuffer(header.encode(), dtype=numpy.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            numpy.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; checkpoints are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path):
    """Read an object written by :func:`save`; arrays come back as NumPy arrays."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no such checkpoint file: {path}")
    if not zipfile.is_zipfile(path):  # also keeps numpy.load from reading a bare .npy
        raise CheckpointError(f"load: {path} is not a minidl checkpoint (not an .npz/zip "
                              "file; truncated or written by something else)")
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            if _HEADER not in archive.files:
                raise CheckpointError(f"load: {path} is an .npz file but not a minidl "
                                      "checkpoint (no header)")
            header = json.loads(bytes(archive[_HEADER]).decode())
            if header.get("format") != FORMAT:
                raise CheckpointError(f"load: {path} has unknown format "
                                      f"{header.get('format')!r}, expected {FORMAT!r}")
            arrays = {name: archive[name] for name in archive.files if name != _HEADER}
            return _decode(header["tree"], arrays)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
            UnicodeDecodeError, NotImplementedError, TypeError, AttributeError) as exc:
        # ValueError also covers pickled (object) members, refused by allow_pickle=False;
        # NotImplementedError is zipfile's answer to a corrupted compression method;
        # TypeError and AttributeError, a well-formed zip whose header tree is not ours.
        raise CheckpointError(f"load: {path} is truncated, corrupt or holds pickled data "
                              f"({type(exc).__name__}: {exc})") from exc
