"""save / load of state dicts as ``.npz`` files: never pickle, never half-written.

A saved object is a tree of dicts (str or int keys), lists, tuples, numbers, strings,
None and arrays (NumPy, CuPy or Tensors; all come back as NumPy arrays). The tree's
shape is stored as JSON in the member ``__minidl__``, each array as its own member,
and everything is read back without pickle. The file is written to a temporary file
in the same folder and renamed over the target, so a crash leaves either the old file
or the new one. A new file gets the permissions ``open()`` would give it (0666 less
the umask); a file saved over keeps its own.

``load`` treats the file as hostile: it accepts only what ``save`` writes. Members
must be stored (a compressed member could inflate a few KB into GBs), each one the tree
refers to is read once and nothing else is there, every array's declared dtype and
shape must match its member's size before a byte of it is allocated, the header is
bounded in size and nesting depth, and zip CRCs catch corrupted members.
"""

import errno
import json
import os
import re
import zipfile
import zlib

import numpy
from numpy.lib import format as npy_format

from . import backend
from .atomic_write import atomic_write
from .tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

FORMAT = "minidl.save/1"
_HEADER = "__minidl__"
MAX_DEPTH = 64  # nesting of dicts/lists; state dicts need about 5
MAX_HEADER_BYTES = 64 << 20  # the JSON tree (arrays live in their own members)
_ARRAY_KINDS = "biufcUSMm"  # plain dtypes: no objects (pickle), no structured records


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or not a minidl checkpoint."""


# ---- save ---------------------------------------------------------------------------
def _encode(obj, arrays, where, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError(
            f"save: the object is nested deeper than {MAX_DEPTH} levels at "
            f"{where[:200]}... (does it contain itself?)"
        )
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} at {where}")
            items.append([key, _encode(value, arrays, f"{where}[{key!r}]", depth + 1)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
    if isinstance(obj, numpy.generic):  # before float: numpy.float64 is a float too
        return {"scalar": _add_array(numpy.asarray(obj), arrays, where)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        return {"array": _add_array(numpy.asarray(backend.to_device(obj, "cpu")), arrays, where)}
    raise TypeError(
        f"save: cannot save an object of type {type(obj).__name__} at {where}; "
        "save state dicts of arrays, numbers, strings, lists and dicts"
    )


def _add_array(array, arrays, where):
    if array.dtype.hasobject:
        raise TypeError(f"save: object arrays cannot be saved without pickle ({where})")
    if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
        raise TypeError(
            f"save: arrays of dtype {array.dtype} cannot be saved ({where}); "
            "numbers, booleans, strings and datetimes can"
        )
    name = f"a{len(arrays)}"
    arrays[name] = array
    return name


def save(obj, path):
    """Write ``obj`` (e.g. ``model.state_dict()``) to ``path`` atomically (a symbolic link
    is followed: its target is replaced, the link stays)."""
    path = os.fsdecode(path)  # str, bytes or PathLike
    arrays = {}
    tree = _encode(obj, arrays, "obj")
    header = json.dumps({"format": FORMAT, "tree": tree})
    arrays[_HEADER] = numpy.frombuffer(header.encode(), dtype=numpy.uint8)

    def write_npz(tmp):
        with open(tmp, "wb") as f:
            numpy.savez(f, **arrays)

    atomic_write(path, write_npz)


# ---- load ---------------------------------------------------------------------------
def load(path):
    """Read an object written by :func:`save`; arrays come back as NumPy arrays.

    Raises FileNotFoundError for a missing file and :class:`CheckpointError` for
    anything that is not exactly what ``save`` writes (see the module docstring).
    """
    path = os.fsdecode(path)  # str, bytes or PathLike
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "load: a folder, not a checkpoint file", path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no such checkpoint file: {path}")
    if not zipfile.is_zipfile(path):  # also refuses a bare .npy
        raise CheckpointError(
            f"load: {path} is not a minidl checkpoint (not an .npz/zip "
            "file; truncated or written by something else)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            return _Reader(archive, path).read()
    except CheckpointError:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        # NotImplementedError is zipfile's answer to an unknown compression method,
        # RuntimeError to an encrypted member, ValueError numpy's to a malformed .npy
        raise CheckpointError(
            f"load: {path} is truncated or corrupt ({type(exc).__name__}: {exc})"
        ) from exc


class _Reader:
    """Reads one archive: the header first, then each member the tree names, once."""

    def __init__(self, archive, path):
        self.archive, self.path = archive, path
        self.members = {}
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                self.fail(
                    f"member {info.filename!r} is compressed (method "
                    f"{info.compress_type}); minidl.save writes stored members only"
                )
            if info.flag_bits & 0x1:
                self.fail(f"member {info.filename!r} is encrypted")
            if not info.filename.endswith(".npy") or info.filename[:-4] in self.members:
                self.fail(f"unexpected member {info.filename!r}")
            self.members[info.filename[:-4]] = info
        self.used = set()

    def fail(self, message):
        raise CheckpointError(f"load: {self.path}: {message}")

    def read(self):
        if _HEADER not in self.members:
            raise CheckpointError(
                f"load: {self.path} is an .npz file but not a minidl checkpoint (no header)"
            )
        raw = self.array(_HEADER, max_bytes=MAX_HEADER_BYTES)
        if raw.dtype != numpy.uint8 or raw.ndim != 1:
            self.fail(f"the header is {raw.dtype} {raw.shape}, not bytes")
        text = raw.tobytes().decode("utf-8", errors="strict")
        if _nesting_depth(text) > 3 * MAX_DEPTH + 4:  # a level of the tree is <= 3 in JSON
            self.fail(f"the header is nested deeper than {MAX_DEPTH} levels")
        header = json.loads(text)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            found = header.get("format") if isinstance(header, dict) else None
            raise CheckpointError(
                f"load: {self.path} has unknown format {found!r}, expected {FORMAT!r}"
            )
        obj = self.decode(header.get("tree"), 0)
        unused = sorted(set(self.members) - self.used - {_HEADER})
        if unused:
            self.fail(f"members {unused[:5]} are not part of the saved object")
        return obj

    def decode(self, node, depth):
        if depth > MAX_DEPTH:
            self.fail(f"the tree is nested deeper than {MAX_DEPTH} levels")
        if not isinstance(node, dict) or len(node) != 1:
            self.fail(f"malformed tree node {str(node)[:80]}")
        ((kind, value),) = node.items()
        if kind == "value" and (value is None or isinstance(value, (bool, int, float, str))):
            return value
        if kind in ("list", "tuple") and isinstance(value, list):
            items = [self.decode(v, depth + 1) for v in value]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(value, list):
            out = {}
            for pair in value:
                if (
                    not isinstance(pair, list)
                    or len(pair) != 2
                    or not isinstance(pair[0], (str, int))
                    or isinstance(pair[0], bool)
                ):
                    self.fail(f"malformed dict item {str(pair)[:80]}")
                out[pair[0]] = self.decode(pair[1], depth + 1)
            return out
        if kind == "array" and isinstance(value, str):
            return self.array(value)
        if kind == "scalar" and isinstance(value, str):
            array = self.array(value)
            if array.ndim != 0:
                self.fail(f"scalar member {value!r} has shape {array.shape}")
            return array[()]
        self.fail(f"malformed tree node {str(node)[:80]}")

    def array(self, name, max_bytes=None):
        """The array in member ``name``, checked against the member's size before
        anything is allocated; each member may be read once."""
        if name not in self.members:
            self.fail(f"the tree refers to a missing member {name!r}")
        if name in self.used:
            self.fail(f"the tree refers to member {name!r} twice")
        self.used.add(name)
        info = self.members[name]
        if info.compress_size != info.file_size:
            self.fail(
                f"member {name!r} declares {info.file_size} bytes but stores {info.compress_size}"
            )
        with self.archive.open(info) as member:
            version = npy_format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                self.fail(f"member {name!r} has .npy version {version}")
            read_header = (
                npy_format.read_array_header_1_0
                if version == (1, 0)
                else npy_format.read_array_header_2_0
            )
            shape, fortran_order, dtype = read_header(member)
            if dtype.hasobject:
                self.fail(
                    f"member {name!r} holds Python objects, which would need pickle "
                    "(refused as numpy.load(allow_pickle=False) refuses them)"
                )
            if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
                self.fail(f"member {name!r} has dtype {dtype}, which minidl.save never writes")
            nbytes = dtype.itemsize
            for n in shape:
                nbytes *= n
            data_bytes = info.file_size - member.tell()
            if nbytes != data_bytes:
                self.fail(
                    f"member {name!r} declares {dtype} {shape} ({nbytes} bytes) but "
                    f"holds {data_bytes} bytes"
                )
            if max_bytes is not None and nbytes > max_bytes:
                self.fail(f"member {name!r} is larger than {max_bytes} bytes")
            array = numpy.empty(shape[::-1] if fortran_order else shape, dtype=dtype)
            _read_into(
                member,
                array.reshape(-1).view(numpy.uint8) if nbytes else None,
                lambda: self.fail(f"member {name!r} is truncated"),
            )
        return array.T if fortran_order else array


def _read_into(member, buffer, truncated, chunk=1 << 20):
    """Fill ``buffer`` (bytes) from ``member`` in chunks, then read to the end of the
    member (which makes zipfile check its CRC); ``truncated()`` if the sizes differ."""
    filled = 0
    while buffer is not None and filled < len(buffer):
        data = member.read(min(chunk, len(buffer) - filled))
        if not data:
            truncated()
        buffer[filled : filled + len(data)] = numpy.frombuffer(data, dtype=numpy.uint8)
        filled += len(data)
    if member.read(1):
        truncated()


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _nesting_depth(text):
    """The deepest nesting of [ and { in a JSON text (strings skipped), without
    recursion, so a hostile header cannot exhaust the stack of ``json.loads``."""
    codes = numpy.frombuffer(_JSON_STRING.sub("", text).encode(), dtype=numpy.uint8)
    steps = ((codes == ord("[")) | (codes == ord("{"))).astype(numpy.int64)
    steps -= (codes == ord("]")) | (codes == ord("}"))
    return int(numpy.cumsum(steps).max(initial=0))
