"""DataLoader: mini-batches of a dataset as Tensors on a device, optionally shuffled.

Indices are permuted on the host with the loader's own NumPy Generator, so a given
``seed`` yields the same sequence of epoch orders on every run and each ``iter()``
(each epoch) draws a fresh permutation. A dataset with ``__getitems__`` (TensorDataset,
MNIST, Subset) hands over a whole batch by fancy indexing; any other dataset is read
sample by sample and stacked by ``collate_fn``. Each batch is moved to the device once.
"""

import numbers

import numpy as np

from .. import backend
from .dataset import _as_array, default_collate
from .sampler import fresh_seed

__all__ = ["DataLoader"]


def _indices(values, where):
    """``values`` as an int64 array of dataset indices; a float or bool index (which
    would silently select another sample once cast) is an error, as in PyTorch."""
    array = np.asarray(values)
    if array.size and (array.dtype == bool or array.dtype.kind not in "iu"):
        raise TypeError(
            f"DataLoader: {where} must yield integer indices, got {array.dtype} "
            f"(e.g. {array.reshape(-1)[0]!r})"
        )
    return array.astype(np.int64, copy=False).reshape(-1)


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples.

    Each batch is a tuple of ``minidl.Tensor`` (requires_grad False), one per field of a
    sample, on ``device`` ("cpu", "gpu"; None = the default backend's device at iteration
    time). A dataset whose samples are single arrays gives single Tensors, dict samples
    give dicts.

    shuffle: reshuffle at every ``iter()``; ``seed`` fixes the sequence of orders
        (None: drawn from minidl's global generator, see ``minidl.manual_seed``;
        kept in ``self.seed``).
    sampler: an iterable of dataset indices with ``__len__`` (e.g. ``DistributedSampler``)
        giving the order instead; as in PyTorch it excludes ``shuffle``.
    batch_sampler: an iterable of lists of indices with ``__len__``, one list per batch;
        as in PyTorch it excludes ``batch_size`` (other than 1), ``shuffle``, ``sampler``
        and ``drop_last``.
    batch_size None: no batching, as in PyTorch: each sample (passed through ``collate_fn``
        when given) with its arrays as Tensors, no batch axis.
    drop_last: drop the final batch when it is smaller than ``batch_size`` (a bool).
    num_workers, pin_memory: accepted for PyTorch compatibility (num_workers >= 0); batches
        are always loaded in the calling process, which gives the same batches.
    collate_fn: as in PyTorch, called with the list of samples of a batch; when given,
        samples are always fetched one by one with ``dataset[i]``. Arrays in what it
        returns are moved to ``device`` and wrapped as Tensors like the default batches.
    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=False,
        drop_last=False,
        seed=None,
        collate_fn=None,
        device=None,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        pin_memory=False,
    ):
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            sampler = batch_sampler  # its length is the number of batches
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral):
            raise TypeError(f"num_workers should be an integer, got {num_workers!r}")
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to "
                "disable multiprocessing."
            )
        if not isinstance(drop_last, (bool, np.bool_)):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        if batch_size is None:
            if drop_last:
                raise ValueError(
                    "batch_size=None option disables auto-batching and is mutually "
                    "exclusive with drop_last"
                )
        elif (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, numbers.Integral)
            or batch_size <= 0
        ):
            raise ValueError(f"batch_size should be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        try:
            n = len(dataset) if sampler is None else len(sampler)
        except TypeError:
            raise TypeError(
                f"DataLoader needs a dataset (or sampler) with __len__, got "
                f"{type(dataset if sampler is None else sampler).__name__}"
            ) from None
        if n == 0:
            raise ValueError("DataLoader: the dataset is empty")
        if drop_last and n < batch_size:
            raise ValueError(
                f"DataLoader: drop_last=True with {n} samples and batch_size "
                f"{batch_size} would yield no batches"
            )
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"collate_fn should be callable, got {collate_fn!r}")
        if device is not None:
            device = backend.normalize_device(device)
            if device == "gpu":
                backend.get_cupy()  # fail now, with the reason, rather than at the first batch
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = fresh_seed() if seed is None else seed
        self.collate_fn = collate_fn
        self.device = device
        self.sampler = None if batch_sampler is not None else sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self._rng = np.random.default_rng(self.seed)
        self._batched = collate_fn is None and hasattr(dataset, "__getitems__")

    def state_dict(self):
        """The shuffling state. Loaded into a loader over the same dataset, the next
        ``iter()`` gives the same order this loader's next ``iter()`` would give."""
        return {"seed": self.seed, "rng": self._rng.bit_generator.state}

    def load_state_dict(self, state):
        self.seed = state["seed"]
        self._rng.bit_generator.state = state["rng"]

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        if self.batch_sampler is not None:
            return (
                self._place(self._fetch(_indices(b, "batch_sampler"))) for b in self.batch_sampler
            )
        if self.sampler is not None:
            order = _indices(list(self.sampler), "sampler")
        else:
            n = len(self.dataset)
            order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        if self.batch_size is None:  # no batching: the samples themselves, as Tensors
            convert = self.collate_fn or (lambda sample: sample)
            return (self._place(convert(self.dataset[i])) for i in order.tolist())
        n = len(order)
        if self.drop_last:
            order = order[: n - n % self.batch_size]
        return self._batches(order)

    def _batches(self, order):
        for start in range(0, len(order), self.batch_size):
            yield self._place(self._fetch(order[start : start + self.batch_size]))

    def _fetch(self, indices):
        if self._batched:
            return self.dataset.__getitems__(indices)
        samples = [self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(samples)

    def _place(self, batch):
        """Arrays (and Tensors) in ``batch`` become Tensors on ``self.device``."""
        if isinstance(batch, (tuple, list)):
            return tuple(self._place(x) for x in batch)
        if isinstance(batch, dict):
            return {key: self._place(x) for key, x in batch.items()}
        from ..tensor import Tensor  # late: minidl/__init__ may import this package

        if isinstance(batch, Tensor) or (hasattr(batch, "shape") and hasattr(batch, "dtype")):
            return Tensor(backend.to_device(_as_array(batch), self.device))
        return batch
