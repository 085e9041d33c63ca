"""Samplers: the order in which a DataLoader visits a dataset's indices (torch's classes).

``DataLoader(dataset, sampler=s)`` batches the indices that ``iter(s)`` yields, in that
order; ``len(s)`` is how many there are. ``DataLoader(dataset, batch_sampler=b)`` takes
whole batches (lists of indices) from ``b``, e.g. a ``BatchSampler``.
``DistributedSampler`` gives each rank of a data-parallel job its own equal share.

The random samplers draw from their own NumPy Generator, seeded by ``seed`` (None: a
seed drawn from minidl's global generator, see ``minidl.manual_seed``); each ``iter()``
continues that stream, so every epoch gets a new order and a seed fixes them all.
"""

import math
import numbers

import numpy as np

from .. import random as minidl_random

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "DistributedSampler",
]


def fresh_seed():
    """A seed for a loader or sampler given none, drawn from minidl's global generator,
    so that ``minidl.manual_seed`` makes unseeded shuffling reproducible too."""
    return int(minidl_random.generator().integers(2**63))


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


def _boolean(name, value, error=ValueError):
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{name} should be a boolean value, but got {name}={value!r}")
    return bool(value)


class Sampler:
    """Base class: subclasses define ``__iter__`` (dataset indices) and ``__len__``."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class SequentialSampler(Sampler):
    """The indices 0, 1, ..., len(data_source) - 1, in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """``num_samples`` (default: all) indices of ``data_source`` in a random order.

    Without replacement: whole permutations, the last one cut short when num_samples is
    not a multiple of the size (torch's semantics); with: independent uniform draws.
    """

    def __init__(self, data_source, replacement=False, num_samples=None, seed=None):
        self.data_source = data_source
        self.replacement = _boolean("replacement", replacement, TypeError)
        self._num_samples = num_samples
        _positive_int("num_samples", self.num_samples)
        self.seed = fresh_seed() if seed is None else seed
        self._rng = np.random.default_rng(self.seed)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, count = len(self.data_source), self.num_samples
        if self.replacement:
            return iter(self._rng.integers(n, size=count).tolist())
        rounds = [self._rng.permutation(n) for _ in range(-(-count // n))]
        return iter(np.concatenate(rounds)[:count].tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a new random order at every ``iter()``."""

    def __init__(self, indices, seed=None):
        self.indices = indices
        self.seed = fresh_seed() if seed is None else seed
        self._rng = np.random.default_rng(self.seed)

    def __iter__(self):
        return (self.indices[i] for i in self._rng.permutation(len(self.indices)).tolist())

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices, index i drawn with probability weights[i] / sum(weights);
    without ``replacement`` each index at most once. The weights must be finite, not
    negative and not all zero (torch refuses them when sampling; this refuses them here)."""

    def __init__(self, weights, num_samples, replacement=True, seed=None):
        self.num_samples = _positive_int("num_samples", num_samples)
        self.replacement = _boolean("replacement", replacement)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {weights.shape}"
            )
        if not np.isfinite(weights).all() or (weights < 0).any() or not weights.sum() > 0:
            raise ValueError(
                "invalid multinomial distribution: weights must be finite, non-negative "
                f"and not all zero, got {weights.tolist()}"
            )
        if not self.replacement and self.num_samples > np.count_nonzero(weights):
            raise ValueError(
                f"cannot sample {self.num_samples} indices without replacement from "
                f"{np.count_nonzero(weights)} nonzero weights"
            )
        self.weights = weights
        self.seed = fresh_seed() if seed is None else seed
        self._rng = np.random.default_rng(self.seed)

    def __iter__(self):
        p = self.weights / self.weights.sum()
        draws = self._rng.choice(len(p), self.num_samples, replace=self.replacement, p=p)
        return iter(draws.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` consecutive indices of ``sampler`` (the last one shorter,
    or dropped with ``drop_last``); for ``DataLoader(batch_sampler=...)``."""

    def __init__(self, sampler, batch_size, drop_last):
        self.sampler = sampler
        self.batch_size = _positive_int("batch_size", batch_size)
        self.drop_last = _boolean("drop_last", drop_last)

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(Sampler):
    """Rank ``rank``'s share of ``dataset`` among ``num_replicas`` ranks (torch's semantics).

    Every rank draws the same permutation of all indices (seeded by ``seed + epoch``, so
    call ``set_epoch(epoch)`` before each epoch for a new order) and takes every
    ``num_replicas``-th index from position ``rank`` on. So the shares are disjoint and
    together cover the dataset. All ranks must get the same number of samples (an
    allreduce waits for every rank): without ``drop_last`` the order is padded by repeating
    its first indices up to a multiple of ``num_replicas``; with ``drop_last`` the tail
    that does not fill a round is dropped.

    num_replicas, rank: default to ``minidl.distributed.get_world_size()`` and ``get_rank()``.
    """

    def __init__(
        self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False
    ):
        if num_replicas is None or rank is None:
            from .. import distributed  # late: only a job started under MPI needs it

            if not distributed.is_initialized():
                raise RuntimeError(
                    "DistributedSampler: pass num_replicas and rank, or call "
                    "minidl.distributed.init() first"
                )
            num_replicas = distributed.get_world_size() if num_replicas is None else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        for name, value in (("num_replicas", num_replicas), ("rank", rank), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"DistributedSampler: {name} should be an integer, got {value!r}")
        if num_replicas < 1:
            raise ValueError(
                f"DistributedSampler: num_replicas should be at least 1, got {num_replicas}"
            )
        if not 0 <= rank < num_replicas:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """Use the permutation of ``epoch`` (the same on every rank) from the next ``iter``."""
        self.epoch = int(epoch)

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.total_size > n:  # pad by repeating the order from its start
            order = np.resize(order, self.total_size)
        else:
            order = order[: self.total_size]
        return iter(order[self.rank : self.total_size : self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples
