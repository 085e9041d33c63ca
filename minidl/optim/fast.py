"""The fast executor: flat state, cache-sized CPU chunks, fused CuPy kernels.

The executor interface and the plain executor to read first: :mod:`minidl.optim.plain`.
Here the parameters of a group are sorted into buckets by (device, dtype), each with flat
state arrays and a chunk plan (:mod:`minidl.optim.flat`):

* CPU: each chunk runs the rule's generated NumPy function (one ufunc call with ``out=`` per
  operation, intermediates in preallocated scratch chunks; :mod:`minidl.optim.kernels`).
  The plans (chunk views, scratch, the coefficients as 0-d arrays) are built once per rule
  and set of parameters, so a step after the first allocates no array. With ``threads`` > 1
  (``Optimizer.threads``, default 1) and from 2**18 elements on, ``threads - 1`` helper
  threads take chunks from the same queue (NumPy's ufuncs release the GIL), each with its own
  scratch; every element sees the same operations, so the result is the same.
* GPU: each chunk is one launch of the rule's fused ElementwiseKernel.

The state dicts the optimizer shows hold views of the flat state. An array found there that is
not this executor's view (``load_state_dict``, a user's assignment, a rebuilt bucket) is
copied into the flat state and replaced by the view. A parameter whose ``.data`` was replaced
by an array of another shape, dtype or device makes the executor rebuild its buckets.
"""

import os
import threading
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import numpy

from .. import backend
from . import flush
from .flat import aligned_empty, plan_chunks

__all__ = ["FastExecutor"]


class FastExecutor:
    """Flat state, chunked CPU updates and fused GPU kernels for one parameter group."""

    chunk_size = 32768  # CPU elements per chunk; see minidl.optim.flat
    gpu_chunk_size = 2**22
    # CPU threads for a run of at least parallel_min elements. 1 by default: on a busy machine
    # a helper preempted while it holds the GIL stalls the step (measured up to 10x slower)
    threads = 1

    def __init__(self, params, chunk_size=None):
        self.params = list(params)
        if chunk_size is not None:
            self.chunk_size = int(chunk_size)
        self._where = None  # id(p) -> (bucket, k), built at first use

    def _locate(self, p):
        where = None if self._where is None else self._where.get(id(p))
        if where is None or not where[0].follow(where[1], p.data):
            self._build()  # a parameter's data now has another shape, dtype or device
            where = self._where[id(p)]
        return where

    def _build(self):
        kinds = {}
        for p in self.params:
            kinds.setdefault((backend.device_of(p.data), p.data.dtype.str), []).append(p)
        self._where = {}
        for params in kinds.values():
            on_gpu = backend.array_module(params[0].data) is not numpy
            chunk = self.gpu_chunk_size if on_gpu else self.chunk_size
            bucket = _Bucket(
                params,
                chunk,
                pack_below=max(1, 2**16 if on_gpu else chunk // 4),
                threads=1 if on_gpu else max(1, int(self.threads)),
            )
            self._where.update({id(p): (bucket, k) for k, p in enumerate(params)})

    def new_state(self, p, initial):
        bucket, k = self._locate(p)
        views = {}
        for name, value in initial.items():
            views[name] = bucket.state_view(name, k)
            views[name][...] = value
        return views

    def run(self, rule, params, states, coefficients, step, flush_every):
        runs = {}
        for p, st in zip(params, states):
            bucket, k = self._locate(p)
            bucket.adopt(k, st, rule.state_names)
            runs.setdefault(bucket, []).append(k)
        for bucket, ks in runs.items():
            bucket.run(rule, tuple(ks), coefficients, step, flush_every)


class _Bucket:
    """The parameters of a group that share a device and a dtype."""

    parallel_min = 2**18  # elements: below, waking a helper thread does not pay

    def __init__(self, params, chunk_size, pack_below, threads):
        self.params = params
        self.threads = threads
        self.datas = [p.data for p in params]
        self.xp = backend.array_module(self.datas[0])
        self.dtype = self.datas[0].dtype
        self.chunk_size, self.pack_below = chunk_size, pack_below
        self.offsets = [0]
        for data in self.datas:
            self.offsets.append(self.offsets[-1] + int(data.size))
        self.state = {}  # name -> flat array
        self.state_views = {}  # name -> per-parameter views shaped like the parameters
        self.threshold = flush.threshold(self.dtype)
        self.flat_data = [None] * len(params)  # per parameter: p.data as 1-d (or a copy)
        self.copied = set()  # parameters whose data is not contiguous: worked on in a copy
        self.plans = {}
        self.scratch = []  # CPU, per thread: the rule's scratch chunks
        self._views = {}  # CPU, (thread, n_scratch) -> {None: chunks, length: their views}
        self.gather = []  # two chunks to gather the g and p of small parameters into
        self.scalars = {}  # CPU: rule -> its coefficients as 0-d arrays, bound into plans
        self.threshold_array = numpy.array(self.threshold or 0, self.dtype)
        for k in range(len(params)):
            self._flatten(k)

    def _flatten(self, k):
        data = self.datas[k]
        if data.flags.c_contiguous:
            self.flat_data[k] = data.reshape(-1)
            self.copied.discard(k)
        else:
            self.flat_data[k] = aligned_empty(self.xp, data.size, self.dtype)
            self.copied.add(k)

    def follow(self, k, data):
        """Accept a replaced ``p.data`` of the same shape, dtype and device; False if not."""
        old = self.datas[k]
        if data is old:
            return True
        if (
            backend.array_module(data) is not self.xp
            or data.dtype != self.dtype
            or data.shape != old.shape
        ):
            return False
        self.datas[k] = data
        self._flatten(k)
        self.plans.clear()
        return True

    # ------------------------------------------------------------------- state
    def state_view(self, name, k):
        if name not in self.state:
            flat = aligned_empty(self.xp, self.offsets[-1], self.dtype)
            flat.fill(0)
            self.state[name] = flat
            self.state_views[name] = [
                flat[lo:hi].reshape(d.shape)
                for d, lo, hi in zip(self.datas, self.offsets, self.offsets[1:])
            ]
        return self.state_views[name][k]

    def adopt(self, k, st, names):
        """Make parameter k's state dict ``st`` hold this bucket's views, copying values in."""
        for name in names:
            view = self.state_view(name, k)
            value = st[name]
            if value is view:
                continue
            if tuple(value.shape) != view.shape:
                raise ValueError(
                    f"state {name!r} has shape {tuple(value.shape)}, but its "
                    f"parameter has shape {view.shape}"
                )
            view[...] = backend.to_device(value, backend.device_of(view))
            st[name] = view

    # -------------------------------------------------------------------- step
    def run(self, rule, ks, coefficients, step, flush_every):
        grads = {}
        for k in ks:
            g = self.params[k].grad.data
            grads[k] = g.astype(self.dtype, copy=False).reshape(-1)
            if k in self.copied:
                self.flat_data[k][...] = self.datas[k].reshape(-1)
        if self.threshold is None:
            flush_every = 0
        if self.xp is numpy:
            self._run_cpu(rule, ks, grads, coefficients, step, flush_every)
        else:
            self._run_gpu(rule, ks, grads, coefficients, flush_every)
        for k in self.copied.intersection(ks):
            self.datas[k][...] = self.flat_data[k].reshape(self.datas[k].shape)

    def _run_cpu(self, rule, ks, grads, coefficients, step, flush_every):
        plan = self.plans.get((rule, ks))
        if plan is None:
            plan = self.plans[rule, ks] = self._plan(rule, ks)
        for array, value in zip(self.scalars[rule], coefficients):
            array[()] = value
        work = (plan.tail, rule, grads, step, flush_every)
        if not plan.parallel:
            self._run_chunks(plan.packed + plan.direct, 0, *work)
            return
        # NumPy's ufuncs release the GIL, so helper threads take chunks from the same queue
        # (a list iterator: each next() hands a chunk to one thread). A helper that has not
        # started by the time the queue is empty is cancelled, not waited for.
        queue = iter(plan.direct)
        helpers = [
            _pool(self.threads - 1).submit(self._run_chunks, queue, slot, *work)
            for slot in range(1, self.threads)
        ]
        self._run_chunks(plan.packed, 0, *work)  # their gather chunks are the main thread's
        self._run_chunks(queue, 0, *work)
        for helper in helpers:
            if not helper.cancel():
                helper.result()

    def _run_chunks(self, entries, slot, tail, rule, grads, step, flush_every):
        functions = (rule.chunk_function(False), rule.chunk_function(True))
        scratch = self._scratch_views(slot, rule.n_scratch)
        for index, piece, g, head, n, packed in entries:
            function = functions[bool(flush_every) and (step + index) % flush_every == 0]
            views = scratch[n]
            if packed is None:  # a slice of one parameter, worked on in place
                k, a, b = piece
                function(grads[k][a:b], *head, *views, *tail)
            else:  # small parameters: gathered, updated, scattered back
                _gather(packed, grads)
                function(g, *head, *views, *tail)
                _scatter(packed)

    def _plan(self, rule, ks):
        """The chunks of parameters ``ks``: ``direct`` (slices of one parameter) and ``packed``
        (small ones gathered by the main thread), each (index, piece, gathered g or None,
        p and state views, length, gather list or None); ``tail``: the scalar arguments."""
        chunks = plan_chunks(ks, self.offsets, self.chunk_size, self.pack_below)
        total = sum(c.hi - c.lo for c in chunks)
        states = [self.state[s] for s in rule.state_names]
        scalars = self.scalars.setdefault(
            rule, [numpy.zeros((), self.dtype) for _ in rule.coef_names]
        )
        g_chunk, p_chunk = self._gather_chunks()
        direct, packed = [], []
        for index, chunk in enumerate(chunks):
            lo, hi = chunk.lo, chunk.hi
            states_here = tuple(s[lo:hi] for s in states)
            if len(chunk.pieces) == 1:
                k, a, b = chunk.pieces[0]
                direct.append(
                    (
                        index,
                        chunk.pieces[0],
                        None,
                        (self.flat_data[k][a:b], *states_here),
                        hi - lo,
                        None,
                    )
                )
            else:
                g, p = g_chunk[: hi - lo], p_chunk[: hi - lo]
                packed.append(
                    (index, None, g, (p, *states_here), hi - lo, self._packed(chunk, g, p))
                )
        parallel = self.threads > 1 and len(direct) > 1 and total >= self.parallel_min
        for slot in range(self.threads if parallel else 1):  # made here, read by the threads
            views = self._scratch_views(slot, rule.n_scratch)
            for _, _, _, _, n, _ in direct + packed:
                views.setdefault(n, tuple(t[:n] for t in views[None]))
        return _Plan(direct, packed, (*scalars, self.threshold_array), parallel)

    def _packed(self, chunk, g, p):
        """Per parameter of a packed chunk: (k, its places in the chunks g and p, its own data)."""
        places = [
            (k, self.offsets[k] - chunk.lo, b) for k, _, b in chunk.pieces
        ]  # whole parameters
        return [(k, g[at : at + n], p[at : at + n], self.flat_data[k]) for k, at, n in places]

    def _gather_chunks(self):
        """The main thread's chunks to gather the g and p of small parameters into."""
        if not self.gather:
            self.gather = [aligned_empty(self.xp, self.chunk_size, self.dtype) for _ in range(2)]
        return self.gather

    def _scratch_views(self, slot, n_scratch):
        """Thread ``slot``'s scratch for a rule: {None: the chunks, length n: their [:n]}."""
        while len(self.scratch) <= slot:
            self.scratch.append([])
        chunks = self.scratch[slot]
        while len(chunks) < n_scratch:
            chunks.append(aligned_empty(numpy, self.chunk_size, self.dtype))
        key = (slot, n_scratch)
        views = self._views.get(key)
        if views is None:
            views = self._views[key] = {None: chunks[:n_scratch]}
        return views

    def _run_gpu(self, rule, ks, grads, coefficients, flush_every):
        kernel = rule.cuda_kernel(self.dtype, bool(flush_every))
        coefs = [self.dtype.type(c) for c in coefficients] + [self.dtype.type(self.threshold or 0)]
        chunks = self.plans.get(ks)
        if chunks is None:
            chunks = self.plans[ks] = plan_chunks(
                ks, self.offsets, self.chunk_size, self.pack_below
            )
        for chunk in chunks:
            lo, hi = chunk.lo, chunk.hi
            states = [self.state[s][lo:hi] for s in rule.state_names]
            if len(chunk.pieces) == 1:
                k, a, b = chunk.pieces[0]
                kernel(grads[k][a:b], *coefs, self.flat_data[k][a:b], *states)
                continue
            g_chunk, p_chunk = self._gather_chunks()
            g, p = g_chunk[: hi - lo], p_chunk[: hi - lo]
            packed = self._packed(chunk, g, p)
            _gather(packed, grads)
            kernel(g, *coefs, p, *states)
            _scatter(packed)


def _gather(packed, grads):
    for k, g_at, p_at, own in packed:
        g_at[...] = grads[k]
        p_at[...] = own


def _scatter(packed):
    for _, _, p_at, own in packed:
        own[...] = p_at


# a CPU plan: chunks of one parameter, chunks of small ones packed, the scalar arguments
_Plan = namedtuple("_Plan", "direct packed tail parallel")
_pool_lock = threading.Lock()
_pools = {}


def _pool(workers):
    """A pool of ``workers`` threads for the CPU chunks, made once per process (a child
    forked by a DataLoader does not inherit its parent's threads)."""
    key = (os.getpid(), workers)
    with _pool_lock:
        if key not in _pools:
            _pools[key] = ThreadPoolExecutor(workers, thread_name_prefix="minidl-optim")
        return _pools[key]
