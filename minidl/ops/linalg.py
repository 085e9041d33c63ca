"""Matrix products."""
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import operand, shape_of, unbroadcast


class MatMul(Function):
    """out = a @ b (1-D, 2-D and batched, like numpy.matmul)
    da = g @ b^T, db = a^T @ g, summed over broadcast batch axes."""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError as exc:
            raise ValueError(f"matmul: shapes {tuple(shape_of(a))} and {tuple(shape_of(b))} "
                             f"cannot be multiplied ({exc})") from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = array_module(g)
        # Treat 1-D operands as a row (a) or a column (b), as matmul itself does
        # (b first: for 1-D @ 1-D, g is 0-d and becomes (1,) then (1, 1)).
        a2 = xp.expand_dims(a, 0) if a.ndim == 1 else a
        b2 = xp.expand_dims(b, 1) if b.ndim == 1 else b
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        need_a, need_b = ctx.needs_input_grad
        da = db = None
        if need_a:
            da = unbroadcast(g @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            db = unbroadcast(xp.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)
        return da, db


def matmul(a, b):
    if not isinstance(a, Tensor):
        a = operand(a, b)
    return MatMul.apply(a, operand(b, a))
