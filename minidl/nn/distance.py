"""Normalising vectors and comparing them: ``F.normalize``, ``F.cosine_similarity`` and
``nn.CosineSimilarity``."""

import numpy

from .. import ops
from ..tensor import Tensor
from .module import Module

__all__ = ["normalize", "cosine_similarity", "CosineSimilarity"]


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p, eps) along ``dim``."""
    return input / ops.clamp(ops.norm(input, p, dim, keepdim=True), min=eps)


def _clamped_norm(x, dim, eps):
    """||x|| along ``dim`` with its value raised to at least ``eps`` as a constant shift,
    as PyTorch does (clamp_min_ under no_grad): the gradient is the unclamped norm's."""
    norm = ops.norm(x, 2, dim, keepdim=True)
    shift = (norm.data < eps) * (eps - norm.data)
    return norm + Tensor._make(shift.astype(norm.dtype), None) if shift.any() else norm


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along ``dim`` (the inputs
    broadcast together), PyTorch's formula: each input divided by its norm first."""
    if eps < 0:
        raise ValueError(f"cosine_similarity: eps must be non-negative, got {eps}")
    shape = numpy.broadcast_shapes(x1.shape, x2.shape)
    x1, x2 = ops.broadcast_to(x1, shape), ops.broadcast_to(x2, shape)
    return ((x1 / _clamped_norm(x1, dim, eps)) * (x2 / _clamped_norm(x2, dim, eps))).sum(dim)


class CosineSimilarity(Module):
    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self):
        return f"dim={self.dim}, eps={self.eps}"
