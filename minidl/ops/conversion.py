"""Moving a tensor to another device or dtype, differentiably."""

import numpy

from .. import backend
from ..autograd import Function
from ..tensor import Tensor


class ToDevice(Function):
    """out = a copied to another device ;  da = g copied back"""

    @staticmethod
    def forward(ctx, a, device):
        ctx.device = backend.device_of(a)
        return backend.to_device(a, device)

    @staticmethod
    def backward(ctx, g):
        return ToDevice.apply(g, ctx.device), None


def to_device(a, device):
    return ToDevice.apply(a, device)


class Cast(Function):
    """out = a as another dtype ;  da = g cast back"""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


def cast(a, dtype):
    """``a`` as ``dtype``; a cast to an integer or boolean dtype leaves the graph."""
    if a.requires_grad and numpy.dtype(dtype).kind in "fc":
        return Cast.apply(a, dtype)
    return Tensor._make(a.data.astype(dtype), None)
