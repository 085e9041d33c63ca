"""The fast executor: flat state, cache-sized CPU chunks, fused CuPy kernels.

The executor interface and the plain executor to read first: :mod:`minidl.optim.plain`.
Here the parameters of a group are sorted into buckets by (device, dtype), each with flat
state arrays and a chunk plan (:mod:`minidl.optim.flat`):

* CPU: each chunk runs the rule's generated NumPy function (one ufunc call with ``out=`` per
  operation, intermediates in preallocated scratch chunks; :mod:`minidl.optim.kernels`).
  The plans (chunk views, scratch, the coefficients as 0-d views of one array that a step
  fills with one assignment) are built once per rule and set of parameters, so a step after
  the first allocates no array; a packed chunk's gradients are copied into places shaped
  like them (any layout and dtype copied as it is, no reshape a step). With ``threads`` > 1
  (``Optimizer.threads``, default 1) and from 2**19 elements on, ``threads - 1`` helper
  threads take chunks from the same queue (NumPy's ufuncs release the GIL), each with its
  own scratch; every element sees the same operations, so the result is the same. A
  threaded run's chunks are 4 times longer: a thread that finishes a ufunc call waits for
  the GIL while the other runs Python between its calls, so fewer, longer calls pay (Adam on
  1e7 float32 parameters, 2 cores: 13.8 ms on one thread, 9.9 ms on two with 32768-element
  chunks, 8.4 ms with 131072).
* GPU: each chunk is one launch of the rule's fused ElementwiseKernel.

The state dicts the optimizer shows hold views of the flat state. An array found there that is
not this executor's view (``load_state_dict``, a user's assignment, a rebuilt bucket) is
copied into the flat state and replaced by the view. A parameter whose ``.data`` was replaced
by an array of another shape, dtype or device makes the executor rebuild its buckets. Both are
found by identity checks at every step (``p.data`` is the bucket's array, each state entry is
its view): a step that finds things as the last one left them locates and adopts nothing.
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
    # CPU threads for a run of at least _Bucket.parallel_min elements. 1 by default: while a
    # model trains, BLAS's threads spin on the other cores after each matrix product, and an
    # optimizer thread competing with them made the step of a 10M-parameter MLP slower (Adam,
    # 2 cores, BLAS on 2 threads: 52.9 ms a step against 40.5 ms). With BLAS on one thread
    # two optimizer threads paid (47.1 against 51.2 ms), and so they do for a step alone.
    threads = 1

    def __init__(self, params, chunk_size=None):
        self.params = list(params)
        if chunk_size is not None:
            self.chunk_size = int(chunk_size)
        self._where = {}  # id(p) -> (bucket, k), built at first use

    def _locate(self, p):
        where = self._where.get(id(p))
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
            where = self._where.get(id(p))
            if where is None or where[0].datas[where[1]] is not p.data:
                where = self._locate(p)  # first use, or p.data was replaced
            bucket, k = where
            bucket.adopt(k, st, rule.state_names)
            runs.setdefault(bucket, []).append(k)
        for bucket, ks in runs.items():
            bucket.run(rule, tuple(ks), coefficients, step, flush_every)


class _Bucket:
    """The parameters of a group that share a device and a dtype."""

    # A run of fewer elements stays on one thread: in a training loop the helper thread
    # sleeps between steps, and waking it costs about what it saves (Adam, BLAS on one
    # thread, one thread against two: 240 against 227 us a step for the MNIST MLP's 203,530
    # parameters, 463 against 555 us for 407k, 1044 against 895 us for 814k); a step alone
    # on a million or more takes 0.6-0.85x the time on two, and no longer with 8 busy
    # processes on the 2 cores.
    parallel_min = 2**19
    parallel_chunks = 4  # a threaded run's chunks are this many chunk_size long

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
            views = self.state_views.get(name)
            value = st[name]
            if views is not None and value is views[k]:
                continue  # the common case: the state dict holds this bucket's view
            view = self.state_view(name, k)
            if tuple(value.shape) != view.shape:
                raise ValueError(
                    f"state {name!r} has shape {tuple(value.shape)}, but its "
                    f"parameter has shape {view.shape}"
                )
            view[...] = backend.to_device(value, backend.device_of(view))
            st[name] = view

    # -------------------------------------------------------------------- step
    def run(self, rule, ks, coefficients, step, flush_every):
        copied = self.copied.intersection(ks) if self.copied else ()
        for k in copied:
            self.flat_data[k][...] = self.datas[k].reshape(-1)
        if self.threshold is None:
            flush_every = 0
        if self.xp is numpy:
            self._run_cpu(rule, ks, coefficients, step, flush_every)
        else:
            self._run_gpu(rule, ks, coefficients, flush_every)
        for k in copied:
            self.datas[k][...] = self.flat_data[k].reshape(self.datas[k].shape)

    def _flat_grad(self, k):
        """Parameter k's gradient as a 1-d array of the bucket's dtype (no copy if it is one)."""
        return self.params[k].grad.data.astype(self.dtype, copy=False).reshape(-1)

    def _run_cpu(self, rule, ks, coefficients, step, flush_every):
        plan = self.plans.get((rule, ks))
        if plan is None:
            plan = self.plans[rule, ks] = self._plan(rule, ks)
        plan.coefficients[:] = coefficients  # one write; the chunks read its 0-d views
        grads = {k: self._flat_grad(k) for k in plan.direct_ks}
        work = (plan, grads, step, flush_every)
        if not plan.parallel:
            self._run_chunks(plan.chunks, 0, *work)
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

    def _run_chunks(self, entries, slot, plan, grads, step, flush_every):
        functions, tail, scratch = plan.functions, plan.tail, plan.scratch[slot]
        for index, piece, g, head, n, packed in entries:
            function = functions[bool(flush_every) and (step + index) % flush_every == 0]
            views = scratch[n]
            if packed is None:  # a slice of one parameter, worked on in place
                k, a, b = piece
                function(grads[k][a:b], *head, *views, *tail)
            else:  # small parameters: gathered, updated, scattered back
                _gather(packed, self.params)
                function(g, *head, *views, *tail)
                _scatter(packed)

    def _plan(self, rule, ks):
        """The CPU plan of rule over parameters ``ks`` (a :data:`_Plan`). Its chunks are
        ``direct`` (slices of one parameter) and ``packed`` (small ones gathered by the main
        thread), each (index, piece, gathered g or None, p and state views, length,
        :data:`_Packed` or None); ``tail`` holds the scalar arguments: 0-d views of the array
        ``coefficients``, which a step fills with one assignment, and the flush threshold."""
        total = sum(self.offsets[k + 1] - self.offsets[k] for k in ks)
        parallel = self.threads > 1 and total >= self.parallel_min
        length = self.chunk_size * (self.parallel_chunks if parallel else 1)
        chunks = plan_chunks(ks, self.offsets, length, self.pack_below)
        states = [self.state[s] for s in rule.state_names]
        g_chunk, p_chunk = self._gather_chunks(length)
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
        parallel = parallel and len(direct) > 1
        scratch = []  # per thread slot: length n -> the scratch chunks' [:n]
        for slot in range(self.threads if parallel else 1):  # made here, read by the threads
            views = self._scratch_views(slot, rule.n_scratch, length)
            for _, _, _, _, n, _ in direct + packed:
                views.setdefault(n, tuple(t[:n] for t in views[None]))
            scratch.append(views)
        coefficients = numpy.zeros(len(rule.coef_names), self.dtype)
        scalars = [coefficients[i : i + 1].reshape(()) for i in range(len(coefficients))]
        return _Plan(
            chunks=packed + direct,
            direct=direct,
            packed=packed,
            direct_ks=sorted({piece[0] for _, piece, _, _, _, _ in direct}),
            functions=(rule.chunk_function(False), rule.chunk_function(True)),
            coefficients=coefficients,
            tail=(*scalars, self.threshold_array),
            scratch=scratch,
            parallel=parallel,
        )

    def _packed(self, chunk, g, p):
        """The whole parameters of a packed chunk: their indices, their own flat data, their
        places in the chunk ``p``, and in the chunk ``g`` shaped like them (so a gradient
        of any layout and dtype is copied there as it is, cast as ``astype`` casts)."""
        ks = [k for k, _, _ in chunk.pieces]
        at = [(self.offsets[k] - chunk.lo, self.offsets[k + 1] - chunk.lo) for k in ks]
        return _Packed(
            ks,
            [self.flat_data[k] for k in ks],
            [p[a:b] for a, b in at],
            [g[a:b].reshape(self.datas[k].shape) for k, (a, b) in zip(ks, at)],
        )

    def _gather_chunks(self, length=None):
        """The main thread's chunks (of at least ``length`` elements, chunk_size by default)
        to gather the g and p of small parameters into."""
        length = length or self.chunk_size
        if not self.gather or len(self.gather[0]) < length:
            self.gather = [aligned_empty(self.xp, length, self.dtype) for _ in range(2)]
        return self.gather

    def _scratch_views(self, slot, n_scratch, length):
        """Thread ``slot``'s scratch for a rule, chunks of at least ``length`` elements:
        {None: the chunks, length n: their [:n]}. (Longer chunks replace shorter ones; a
        plan made before keeps the views it holds.)"""
        while len(self.scratch) <= slot:
            self.scratch.append([])
        chunks = self.scratch[slot]
        if chunks and len(chunks[0]) < length:
            chunks.clear()
            self._views = {key: v for key, v in self._views.items() if key[0] != slot}
        while len(chunks) < n_scratch:
            chunks.append(aligned_empty(numpy, length, self.dtype))
        key = (slot, n_scratch)
        views = self._views.get(key)
        if views is None:
            views = self._views[key] = {None: chunks[:n_scratch]}
        return views

    def _run_gpu(self, rule, ks, coefficients, flush_every):
        kernel = rule.cuda_kernel(self.dtype, bool(flush_every))
        coefs = [self.dtype.type(c) for c in coefficients] + [self.dtype.type(self.threshold or 0)]
        chunks = self.plans.get(ks)
        if chunks is None:
            chunks = self.plans[ks] = plan_chunks(
                ks, self.offsets, self.chunk_size, self.pack_below
            )
        grads = {}  # k -> its flat gradient, for the chunks of one parameter
        for chunk in chunks:
            lo, hi = chunk.lo, chunk.hi
            states = [self.state[s][lo:hi] for s in rule.state_names]
            if len(chunk.pieces) == 1:
                k, a, b = chunk.pieces[0]
                if k not in grads:
                    grads[k] = self._flat_grad(k)
                kernel(grads[k][a:b], *coefs, self.flat_data[k][a:b], *states)
                continue
            g_chunk, p_chunk = self._gather_chunks()
            g, p = g_chunk[: hi - lo], p_chunk[: hi - lo]
            packed = self._packed(chunk, g, p)
            _gather(packed, self.params)
            kernel(g, *coefs, p, *states)
            _scatter(packed)


def _gather(packed, params):
    """The gradients and data of a packed chunk's parameters into its chunks g and p."""
    for k, place in zip(packed.ks, packed.g_places):
        place[...] = params[k].grad.data
    for place, own in zip(packed.places, packed.owns):
        place[...] = own


def _scatter(packed):
    for place, own in zip(packed.places, packed.owns):
        own[...] = place


# a CPU plan (see _Bucket._plan); a packed chunk's parameters (see _Bucket._packed)
_Plan = namedtuple(
    "_Plan", "chunks direct packed direct_ks functions coefficients tail scratch parallel"
)
_Packed = namedtuple("_Packed", "ks owns places g_places")
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
