"""Loss functions with PyTorch's options, and their Modules (``nn.CrossEntropyLoss``, ...).

Each functional loss computes a per-element loss and then reduces it: ``"mean"``,
``"sum"`` or ``"none"`` (plus ``"batchmean"`` for kl_div). Class-index losses take the
class dim second, (N, C) or (N, C, d1, d2, ...), PyTorch's layout. The common case of
cross-entropy, (N, C) logits and class indices without weights, is one fused Function
(a few array calls each way); every other case is built from differentiable ops.
"""

import math

import numpy

from .. import ops
from ..autograd import Function
from ..backend import array_module, device_of, to_device
from ..tensor import Tensor
from .module import Module

__all__ = [
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "cosine_embedding_loss",
    "CrossEntropyLoss",
    "NLLLoss",
    "MSELoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
    "CosineEmbeddingLoss",
]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _refuse_string(weight, name):
    if isinstance(weight, str):  # PyTorch's third positional argument is the weight
        raise TypeError(
            f"{name}: weight must be a Tensor, got the string {weight!r}; pass "
            f"reduction= by keyword"
        )


def _check_weight(weight, classes, name, dtype):
    """``weight`` (one per class, of the input's ``dtype``) as a constant array, or None."""
    _refuse_string(weight, name)
    if weight is None:
        return None
    data = weight.data if isinstance(weight, Tensor) else numpy.asarray(weight)
    if data.shape != (classes,):
        raise RuntimeError(
            f"{name}: weight tensor should be defined either for all {classes}"
            f" classes or no classes but got weight tensor of shape "
            f"{tuple(data.shape)}"
        )
    if data.dtype != dtype:
        raise TypeError(f"{name}: the weight's dtype {data.dtype} differs from the input's {dtype}")
    return data


def _check_floating(name, *tensors):
    """PyTorch's losses refuse integer and boolean inputs: raise unless every one of
    ``tensors`` (Tensors or arrays) holds floating point numbers."""
    for t in tensors:
        if t.dtype.kind != "f":
            raise TypeError(f"{name}: expected floating point tensors, got dtype {t.dtype}")


def _check_broadcasts_to(value, shape, what, name):
    """``value`` (a weight, a Tensor or an array) must broadcast to the loss's ``shape``
    without enlarging it (PyTorch's element weights scale the loss in place)."""
    if value is None:
        return
    value_shape = tuple(numpy.shape(value.data if isinstance(value, Tensor) else value))
    try:
        ok = numpy.broadcast_shapes(value_shape, tuple(shape)) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name}: {what} of shape {value_shape} does not broadcast to the input's "
            f"shape {tuple(shape)}"
        )


def _array_on_device_of(target, like):
    """``target`` (a Tensor, an array or a list: class indices, weights) as an array on
    ``like``'s device."""
    target = target.data if isinstance(target, Tensor) else target
    if not hasattr(target, "dtype"):
        target = numpy.asarray(target)
    return to_device(target, device_of(like.data if isinstance(like, Tensor) else like))


def _classes_last(input):
    """(N, C, d1, ...) as (N * d1 * ..., C); (C,) as (1, C); (N, C) as is."""
    if input.ndim == 1:
        return input.reshape(1, -1)
    if input.ndim > 2:
        input = ops.movedim(input, 1, -1)
    return input.reshape(-1, input.shape[-1])


_CLASS_INDEX_DTYPES = (numpy.dtype(numpy.int64), numpy.dtype(numpy.uint8))


def _check_class_targets(input, target, ignore_index, name):
    """PyTorch's checks of class-index targets; True when some target is ignore_index."""
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dimension, got a 0-d tensor")
    expected = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    if tuple(target.shape) != tuple(expected):
        raise ValueError(
            f"{name}: expected target of shape {tuple(expected)} for input of "
            f"shape {tuple(input.shape)} (classes in dim 1), got "
            f"{tuple(target.shape)}"
        )
    if target.dtype not in _CLASS_INDEX_DTYPES:
        raise TypeError(
            f"{name}: target must hold integer class indices of dtype int64 or uint8 "
            f"(PyTorch's Long or Byte), got dtype {target.dtype}"
        )
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, numpy.integer)):
        raise TypeError(f"{name}: ignore_index must be an int, got {ignore_index!r}")
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    if not target.size:
        return False
    if isinstance(target, numpy.ndarray):
        low, high = int(target.min()), int(target.max())
    else:  # on a GPU: one transfer to the host, one wait for the device, not two
        low, high = array_module(target).stack((target.min(), target.max())).tolist()
    if low >= 0 and high < classes:  # the common case: one min and one max, no mask
        return low <= ignore_index <= high and bool((target == ignore_index).any())
    ignored = target == ignore_index
    valid = target[~ignored]
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= classes):
        bad = int(valid.min()) if int(valid.min()) < 0 else int(valid.max())
        raise IndexError(
            f"{name}: Target {bad} is out of bounds: target values must be in "
            f"[0, {classes - 1}] (or ignore_index {ignore_index})"
        )
    return bool(ignored.any())


# ---- negative log-likelihood and cross-entropy -----------------------------------------
def _nll(log_probs, target, weight, ignore_index, reduction, smoothing=0.0):
    """The class-index loss on log-probabilities (N, C, ...) as PyTorch computes it:
    loss_n = -(1 - s) w[t_n] logp[n, t_n] - (s / C) sum_c w_c logp[n, c], 0 where t_n is
    ignored; "mean" divides by the sum of w[t_n] over the targets not ignored."""
    xp = array_module(target)
    flat = _classes_last(log_probs)
    classes = flat.shape[1]
    t = target.reshape(-1)
    kept = t != ignore_index
    safe = xp.where(kept, t, 0)
    per_target = xp.ones(classes) if weight is None else weight
    w = per_target[safe] * kept  # constants: the weight of each target, 0 if ignored
    w = w.astype(flat.dtype)
    losses = -flat[xp.arange(t.shape[0]), safe] * w
    if smoothing:
        class_weights = xp.ones(classes, dtype=flat.dtype) if weight is None else weight
        spread = -(flat * class_weights.astype(flat.dtype)).sum(axis=1) * kept
        losses = losses * (1 - smoothing) + spread * (smoothing / classes)
    if reduction == "none":
        return losses.reshape(target.shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / w.sum()  # 0 / 0 = nan when every target is ignored, as PyTorch


def nll_loss(
    input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"
):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, ...) at the class
    indices ``target`` (N, ...): loss_n = -weight[t_n] input[n, t_n]."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    target = _array_on_device_of(target, input)
    _check_class_targets(input, target, ignore_index, "nll_loss")
    _check_floating("nll_loss", input)
    weight = _check_weight(weight, input.shape[1 if input.ndim > 1 else 0], "nll_loss", input.dtype)
    if weight is not None:
        weight = to_device(weight, input.device)
    return _nll(input, target, weight, ignore_index, reduction)


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood over classes c for each row i:

        loss_i = -(1 - s) * log p_i[t_i] - (s / C) * sum_c log p_i[c],
        log p_i = z_i - max(z_i) - log sum_c exp(z_i[c] - max(z_i))   (stable for any z)
        d loss_i / d z_i = p_i - (1 - s) * onehot(t_i) - s / C

    s is the label smoothing, C the number of classes.
    """

    @staticmethod
    def forward(ctx, logits, target, reduction, smoothing):
        if logits.dtype.kind != "f":
            _check_floating("cross_entropy", logits)
        xp = array_module(logits)
        n = logits.shape[0]
        rows = xp.arange(n)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        log_norm = xp.log(sum_exp)[:, 0]
        losses = (log_norm - shifted[rows, target]) * (1 - smoothing)
        if smoothing:
            losses += smoothing * (log_norm - shifted.mean(axis=1))
        exp /= sum_exp  # now the softmax probabilities
        ctx.save_for_backward(exp, target)
        ctx.reduction, ctx.smoothing = reduction, smoothing
        if reduction == "mean":
            return losses.sum() / n  # what losses.mean() computes, without its Python wrapper
        return losses.sum() if reduction == "sum" else losses

    @staticmethod
    def backward(ctx, g):
        probs, target = ctx.saved_tensors
        n, classes = probs.shape
        grad = probs - ctx.smoothing / classes if ctx.smoothing else probs.copy()
        grad[array_module(grad).arange(n), target] -= 1 - ctx.smoothing
        if ctx.reduction == "none":
            grad *= g[:, None]
        else:
            grad *= g / n if ctx.reduction == "mean" else g
        return grad, None, None, None

    @staticmethod
    def composite(logits, target, reduction, smoothing):
        """The same loss from differentiable ops (create_graph differentiates this): the
        general path of :func:`cross_entropy` without weights or ignored targets."""
        return _nll(ops.log_softmax(logits, dim=1), target, None, -100, reduction, smoothing)


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
    label_smoothing=0.0,
):
    """Cross-entropy of logits ``input`` (N, C, d1, ...) or (C,) against class indices
    ``target`` (N, d1, ...) or class probabilities of the input's shape, as PyTorch:
    ``weight`` per class, ``ignore_index`` (indices only), ``label_smoothing`` s mixing the
    target with the uniform distribution, (1 - s) target + s / C."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    smoothing = float(label_smoothing)
    target_data = _array_on_device_of(target, input)
    if target_data.dtype.kind == "f":  # class probabilities
        if ignore_index != -100:
            raise ValueError(
                "cross_entropy: ignore_index is not supported for floating point "
                "(class-probability) targets"
            )
        return _cross_entropy_with_probabilities(input, target, weight, reduction, smoothing)
    ignored = _check_class_targets(input, target_data, ignore_index, "cross_entropy")
    if input.ndim == 2 and weight is None and not ignored:
        return CrossEntropy.apply(input, target_data, reduction, smoothing)
    _check_floating("cross_entropy", input)
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    weight = _check_weight(weight, classes, "cross_entropy", input.dtype)
    if weight is not None:
        weight = to_device(weight, input.device)
    log_probs = ops.log_softmax(input, dim=1 if input.ndim > 1 else 0)
    return _nll(log_probs, target_data, weight, ignore_index, reduction, smoothing)


def _cross_entropy_with_probabilities(input, target, weight, reduction, smoothing):
    """loss_n = -sum_c w_c q[n, c] log softmax(z)[n, c], q = (1 - s) target + s / C;
    "mean" divides by the number of rows (N * d1 * ...), not by the weights."""
    if not isinstance(target, Tensor):
        target = Tensor(_array_on_device_of(target, input))
    if target.shape != input.shape:
        raise ValueError(
            f"cross_entropy: class-probability targets must have the input's "
            f"shape {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    _check_floating("cross_entropy", input, target)
    class_dim = 1 if input.ndim > 1 else 0
    classes = input.shape[class_dim]
    weight = _check_weight(weight, classes, "cross_entropy", input.dtype)
    log_probs = ops.log_softmax(input, dim=class_dim)
    if smoothing:
        target = target * (1 - smoothing) + smoothing / classes
    terms = log_probs * target
    if weight is not None:
        shape = [1] * input.ndim
        shape[class_dim] = classes
        terms = terms * Tensor(to_device(weight.reshape(shape), input.device))
    losses = -terms.sum(dim=class_dim)
    return _reduce(losses, reduction)


def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's deprecated size_average/reduce flags, mapped to a reduction."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


# ---- regression losses -----------------------------------------------------------------
def _check_same_shape(input, target, name):
    if not isinstance(target, Tensor):
        target = Tensor(_array_on_device_of(target, input))
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"{name}: input shape {tuple(input.shape)} and target shape "
            f"{tuple(target.shape)} differ"
        )
    return target


class MSE(Function):
    """Squared error, reduced: out = reduce((a - t)^2) (mean over the n elements, sum, or
    none) ;  da = 2 G (a - t), dt = -da, with G = g / n, g, or g elementwise.

    One node where ``(a - t) * (a - t)`` then ``.mean()`` are three, and bit for bit the
    same numbers: the forward makes the same NumPy calls, and 2 G d is computed as
    G d + G d, the sum the three nodes' backward forms (x + x = 2x exactly). The
    difference is recomputed in backward (in the array vocabulary, so create_graph
    differentiates it) rather than saved.
    """

    @staticmethod
    def forward(ctx, a, t, reduction):
        ctx.save_for_backward(a, t)
        ctx.reduction, ctx.count = reduction, a.size
        diff = a - t
        diff *= diff
        if reduction == "none":
            return diff
        axes = tuple(range(diff.ndim))
        if reduction == "mean" and diff.dtype.itemsize < 4:
            return diff.mean(axis=axes)  # float16: NumPy's mean accumulates in float32
        total = diff.sum(axis=axes)
        # diff.mean() is exactly this for float32 and float64, less its Python wrapper
        return total / a.size if reduction == "mean" else total

    @staticmethod
    def backward(ctx, g):
        a, t = ctx.saved_tensors
        half = (g / ctx.count if ctx.reduction == "mean" else g) * (a - t)
        grad = half + half
        need_a, need_t, _ = ctx.needs_input_grad
        return grad if need_a else None, -grad if need_t else None, None


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: loss = (input - target)^2, reduced."""
    _check_reduction(reduction)
    target = _check_same_shape(input, target, "mse_loss")
    if input.dtype == target.dtype and input.dtype.kind == "f":
        return MSE.apply(input, target, reduction)
    if input.dtype.kind != "f" and target.dtype.kind != "f":
        _check_floating("mse_loss", input)
    diff = input - target  # mixed dtypes: the operators promote as PyTorch does
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, reduction="mean"):
    """loss = |input - target|, reduced."""
    _check_reduction(reduction)
    target = _check_same_shape(input, target, "l1_loss")
    if input.dtype.kind != "f" and target.dtype.kind != "f":
        _check_floating("l1_loss", input)
    return _reduce(ops.abs(input - target), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """loss = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target);
    beta = 0 is the L1 loss."""
    _check_reduction(reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, got {beta}")
    target = _check_same_shape(input, target, "smooth_l1_loss")
    if input.dtype.kind != "f" and target.dtype.kind != "f":
        _check_floating("smooth_l1_loss", input)
    size = ops.abs(input - target)
    if beta == 0:
        return _reduce(size, reduction)
    losses = ops.where(size < beta, size * size * (0.5 / beta), size - 0.5 * beta)
    return _reduce(losses, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """loss = 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target):
    smooth_l1_loss with beta = delta, times delta."""
    _check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError(
            f"huber_loss does not support non-positive values for delta, got {delta}"
        )
    target = _check_same_shape(input, target, "huber_loss")
    _check_floating("huber_loss", input)  # PyTorch writes the loss in the input's dtype
    size = ops.abs(input - target)
    losses = ops.where(size < delta, size * size * 0.5, (size - 0.5 * delta) * delta)
    return _reduce(losses, reduction)


# ---- binary cross-entropy --------------------------------------------------------------
def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean"
):
    """loss = -w (t log x + (1 - t) log(1 - x)) for probabilities x, each log clamped at
    -100 as in PyTorch (so x = 0 or 1 gives a finite loss; there the gradient is 0, where
    PyTorch's divides by a 1e-12 floor)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _refuse_string(weight, "binary_cross_entropy")
    target = _check_same_shape(input, target, "binary_cross_entropy")
    _check_floating("binary_cross_entropy", input)
    if target.dtype != input.dtype:
        raise TypeError(
            f"binary_cross_entropy: target dtype {target.dtype} differs from the "
            f"input's {input.dtype}"
        )
    _check_broadcasts_to(weight, input.shape, "weight", "binary_cross_entropy")
    for what, data in (("input", input.data), ("target", target.data)):
        # written so that NaN fails too, as in PyTorch
        if data.size and not (float(data.min()) >= 0 and float(data.max()) <= 1):
            raise RuntimeError(
                f"binary_cross_entropy: all elements of {what} should be between 0 and 1"
            )
    losses = -(target * _clamped_log(input) + (1 - target) * _clamped_log(1 - input))
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction)


def _clamped_log(x):
    """max(log x, -100), PyTorch's guard in binary_cross_entropy; its gradient is 0 where
    the clamp holds (x = 0 included, with no division by zero)."""
    above = x > math.exp(-100)
    return ops.where(above, ops.log(ops.where(above, x, 1.0)), -100.0)


class BCEWithLogits(Function):
    """With l = 1 + (pos_weight - 1) t and softplus(u) = log(1 + exp(u)):
    loss = (1 - t) z + l softplus(-z)  (= -pos_weight t log s(z) - (1 - t) log(1 - s(z)))
    computed as max(-z, 0) + log(1 + exp(-|z|)) for softplus(-z), stable for any z.
    dz = g ((1 - t) - l (1 - s(z))) ;  dt = g ((pos_weight - 1) softplus(-z) - z) ;
    dpos_weight = g t softplus(-z)"""

    @staticmethod
    def forward(ctx, z, t, pos_weight):
        xp = array_module(z)
        ctx.save_for_backward(z, t, pos_weight)
        softplus = xp.maximum(-z, 0) + xp.log1p(xp.exp(-xp.abs(z)))
        if pos_weight is None:
            return (1 - t) * z + softplus
        return (1 - t) * z + (1 + (pos_weight - 1) * t) * softplus

    @staticmethod
    def backward(ctx, g):
        z, t, pos_weight = ctx.saved_tensors
        xp = array_module(g)
        need_z, need_t, need_pw = ctx.needs_input_grad
        sig = (xp.tanh(z * 0.5) + 1) * 0.5
        dz = dt = dpw = None
        if pos_weight is None:
            dz = g * (sig - t) if need_z else None
            dt = -g * z if need_t else None
            return dz, dt, None
        softplus = xp.maximum(-z, 0) + xp.log(1 + xp.exp(-xp.abs(z)))
        if need_z:
            dz = g * ((1 - t) - (1 + (pos_weight - 1) * t) * (1 - sig))
        if need_t:
            dt = g * ((pos_weight - 1) * softplus - z)
        if need_pw:
            from ..ops.base import unbroadcast

            dpw = unbroadcast(g * t * softplus, pos_weight.shape)
        return dz, dt, dpw


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
):
    """Binary cross-entropy on logits, stable for any logit; ``weight`` scales each
    element, ``pos_weight`` (one per class, broadcast along the last dim) the positive
    term."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _refuse_string(weight, "binary_cross_entropy_with_logits")
    target = _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    _check_floating("binary_cross_entropy_with_logits", input, target)
    for what, value in (("weight", weight), ("pos_weight", pos_weight)):
        _check_broadcasts_to(value, input.shape, what, "binary_cross_entropy_with_logits")
    if pos_weight is not None and not isinstance(pos_weight, Tensor):
        pos_weight = Tensor(_array_on_device_of(pos_weight, input))
    losses = BCEWithLogits.apply(input, target, pos_weight)
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction)


# ---- divergences and embeddings -------------------------------------------------------
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL divergence with ``input`` the log-probabilities of the model:
    loss = t (log t - input) (0 where t = 0, nan where t < 0 as PyTorch), or
    exp(t) (t - input) with ``log_target``;
    "batchmean" divides the sum by the batch size (the KL divergence proper). The
    target's gradient at t = 0, where t log t has an infinite slope, leaves that term out
    (PyTorch gives nan there)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, _REDUCTIONS + ("batchmean",))
    target = _check_same_shape(input, target, "kl_div")
    _check_floating("kl_div", input, target)
    if log_target:
        losses = ops.exp(target) * (target - input)
    else:
        positive = target > 0
        safe_log = ops.log(ops.where(positive, target, 1.0))
        outside = 0.0
        negative = target.data < 0
        if negative.any():  # t log t of a negative t: nan, as PyTorch's xlogy
            nan = array_module(negative).where(negative, math.nan, 0.0)
            outside = Tensor._make(nan.astype(target.dtype), None)
        losses = ops.where(positive, target * safe_log, outside) - target * input
    if reduction == "batchmean":
        return losses.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(losses, reduction)


def cosine_embedding_loss(
    input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"
):
    """loss = 1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1;
    cos over the last dim, with PyTorch's 1e-12 added to each squared norm."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input1.shape != input2.shape or input1.ndim not in (1, 2):
        raise RuntimeError(
            f"cosine_embedding_loss: expected two 1-D or 2-D inputs of the "
            f"same shape, got {tuple(input1.shape)} and {tuple(input2.shape)}"
        )
    y = target if isinstance(target, Tensor) else Tensor(_array_on_device_of(target, input1))
    if tuple(y.shape) != tuple(input1.shape[:-1]):
        raise RuntimeError(
            f"cosine_embedding_loss: target must have shape "
            f"{tuple(input1.shape[:-1])}, got {tuple(y.shape)}"
        )
    products = (input1 * input2).sum(dim=-1)
    squares1 = (input1 * input1).sum(dim=-1) + 1e-12
    squares2 = (input2 * input2).sum(dim=-1) + 1e-12
    cos = products / ops.sqrt(squares1 * squares2)
    zeros = cos * 0
    losses = ops.where(y == 1, 1 - cos, zeros) + ops.where(
        y == -1, ops.maximum(cos - margin, zeros), zeros
    )
    return _reduce(losses, reduction)


# ---- Modules ------------------------------------------------------------------------------
class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        reduction = _legacy_reduction(size_average, reduce, reduction)
        _check_reduction(reduction, _REDUCTIONS + ("batchmean",))
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        _refuse_string(weight, type(self).__name__)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """:func:`cross_entropy` as a Module: logits (N, C, ...) against class indices or
    probabilities."""

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index=-100,
        reduce=None,
        reduction="mean",
        label_smoothing=0.0,
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    def __init__(
        self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class MSELoss(_Loss):
    def forward(self, input, target):
        return mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):
        return l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_WeightedLoss):
    def forward(self, input, target):
        return binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    def __init__(
        self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return binary_cross_entropy_with_logits(
            input, target, weight=self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class KLDivLoss(_Loss):
    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineEmbeddingLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return cosine_embedding_loss(
            input1, input2, target, margin=self.margin, reduction=self.reduction
        )
