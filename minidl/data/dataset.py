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
                raise ValueError(f"TensorDataset: array {i} is a scalar; every array needs a "
                                 "first (sample) axis")
        lengths = [t.shape[0] for t in self.tensors]
        if len(set(lengths)) != 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
            raise ValueError(f"TensorDataset: size mismatch along the first axis: {shapes}")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices):
        return tuple(t[indices] if isinstance(t, np.ndarray)
                     else t[backend.array_module(t).asarray(indices)]  # GPU arrays: GPU indices
                     for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

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
        raise ValueError(f"random_split: lengths {lengths} must be integers summing to the "
                         f"dataset size {n}, or fractions in [0, 1] summing to 1")
    if any(c < 0 for c in counts):
        raise ValueError(f"random_split: negative length in {counts}")
    if sum(counts) != n:
        raise ValueError(f"random_split: lengths {counts} sum to {sum(counts)}, but the dataset "
                         f"has {n} samples")
    rng = minidl_random.generator() if seed is None else np.random.default_rng(seed)
    order = rng.permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def default_collate(samples):
    """Stack a list of samples into a batch: tuples/lists field by field, dicts key by key.

    Arrays are stacked along a new first axis; Python ints become int64, floats float64
    (NumPy's defaults, as PyTorch's collate does); strings stay a list.
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(default_collate(list(field)) for field in zip(*samples))
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (str, bytes)):
        return list(samples)
    arrays = [_as_array(s) for s in samples]
    return backend.array_module(arrays[0]).stack(arrays)
