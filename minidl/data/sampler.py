"""Samplers: the order in which a DataLoader visits a dataset's indices.

``DataLoader(dataset, sampler=s)`` batches the indices that ``iter(s)`` yields, in that
order; ``len(s)`` is how many there are. ``DistributedSampler`` gives each rank of a
data-parallel job its own equal share of the dataset.
"""

import math
import numbers

import numpy as np

__all__ = ["Sampler", "DistributedSampler"]


class Sampler:
    """Base class: subclasses define ``__iter__`` (dataset indices) and ``__len__``."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


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
