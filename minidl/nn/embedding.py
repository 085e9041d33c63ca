"""Embeddings: ``embedding`` (a lookup of rows) and the Module ``Embedding``.

    y[..., :] = weight[input[...], :]          input: integer indices of any shape

The gradient of a row is the sum of the output gradients of every position that
looked it up (a repeated index accumulates), which is the backward of indexing
(:class:`minidl.ops.GetItem`); rows at ``padding_idx`` get no gradient.
"""

import numpy

from .. import ops
from ..autograd import no_grad
from ..backend import array_module, device_of, to_device
from ..creation import zeros
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = ["embedding", "Embedding"]


_INDEX_DTYPES = (numpy.dtype(numpy.int64), numpy.dtype(numpy.int32))


def _indices(input, weight):
    """``input`` as an integer array on ``weight``'s device, its range checked."""
    index = input.data if isinstance(input, Tensor) else input
    if not hasattr(index, "dtype"):
        index = numpy.asarray(index)
    index = to_device(index, device_of(weight.data))
    if index.dtype not in _INDEX_DTYPES:
        raise TypeError(
            f"embedding: indices must be integers of dtype int64 or int32 (PyTorch's Long "
            f"or Int), got dtype {index.dtype}"
        )
    rows = weight.shape[0]
    if index.size and (int(index.min()) < 0 or int(index.max()) >= rows):
        raise IndexError(
            f"embedding: index out of range: the indices run from "
            f"{int(index.min())} to {int(index.max())}, but the weight has "
            f"{rows} rows (valid indices 0 to {rows - 1})"
        )
    return index


def _padding_row(padding_idx, rows):
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, numpy.integer)):
        raise TypeError(f"padding_idx must be an int, got {padding_idx!r}")
    if not -rows <= padding_idx < rows:
        raise ValueError(f"padding_idx must be within num_embeddings ({rows}), got {padding_idx}")
    return padding_idx % rows


@no_grad()
def _renorm_(weight, index, max_norm, norm_type):
    """Rescale, in place, the looked-up rows whose norm exceeds ``max_norm`` (torch's
    embedding_renorm_: norm -> max_norm / (norm + 1e-7) times itself)."""
    xp = array_module(weight.data)
    rows = xp.unique(index)
    norms = (xp.abs(weight.data[rows]) ** norm_type).sum(axis=1) ** (1 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    weight.data[rows] *= scale[:, None].astype(weight.dtype)
    weight._bump_version()


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type=2.0,
    scale_grad_by_freq=False,
    sparse=False,
):
    """Rows of ``weight`` (num_embeddings, dim) at the integer ``input`` (any shape):
    output (*input.shape, dim). ``padding_idx``: that row gets no gradient.
    ``max_norm``: rows looked up are first rescaled in place to at most that norm."""
    if scale_grad_by_freq or sparse:
        raise NotImplementedError(
            "embedding: scale_grad_by_freq and sparse gradients are not supported"
        )
    if weight.ndim != 2:
        raise ValueError(
            f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
            f"got shape {tuple(weight.shape)}"
        )
    index = _indices(input, weight)
    if max_norm is not None:
        _renorm_(weight, index, max_norm, norm_type)
    out = ops.getitem(weight, index)
    padding_idx = _padding_row(padding_idx, weight.shape[0])
    if padding_idx is None or not weight.requires_grad:
        return out
    keep = Tensor._make((index != padding_idx)[..., None], None)
    return ops.where(keep, out, ops.getitem(weight.detach(), index))


class Embedding(Module):
    """torch.nn.Embedding: a table of ``num_embeddings`` vectors of size
    ``embedding_dim``, initialised N(0, 1) (the ``padding_idx`` row zero)."""

    def __init__(
        self,
        num_embeddings,
        embedding_dim,
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        sparse=False,
        _weight=None,
        _freeze=False,
        dtype=None,
        device=None,
    ):
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(
                f"Embedding: num_embeddings and embedding_dim must be positive, "
                f"got {num_embeddings} and {embedding_dim}"
            )
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_row(padding_idx, num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(
                zeros(num_embeddings, embedding_dim, dtype=dtype, device=device),
                requires_grad=not _freeze,
            )
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(
                    f"Embedding: _weight must have shape ({num_embeddings}, "
                    f"{embedding_dim}), got {tuple(_weight.shape)}"
                )
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze=True,
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        sparse=False,
    ):
        """An Embedding holding ``embeddings`` (2-D); frozen (no gradient) by default."""
        if embeddings.ndim != 2:
            raise ValueError(
                f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                f"{tuple(embeddings.shape)}"
            )
        rows, dim = embeddings.shape
        return cls(
            rows,
            dim,
            padding_idx,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            sparse,
            _weight=embeddings,
            _freeze=freeze,
        )

    def forward(self, input):
        return embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        return text
