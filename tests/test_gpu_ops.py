"""Convolution, pooling, normalisation and the other newer ops on the GPU against the CPU:
the forward, the gradient, and the gradient of the gradient (create_graph), all in float64
so that only the order of summation may differ. Where the CPU raises, the GPU must raise
the same error. Marked ``gpu``; runs on tests/fake_cupy.py without a GPU."""

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import backend, nn

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def needs_gpu():
    if not backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")


def host(t):
    return backend.to_device(t.data if isinstance(t, minidl.Tensor) else t, "cpu")


# name -> (function of the tensors, input shapes; an int dtype marks a constant index input)
INDEX = np.array([[0, 2, 1], [1, 1, 0]])


def _zeros_at(a):
    """A constant mask with no zero in row 0, one in row 1 and two in row 2 (of 4 columns):
    the zero-aware gradients of prod and cumprod."""
    mask = np.ones((3, 4))
    mask[1, 2] = mask[2, 0] = mask[2, 3] = 0
    return minidl.tensor(mask, device=a.device)


CASES = {
    "conv2d": (
        lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
        [(2, 3, 7, 6), (4, 3, 3, 2), (4,)],
    ),
    "conv2d_groups": (
        lambda x, w: F.conv2d(x, w, groups=3, padding="same"),
        [(2, 6, 5, 5), (6, 2, 3, 3)],
    ),
    "conv1d": (lambda x, w: F.conv1d(x, w, padding=2, stride=2), [(2, 3, 9), (4, 3, 3)]),
    "conv_transpose2d": (
        lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
        [(2, 3, 4, 4), (3, 2, 3, 3)],
    ),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [(2, 3, 7, 7)]),
    "max_pool1d": (lambda x: F.max_pool1d(x, 2), [(2, 3, 8)]),
    "avg_pool2d": (
        lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
        [(2, 3, 7, 6)],
    ),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [(2, 3, 7, 5)]),
    "batch_norm_train": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        [(4, 3, 2, 2), (3,), (3,)],
    ),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (5,), w, b), [(3, 4, 5), (5,), (5,)]),
    "embedding": (lambda w: F.embedding(minidl.tensor(INDEX, device=w.device), w), [(4, 3)]),
    "pad_reflect": (lambda x: F.pad(x, (1, 2, 0, 1), mode="reflect"), [(2, 2, 4, 4)]),
    "interpolate": (lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), [(1, 2, 3, 3)]),
    "attention": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        [(2, 4, 3), (2, 4, 3), (2, 4, 3)],
    ),
    "normalize": (lambda x: F.normalize(x, dim=1), [(3, 4)]),
    "cosine_similarity": (lambda a, b: F.cosine_similarity(a, b), [(3, 4), (3, 4)]),
    "bce_with_logits": (
        lambda x: F.binary_cross_entropy_with_logits(
            x, minidl.tensor(np.eye(3, 4), device=x.device)
        ),
        [(3, 4)],
    ),
    "kl_div": (
        lambda x, t: F.kl_div(x.log_softmax(-1), t.softmax(-1), reduction="batchmean"),
        [(3, 4), (3, 4)],
    ),
    "huber": (lambda a, b: F.huber_loss(a, b, delta=0.5), [(3, 4), (3, 4)]),
    "einsum_diagonal": (lambda a: minidl.einsum("ii->i", a), [(4, 4)]),
    "einsum_bmm": (lambda a, b: minidl.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 2)]),
    "prod": (lambda a: minidl.prod(a, dim=1), [(3, 4)]),
    "cumprod": (lambda a: minidl.cumprod(a, 1), [(3, 4)]),
    "cumsum": (lambda a: minidl.cumsum(a, 0), [(3, 4)]),
    "sort": (lambda a: minidl.sort(a, dim=1).values, [(3, 5)]),
    "topk": (lambda a: minidl.topk(a, 2, dim=1).values, [(3, 5)]),
    "gather": (lambda a: minidl.gather(a, 1, minidl.tensor(INDEX, device=a.device)), [(2, 4)]),
    "getitem_torch_rules": (lambda a: a[0, :, [0, 1]] * a[True, 1, 2:], [(2, 3, 4)]),
    "take_along_dim": (
        lambda a: minidl.take_along_dim(a, minidl.tensor(INDEX, device=a.device), 1),
        [(2, 4)],
    ),
    "scans_without_accumulate": (
        lambda a: a.cummax(1).values + a.cummin(1).values + a.logcumsumexp(1),
        [(3, 5)],
    ),
    "cross_entropy_weighted_nd": (
        lambda a: F.cross_entropy(
            a,
            minidl.tensor(INDEX, device=a.device),
            label_smoothing=0.1,
            ignore_index=2,
            weight=minidl.tensor([1.0, 2.0, 0.5], device=a.device),
        ),
        [(2, 3, 3)],
    ),
    "index_select": (
        lambda a: minidl.index_select(a, 0, minidl.tensor(np.array([2, 0, 2]), device=a.device)),
        [(3, 4)],
    ),
    "masked_fill": (lambda a: minidl.masked_fill(a, a > 0.5, -1.0), [(3, 4)]),
    "masked_select": (lambda a: minidl.masked_select(a, a > 0), [(3, 4)]),
    "scatter_add": (
        lambda a, b: minidl.scatter_add(a, 1, minidl.tensor(INDEX, device=a.device), b),
        [(2, 4), (2, 3)],
    ),
    "std": (lambda a: minidl.std(a, dim=1), [(3, 5)]),
    "var_all": (lambda a: minidl.var(a), [(3, 5)]),
    "norm": (lambda a: minidl.norm(a, dim=1), [(3, 5)]),
    "logsumexp": (lambda a: minidl.logsumexp(a, 1), [(3, 5)]),
    "amax_ties": (lambda a: minidl.amax(minidl.cat([a, a], 1), 1), [(3, 5)]),  # split evenly
    "roll_flip": (lambda a: minidl.flip(minidl.roll(a, 2, 1), (0,)), [(3, 5)]),
    "tile_repeat": (lambda a: minidl.tile(a, (2, 1)) * a.repeat(2, 1), [(2, 3)]),
    "tril_diag": (lambda a: minidl.tril(a) + minidl.diag(minidl.diagonal(a)), [(4, 4)]),
    "unfold": (lambda a: minidl.unfold(a, 1, 3, 2), [(2, 7)]),
    "split_unbind": (lambda a: minidl.split(a, 2, 1)[1] * minidl.unbind(a, 0)[0][:2], [(3, 5)]),
    "narrow_movedim": (lambda a: minidl.movedim(minidl.narrow(a, 2, 1, 2), 0, 2), [(2, 3, 4)]),
    "mm_mv_dot": (
        lambda a, b, v: minidl.mm(a, b).sum(1) + minidl.mv(a, v) * minidl.dot(v, v),
        [(3, 4), (4, 2), (4,)],
    ),
    "bmm_trace": (
        lambda a, b: minidl.bmm(a, b) * minidl.trace(a[0] @ b[0]),
        [(2, 3, 3), (2, 3, 3)],
    ),
    "outer": (lambda u, v: minidl.outer(u, v), [(3,), (4,)]),
    "prod_cumprod_with_zeros": (
        lambda a: minidl.prod(a * _zeros_at(a), dim=1).sum() + minidl.cumprod(a * _zeros_at(a), 1),
        [(3, 4)],
    ),
    "mse_fused": (
        lambda a, b: F.mse_loss(a, b) + F.mse_loss(a, b, reduction="sum"),
        [(3, 4), (3, 4)],
    ),
    "l1_smooth_l1": (
        lambda a, b: F.l1_loss(a, b) + F.smooth_l1_loss(a, b, beta=0.5),
        [(3, 4), (3, 4)],
    ),
    "bce": (
        lambda a: F.binary_cross_entropy(
            a.sigmoid(),
            minidl.tensor(np.eye(3, 4), device=a.device),
            weight=minidl.tensor(np.arange(1.0, 5.0), device=a.device),
        ),
        [(3, 4)],
    ),
    "bce_with_logits_pos_weight": (
        lambda a: F.binary_cross_entropy_with_logits(
            a,
            minidl.tensor(np.eye(3, 4), device=a.device),
            pos_weight=minidl.tensor(np.arange(1.0, 5.0), device=a.device),
        ),
        [(3, 4)],
    ),
    "nll_weighted": (
        lambda a: F.nll_loss(
            a.log_softmax(1),
            minidl.tensor(np.array([0, 2, 3]), device=a.device),
            weight=minidl.tensor(np.array([1.0, 0.5, 2.0, 1.5]), device=a.device),
        ),
        [(3, 4)],
    ),
    "cosine_embedding": (
        lambda a, b: F.cosine_embedding_loss(
            a, b, minidl.tensor(np.array([1.0, -1.0, 1.0]), device=a.device), margin=0.1
        ),
        [(3, 4), (3, 4)],
    ),
}


def _outcome(device, fn, arrays):
    """(output, first-order grads, second-order grads) on ``device``, or the error raised."""
    inputs = [minidl.tensor(backend.to_device(a, device), requires_grad=True) for a in arrays]
    try:
        out = fn(*inputs)
        # the vector of the vector-Jacobian product requires grad too, so that the second
        # order reaches the backward of the backward even for ops linear in their inputs
        weights = minidl.tensor(
            backend.to_device(np.random.default_rng(5).standard_normal(out.shape), device),
            requires_grad=True,
        )
        grads = minidl.autograd.grad(
            (out * weights).sum(), inputs, create_graph=True, allow_unused=True
        )
        used = [(x, g) for x, g in zip(inputs, grads) if g is not None]
        penalty = sum((g * g).sum() for _, g in used)
        second = minidl.autograd.grad(penalty, [x for x, _ in used] + [weights], allow_unused=True)
    except Exception as exc:  # compared with the other device's outcome
        return type(exc).__name__
    for t in (out, *(g for _, g in used), *(s for s in second if s is not None)):
        assert t.device == device
    return (
        [host(out)],
        [host(g) for _, g in used],
        [None if s is None else host(s) for s in second],
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_on_the_gpu_matches_the_cpu_to_second_order(name):
    fn, shapes = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    arrays = [rng.standard_normal(s) for s in shapes]
    cpu, gpu = _outcome("cpu", fn, arrays), _outcome("gpu", fn, arrays)
    if isinstance(cpu, str) or isinstance(gpu, str):
        assert gpu == cpu, f"CPU: {cpu}; GPU: {gpu}"
        return
    for kind, c_list, g_list in zip(("output", "grad", "grad of grad"), cpu, gpu):
        assert len(c_list) == len(g_list)
        for c, g in zip(c_list, g_list):
            if c is None or g is None:
                assert c is None and g is None, kind
                continue
            np.testing.assert_allclose(g, c, rtol=1e-9, atol=1e-11, err_msg=f"{name} {kind}")


def test_max_pool_indices_and_ties_on_the_gpu():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 2] = x[0, 0, 2, 1] = 5  # a tie in one window: the first maximum wins
    x[0, 0, 3, 3] = np.nan  # NaN counts as the maximum, as in torch
    results = {}
    for device in ("cpu", "gpu"):
        t = minidl.tensor(backend.to_device(x, device), requires_grad=True)
        y, idx = F.max_pool2d(t, 2, return_indices=True)
        y.sum().backward()
        results[device] = host(y), host(idx), host(t.grad)
    for c, g in zip(results["cpu"], results["gpu"]):
        np.testing.assert_array_equal(g, c)


def test_batch_norm_running_statistics_on_the_gpu():
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((8, 3, 4, 4)).astype(np.float32) * 3 + 1 for _ in range(3)]
    layers = {}
    for device in ("cpu", "gpu"):
        bn = nn.BatchNorm2d(3).to(device)
        for b in batches:
            bn(minidl.tensor(backend.to_device(b, device)))
        bn.eval()
        out = bn(minidl.tensor(backend.to_device(batches[0], device)))
        layers[device] = bn, host(out)
    (cpu_bn, cpu_out), (gpu_bn, gpu_out) = layers["cpu"], layers["gpu"]
    assert gpu_bn.running_mean.device == "gpu"
    np.testing.assert_allclose(host(gpu_bn.running_mean), host(cpu_bn.running_mean), rtol=1e-5)
    np.testing.assert_allclose(host(gpu_bn.running_var), host(cpu_bn.running_var), rtol=1e-5)
    assert int(host(gpu_bn.num_batches_tracked)) == 3
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=1e-4, atol=1e-5)


def test_a_small_cnn_trains_the_same_on_both_devices():
    def run(device):
        minidl.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * 4 * 4, 3),
        ).to(device)
        opt = minidl.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        rng = np.random.default_rng(1)
        x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
        y = (x[:, 0, :4].sum((1, 2)) > 0).astype(np.int64) + (x[:, 0, 4:].sum((1, 2)) > 0)
        xs, ys = (minidl.tensor(backend.to_device(a, device)) for a in (x, y))
        losses = []
        for _ in range(15):
            loss = F.cross_entropy(net(xs), ys)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    cpu, gpu = run("cpu"), run("gpu")
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4)
    assert gpu[-1] < 0.7 * gpu[0]
