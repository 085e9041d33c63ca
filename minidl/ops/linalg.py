"""Matrix products and einsum."""

import numpy

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from .base import operand, promote, result_type, shape_of, unbroadcast
from .shape import broadcast_to


class MatMul(Function):
    """out = a @ b (1-D, 2-D and batched, like numpy.matmul)
    da = g @ b^T, db = a^T @ g, summed over broadcast batch axes."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError as exc:
            raise ValueError(
                f"matmul: shapes {tuple(shape_of(a))} and {tuple(shape_of(b))} "
                f"cannot be multiplied ({exc})"
            ) from None

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
    """``a @ b`` of Tensors (or NumPy arrays, made constants); not bool. Mixed dtypes
    promote by PyTorch's rule (int64 @ float32 is float32), where PyTorch raises."""
    if not isinstance(a, Tensor):
        a = _matrix_operand(a, b)
    if not isinstance(b, Tensor):
        b = _matrix_operand(b, a)
    dtype = a.dtype
    if dtype is not b.dtype or dtype.kind == "b":  # rare: the check costs ~nothing
        a, b = _same_dtype("matmul", (a, b))
    return MatMul.apply(a, b)


def _matrix_operand(x, like):
    if isinstance(x, (Tensor, numpy.ndarray)) or type(x).__module__ == "cupy":
        return operand(x, like)
    raise TypeError(f"matmul(): argument must be a Tensor, not {type(x).__name__}")


def _same_dtype(name, tensors):
    """``tensors`` in one dtype, PyTorch's promotion of theirs (NumPy's would make
    int64 @ float32 float64); bool refused, as PyTorch."""
    if any(t.dtype.kind == "b" for t in tensors):
        raise RuntimeError(f"{name}: not implemented for bool tensors")
    return promote(tensors, result_type(*tensors))


# ---- einsum ------------------------------------------------------------------------------
class Einsum(Function):
    """out = einsum(equation, *operands), the equation in plain letters (no ``...``)
    d operand_i = einsum of g with the other operands, giving operand_i's letters; letters
    only operand i has are broadcast back, repeated ones put on the diagonal."""

    @staticmethod
    def forward(ctx, *operands, equation):
        ctx.save_for_backward(*operands)
        ctx.equation = equation
        return array_module(operands[0]).einsum(equation, *operands, optimize=True)

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        inputs, output = ctx.equation.split("->")
        specs = inputs.split(",")
        sizes = {c: n for spec, x in zip(specs, operands) for c, n in zip(spec, x.shape)}
        grads = []
        for i, spec in enumerate(specs):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(specs) if j != i]
            known = set(output).union(*others)
            letters = "".join(dict.fromkeys(spec))
            kept = "".join(c for c in letters if c in known)
            equation = ",".join([output] + others) + "->" + kept
            grad = Einsum.apply(
                g, *[o for j, o in enumerate(operands) if j != i], equation=equation
            )
            grads.append(_place(grad, kept, letters, spec, sizes))
        return tuple(grads)


def _place(grad, kept, letters, spec, sizes):
    """``grad`` (letters ``kept``) as a gradient of an operand with letters ``spec``:
    broadcast over the letters it lacks, zero off the diagonals of repeated letters."""
    xp = array_module(grad)
    shape = [sizes[c] if c in kept else 1 for c in letters]
    order = [kept.index(c) for c in letters if c in kept]
    grad = xp.transpose(grad, order) if order != sorted(order) else grad
    grad = xp.broadcast_to(grad.reshape(shape), [sizes[c] for c in letters])
    if len(letters) == len(spec):
        return grad
    # a letter repeated in spec: an identity over its positions, multiplied in
    out_shape = [sizes[c] for c in spec]
    first = {c: spec.index(c) for c in letters}
    grad = grad.reshape([sizes[c] if first[c] == k else 1 for k, c in enumerate(spec)])
    for k, c in enumerate(spec):
        if first[c] != k:
            eye_shape = [1] * len(spec)
            eye_shape[first[c]] = eye_shape[k] = sizes[c]
            eye = numpy.eye(sizes[c], dtype=grad.dtype).reshape(eye_shape)
            if xp is not numpy and not isinstance(grad, Tensor):
                eye = xp.asarray(eye)  # CuPy
            grad = grad * eye
    return xp.broadcast_to(grad, out_shape)


def _einsum_equation(equation, operands):
    """The equation in plain letters: ``...`` spelled out with fresh letters (operands'
    ellipsis dims broadcast against each other), the implicit output made explicit."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    specs = inputs.split(",")
    if len(specs) != len(operands):
        raise ValueError(
            f"einsum(): the equation has {len(specs)} operands but "
            f"{len(operands)} tensors were given"
        )
    used = set(equation) - set(".,->")
    fresh = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used)
    ellipsis_dims = 0
    for spec, x in zip(specs, operands):
        letters = spec.replace("...", "")
        if not letters.isalpha() and letters:
            raise ValueError(f"einsum(): invalid subscript in {spec!r}")
        if "..." in spec:
            ellipsis_dims = max(ellipsis_dims, x.ndim - len(letters))
        elif len(letters) != x.ndim:
            raise ValueError(
                f"einsum(): the number of subscripts in {spec!r} does not match "
                f"the number of dimensions ({x.ndim}) of its operand"
            )
    ell = "".join(next(fresh) for _ in range(ellipsis_dims))
    new_specs, new_operands = [], []
    for spec, x in zip(specs, operands):
        if "..." in spec:
            n = x.ndim - len(spec.replace("...", ""))
            if n < 0:
                raise ValueError(
                    f"einsum(): {spec!r} has more subscripts than its operand "
                    f"has dimensions ({x.ndim})"
                )
            spec = spec.replace("...", ell[ellipsis_dims - n :])
        new_specs.append(spec)
        new_operands.append(x)
    if ellipsis_dims:  # broadcast the ellipsis dims of all operands to one size each
        sizes = {}
        for spec, x in zip(new_specs, new_operands):
            for c, n in zip(spec, x.shape):
                if c in ell and n != 1:
                    sizes[c] = n
        new_operands = [
            x
            if x.shape == tuple(sizes.get(c, n) for c, n in zip(s, x.shape))
            else broadcast_to(x, [sizes.get(c, n) for c, n in zip(s, x.shape)])
            for s, x in zip(new_specs, new_operands)
        ]
    if arrow:
        output = output.replace("...", ell)
    else:
        counts = {}
        for c in "".join(new_specs):
            counts[c] = counts.get(c, 0) + 1
        output = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    return ",".join(new_specs) + "->" + output, new_operands


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum`` (``...`` and implicit outputs included)."""
    if len(operands) == 1 and isinstance(operands[0], (tuple, list)):
        operands = tuple(operands[0])
    for x in operands:
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum(): operands must be Tensors, got {type(x).__name__}")
    if any(x.dtype != operands[0].dtype for x in operands) or operands[0].dtype.kind == "b":
        operands = _same_dtype("einsum", operands)
    equation, operands = _einsum_equation(equation, operands)
    return Einsum.apply(*operands, equation=equation)


# ---- PyTorch's fixed-rank products: matmul or einsum with PyTorch's shape checks --------
def _check_ranks(name, tensors, ranks, expected):
    if tuple(t.ndim for t in tensors) != ranks:
        got = " and ".join(f"{t.ndim}D" for t in tensors)
        raise RuntimeError(f"{name}: {expected} expected, but got {got} tensors")


def mm(input, mat2):
    """(n, m) @ (m, p)."""
    _check_ranks("mm", (input, mat2), (2, 2), "2D matrices")
    if input.shape[1] != mat2.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({input.shape[0]}x"
            f"{input.shape[1]} and {mat2.shape[0]}x{mat2.shape[1]})"
        )
    return matmul(input, mat2)


def bmm(input, mat2):
    """(b, n, m) @ (b, m, p), no broadcasting."""
    _check_ranks("bmm", (input, mat2), (3, 3), "3D batches of matrices")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(
            f"bmm: batches {tuple(input.shape)} and {tuple(mat2.shape)} cannot be multiplied"
        )
    return matmul(input, mat2)


def mv(input, vec):
    """(n, m) @ (m,)."""
    _check_ranks("mv", (input, vec), (2, 1), "a matrix and a vector")
    return mm(input, vec.reshape(-1, 1)).reshape(-1)


def dot(input, other):
    """sum(input * other) of two 1-D tensors of the same length."""
    _check_ranks("dot", (input, other), (1, 1), "1D tensors")
    if input.shape != other.shape:
        raise RuntimeError(
            f"dot: inconsistent tensor size, expected tensors of the same "
            f"number of elements, but got {input.shape[0]} and "
            f"{other.shape[0]}"
        )
    return matmul(input, other)


def outer(input, vec2):
    """out[i, j] = input[i] * vec2[j] for 1-D tensors."""
    _check_ranks("outer", (input, vec2), (1, 1), "1D tensors")
    return input.reshape(-1, 1) * vec2  # a product: PyTorch's promotion, bools included


def trace(input):
    """The sum of the main diagonal of a 2-D tensor (square or not)."""
    _check_ranks("trace", (input,), (2,), "a matrix")
    if input.dtype.kind in "biu":  # a sum: integers give int64, as PyTorch
        _same_dtype("trace", (input,))
        input = input.to(dtype=numpy.int64)
    n = min(input.shape)
    return einsum("ii->", input[:n, :n])
