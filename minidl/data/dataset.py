"""Datasets: the map-style ``Dataset`` protocol, array-backed datasets and splits.

A dataset maps an index to a sample with ``__getitem__`` and knows its ``__len__``,
as in PyTorch. Array-backed datasets also implement ``__getitems__(indices)``, which
returns a whole batch as a tuple of arrays by fancy indexing; the DataLoader uses it
instead of fetching and stacking samples one by one.
"""

import math
import numbers

import numpy as np

from .. import backend
from .. import random as minidl_random

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "default_collate"]


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    Optionally ``__getitems__(indices)`` (indices: 1-D int64 NumPy array) returning the
    batch already collated, a tuple of arrays whose first axis is the batch.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


def _as_array(x):
    """The backend array behind a Tensor, or ``x`` itself when it already is an array."""
    from ..tensor import Tensor  # late: minidl/__init__ may import this package

    if isinstance(x, Tensor):
        return x.data
    return x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays or Tensors: ``ds[i] == (a[i], b[i], ...)``.

    The arrays are kept as given (no copy); batches are taken by fancy indexing.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one array")
        self.tensors = tuple(_as_array(t) for t in tensors)
        for i, t in enumerate(self.tensors):
            if t.ndim == 0:
                raise ValueError(
                    f"TensorDataset: array {i} is a scalar; every array needs a first (sample) axis"
                )
        lengths = [t.shape[0] for t in self.tensors]
        if len(set(lengths)) != 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
            raise ValueError(f"TensorDataset: size mismatch along the first axis: {shapes}")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices):
        return tuple(
            t[indices]
            if isinstance(t, np.ndarray)
            else t[backend.array_module(t).asarray(indices)]  # GPU arrays: GPU indices
            for t in self.tensors
        )

    def __len__(self):
        return self.tensors[0].shape[0]


def _check_indices(indices, n):
    """``indices`` as a 1-D int64 array, each in [-n, n) when the size n is known;
    anything else is refused (fractional or boolean indices would select other samples)."""
    array = (
        backend.to_device(_as_array(indices), "cpu")
        if hasattr(indices, "shape")
        else np.asarray(indices if isinstance(indices, (list, tuple)) else list(indices))
    )
    if array.ndim != 1:
        raise ValueError(f"Subset: indices must be a 1-D sequence, got shape {array.shape}")
    if array.size and (array.dtype == bool or array.dtype.kind not in "iu"):
        raise TypeError(
            f"Subset: indices must be integers, got dtype {array.dtype} (e.g. {array[0]!r})"
        )
    array = np.asarray(array, dtype=np.int64)
    if n is not None and array.size and (array.min() < -n or array.max() >= n):
        bad = array[(array < -n) | (array >= n)][0]
        raise IndexError(f"Subset: index {bad} is out of range for a dataset of {n} samples")
    return array


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = _check_indices(
            indices, len(dataset) if hasattr(dataset, "__len__") else None
        )

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices):
        mapped = self.indices[indices]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(mapped)
        return default_collate([self.dataset[int(i)] for i in mapped])

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, seed=None):
    """Split ``dataset`` into non-overlapping random Subsets of the given lengths.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (the
    counts are then floor(f * n), the remainder handed out one by one from the first
    split, as in PyTorch). The same ``seed`` gives the same split on every run;
    None draws from minidl's global generator (``minidl.manual_seed``).
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(x, numbers.Integral) for x in lengths):
        counts = [int(x) for x in lengths]
    elif math.isclose(sum(lengths), 1.0) and all(0 <= x <= 1 for x in lengths):
        counts = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        raise ValueError(
            f"random_split: lengths {lengths} must be integers summing to the "
            f"dataset size {n}, or fractions in [0, 1] summing to 1"
        )
    if any(c < 0 for c in counts):
        raise ValueError(f"random_split: negative length in {counts}")
    if sum(counts) != n:
        raise ValueError(
            f"random_split: lengths {counts} sum to {sum(counts)}, but the dataset has {n} samples"
        )
    rng = minidl_random.generator() if seed is None else np.random.default_rng(seed)
    order = rng.permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def default_collate(samples):
    """Stack a list of samples into a batch: tuples/lists field by field, dicts key by key.

    Arrays are stacked along a new first axis; Python ints become int64, floats float64
    (NumPy's defaults, as PyTorch's collate does); strings stay a list. Every sample
    must have the same structure (fields, keys) and each field the same shape: a field
    only some samples have is an error, never dropped.
    """
    return _collate(list(samples), "batch")


def _collate(samples, where):
    if not samples:
        raise ValueError("default_collate: no samples to collate")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        _same_structure(samples, where, tuple, lambda s: len(s), "fields")
        return tuple(_collate([s[i] for s in samples], f"{where}[{i}]") for i in range(len(first)))
    if isinstance(first, dict):
        _same_structure(samples, where, dict, lambda s: sorted(map(str, s)), "keys")
        return {key: _collate([s[key] for s in samples], f"{where}[{key!r}]") for key in first}
    if isinstance(first, (str, bytes)):
        return list(samples)
    arrays = [_as_array(s) for s in samples]
    for i, a in enumerate(arrays):
        if a.dtype.hasobject:
            raise TypeError(
                f"default_collate: cannot batch {where} of sample {i}: "
                f"{type(samples[i]).__name__} is not a number or array"
            )
        if a.shape != arrays[0].shape:
            raise ValueError(
                f"default_collate: {where} has shape {arrays[0].shape} in "
                f"sample 0 but {a.shape} in sample {i}"
            )
    return backend.array_module(arrays[0]).stack(arrays)


def _same_structure(samples, where, kind, layout, what):
    """Every sample must be a ``kind`` with the first sample's ``layout`` (its fields)."""
    expected = layout(samples[0])
    for i, sample in enumerate(samples[1:], 1):
        if not isinstance(sample, (tuple, list) if kind is tuple else kind):
            raise TypeError(
                f"default_collate: {where} is a {type(samples[0]).__name__} in "
                f"sample 0 but a {type(sample).__name__} in sample {i}"
            )
        if layout(sample) != expected:
            raise ValueError(
                f"default_collate: {where} has {what} {expected} in sample 0 "
                f"but {layout(sample)} in sample {i}; every sample must have "
                f"the same {what}"
            )
