"""DistributedDataParallel: the same model on every rank, gradients averaged after backward.

Each of N ranks (processes started by ``mpiexec -n N``) holds a replica of the model and
trains it on its own shard of every batch. For a loss that is a mean over the batch, the
gradient of the global batch is the mean of the ranks' gradients, so averaging them with
one allreduce makes every rank take exactly the step a single process would take on the
global batch, and the replicas stay identical::

    dist.init()
    model = DistributedDataParallel(model)          # rank 0's weights everywhere
    optimizer = minidl.optim.Adam(model.parameters())
    loss = loss_fn(model(x_shard), y_shard)
    loss.backward()                                 # ... ends with the gradient allreduce
    optimizer.step()

**When gradients are averaged.** The output of ``forward`` passes through an identity op
whose backward asks the engine to call this module back once the whole backward pass has
finished (``minidl.autograd.queue_callback``, as torch's DDP finalizes its reduction). At
that point every gradient has reached its ``.grad``, including contributions that did not
flow through the model's output (a weight penalty added to the loss), so nothing is
averaged early or twice. A second ``backward`` before ``step`` (gradient accumulation)
averages again; since averaging is linear and the ranks already agree on what was averaged,
the sum stays correct. ``with ddp.no_sync():`` skips the allreduce for the forwards inside
it, to pay for it only once per accumulated step. ``minidl.autograd.grad`` through the
module returns this rank's own gradients (nothing lands in ``.grad``, nothing is averaged).

**How.** The gradients of the parameters are copied into flat buckets (one per device and
dtype, split at ``bucket_cap_mb``), so a step sends a few large messages rather than one per
parameter; each bucket ends with one slot per parameter counting the ranks that had a
gradient for it, so a parameter unused on every rank keeps ``grad = None`` and one unused
on some ranks counts as zero there (torch's rule). The averages are copied back into the
``.grad`` Tensors in place.
"""

import contextlib
import math

from .. import autograd, backend
from .. import distributed as dist
from ..autograd import Function
from ..tensor import Tensor
from .module import Module

__all__ = ["DistributedDataParallel"]


class _FlatBuffer:
    """Arrays of one device and dtype packed into one message, plus ``extra`` slots."""

    def __init__(self, shapes, xp, dtype, extra=0):
        self.shapes = list(shapes)
        self.offsets = [0]
        for shape in self.shapes:
            self.offsets.append(self.offsets[-1] + math.prod(shape))
        self.flat = xp.empty(self.offsets[-1] + extra, dtype)
        self.views = [
            self.flat[lo:hi].reshape(shape)
            for shape, lo, hi in zip(self.shapes, self.offsets, self.offsets[1:])
        ]
        self.extra = self.flat[self.offsets[-1] :]

    @property
    def nbytes(self):
        return self.flat.nbytes


def _group_by_kind(tensors, cap_bytes):
    """Consecutive runs of ``tensors`` by (device, dtype), each run cut at ``cap_bytes``."""
    groups = {}  # (device, dtype) -> runs, and the bytes in the last run
    for t in tensors:
        runs, last_bytes = groups.get((t.device, str(t.dtype)), ([[]], 0))
        if runs[-1] and last_bytes + t.data.nbytes > cap_bytes:
            runs.append([])
            last_bytes = 0
        runs[-1].append(t)
        groups[(t.device, str(t.dtype))] = (runs, last_bytes + t.data.nbytes)
    return [run for runs, _ in groups.values() for run in runs]


def _broadcast_from_rank0(tensors):
    """Every rank's ``tensors`` become rank 0's: one message per device and dtype."""
    for group in _group_by_kind(tensors, float("inf")):
        first = group[0].data
        buffer = _FlatBuffer([t.shape for t in group], backend.array_module(first), first.dtype)
        for t, view in zip(group, buffer.views):
            view[...] = t.data
        dist.broadcast(buffer.flat, src=0)
        for t, view in zip(group, buffer.views):
            t.data[...] = view


class _GradientBucket:
    """The gradients of some parameters, averaged across the ranks as one message."""

    def __init__(self, params):
        self.params = params
        first = params[0].data
        self.buffer = _FlatBuffer(
            [p.shape for p in params], backend.array_module(first), first.dtype, extra=len(params)
        )

    def fits(self):
        """False once a parameter has changed dtype, device or shape (``model.to(...)``)."""
        flat = self.buffer.flat
        return all(
            p.data.dtype == flat.dtype
            and p.data.shape == view.shape
            and backend.array_module(p.data) is backend.array_module(flat)
            for p, view in zip(self.params, self.buffer.views)
        )

    def average(self, world_size):
        buffer = self.buffer
        for k, (p, view) in enumerate(zip(self.params, buffer.views)):
            if p.grad is None:
                view[...] = 0
                buffer.extra[k] = 0
            else:
                view[...] = p.grad.data
                buffer.extra[k] = 1
        dist.all_reduce(buffer.flat)
        buffer.flat /= world_size
        for k, (p, view) in enumerate(zip(self.params, buffer.views)):
            if p.grad is not None:
                p.grad.data[...] = view
            elif buffer.extra[k] > 0:  # another rank had a gradient: ours counted as zero
                p.grad = Tensor(view.copy())


class _AverageAfterBackward(Function):
    """Identity; its backward schedules the gradient allreduce for the end of the pass."""

    @staticmethod
    def forward(ctx, x, ddp):
        ctx.ddp = ddp
        return x

    @staticmethod
    def backward(ctx, g):
        ctx.ddp._schedule_average()
        return g


class DistributedDataParallel(Module):
    """Data parallelism over the ranks of ``minidl.distributed`` (torch's name and API).

    At construction rank 0's parameters and buffers are broadcast to every rank. Every
    ``backward`` through this module's output ends by averaging the parameters' gradients
    across the ranks (see the module docstring for when and how). ``module`` is the wrapped
    model: save ``ddp.module.state_dict()`` for plain keys (this wrapper's own keys start
    with ``module.``, as in torch).

    broadcast_buffers: in training mode, each forward first copies rank 0's buffers
        (running statistics) to all ranks, so they stay identical. Batch norm still
        normalizes by each rank's own batch statistics, as in torch without SyncBatchNorm.
    bucket_cap_mb: the largest message, in MiB of gradients (torch's default, 25).
    """

    def __init__(self, module, broadcast_buffers=True, bucket_cap_mb=25):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a Module, got {type(module).__name__}")
        if bucket_cap_mb <= 0:
            raise ValueError(f"bucket_cap_mb should be positive, got {bucket_cap_mb}")
        dist.init()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self._require_sync = True
        self._average_scheduled = False
        self.bucket_cap_mb = bucket_cap_mb
        self._broadcast_state()
        self._make_buckets()

    def _make_buckets(self):
        params = [p for p in self.module.parameters() if p.requires_grad]
        self._buckets = [
            _GradientBucket(group) for group in _group_by_kind(params, self.bucket_cap_mb * 2**20)
        ]

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs, **kwargs):
        if self.broadcast_buffers and self.training:
            buffers = [b for _, b in self.module.named_buffers()]
            if buffers and dist.get_world_size() > 1:
                _broadcast_from_rank0(buffers)
        out = self.module(*inputs, **kwargs)
        self._average_scheduled = False  # even if a failed backward left it set
        if self._require_sync and autograd.is_grad_enabled():
            out = _map_tensors(
                out, lambda t: _AverageAfterBackward.apply(t, ddp=self) if t.requires_grad else t
            )
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Forwards inside the block do not average gradients in their backward: gradients
        accumulate locally until the first backward of a forward outside the block."""
        previous = self._require_sync
        self._require_sync = False
        try:
            yield
        finally:
            self._require_sync = previous

    # ------------------------------------------------------------ the allreduce
    def _schedule_average(self):
        if self._average_scheduled:
            return
        try:
            autograd.queue_callback(self._average_gradients)
        except RuntimeError:  # minidl.autograd.grad(): nothing lands in .grad to average
            return
        self._average_scheduled = True

    def _average_gradients(self):
        self._average_scheduled = False
        world_size = dist.get_world_size()
        if not all(bucket.fits() for bucket in self._buckets):
            self._make_buckets()
        for bucket in self._buckets:
            bucket.average(world_size)

    def _broadcast_state(self):
        if dist.get_world_size() > 1:
            tensors = list(self.module.parameters()) + [b for _, b in self.module.named_buffers()]
            _broadcast_from_rank0(tensors)

    @property
    def bucket_sizes(self):
        """Bytes of each gradient message (one allreduce per bucket per step)."""
        return [bucket.buffer.nbytes for bucket in self._buckets]

    def extra_repr(self):
        return f"world_size={dist.get_world_size()}, buckets={len(self._buckets)}"


def _map_tensors(out, fn):
    if isinstance(out, Tensor):
        return fn(out)
    if isinstance(out, (tuple, list)):
        return type(out)(_map_tensors(x, fn) for x in out)
    if isinstance(out, dict):
        return {key: _map_tensors(x, fn) for key, x in out.items()}
    return out
