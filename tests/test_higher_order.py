"""Higher-order gradients: create_graph, autograd.grad, gradgradcheck.

Closed forms and hand derivations are written out here in NumPy, independently of the
engine; finite differences are central differences in float64.
"""

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import autograd
from minidl.autograd import grad

rng = np.random.default_rng(0)


def leaf(*shape, low=-2.0, high=2.0):
    return minidl.tensor(rng.uniform(low, high, shape), requires_grad=True)


def derivatives(fn, x, order):
    """[f'(x), f''(x), ...] up to ``order``, elementwise, by repeated grad()."""
    out, results = fn(x), []
    for _ in range(order):
        (out,) = grad(out.sum(), x, create_graph=True)
        results.append(out.numpy())
    return results


# ---- closed forms ------------------------------------------------------------------
def test_derivatives_of_tanh_up_to_third_order():
    x = leaf(7)
    t = np.tanh(x.numpy())
    d1, d2, d3 = derivatives(minidl.tanh, x, 3)
    np.testing.assert_allclose(d1, 1 - t**2, rtol=1e-12)
    np.testing.assert_allclose(d2, -2 * t * (1 - t**2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d3, (6 * t**2 - 2) * (1 - t**2), rtol=1e-12, atol=1e-15)


def test_derivatives_of_sigmoid_up_to_third_order():
    x = leaf(7, low=-5, high=5)
    s = 1 / (1 + np.exp(-x.numpy()))
    d1, d2, d3 = derivatives(minidl.sigmoid, x, 3)
    np.testing.assert_allclose(d1, s * (1 - s), rtol=1e-12)
    np.testing.assert_allclose(d2, s * (1 - s) * (1 - 2 * s), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(d3, s * (1 - s) * (1 - 6 * s + 6 * s**2), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("p", [3, 2.5, -1.5])
def test_derivatives_of_a_power(p):
    x = leaf(5, low=0.5, high=2.0)
    v = x.numpy()
    d1, d2, d3 = derivatives(lambda t: t**p, x, 3)
    np.testing.assert_allclose(d1, p * v ** (p - 1), rtol=1e-12)
    np.testing.assert_allclose(d2, p * (p - 1) * v ** (p - 2), rtol=1e-12)
    np.testing.assert_allclose(d3, p * (p - 1) * (p - 2) * v ** (p - 3), rtol=1e-12, atol=1e-14)


def test_derivatives_of_log_and_exp():
    x = leaf(5, low=0.5, high=2.0)
    v = x.numpy()
    d1, d2, d3 = derivatives(minidl.log, x, 3)
    np.testing.assert_allclose([d1, d2, d3], [1 / v, -1 / v**2, 2 / v**3], rtol=1e-12)
    for d in derivatives(minidl.exp, x, 4):
        np.testing.assert_allclose(d, np.exp(v), rtol=1e-12)


def test_second_derivative_of_a_product_and_quotient():
    # f(x, y) = x^2 y / (1 + y): f_xy = 2x / (1 + y)^2
    x, y = leaf(4, low=0.1), leaf(4, low=0.1)
    f = (x * x * y / (1 + y)).sum()
    (fx,) = grad(f, x, create_graph=True)
    (fxy,) = grad(fx.sum(), y)
    np.testing.assert_allclose(fxy.numpy(), 2 * x.numpy() / (1 + y.numpy()) ** 2, rtol=1e-12)


# ---- Hessians against finite differences --------------------------------------------
def hessian(fn, x):
    """The Hessian of the scalar fn at the vector x, one row per double backward."""
    (g,) = grad(fn(x), x, create_graph=True)
    rows = [grad(g[i], x, retain_graph=True, allow_unused=True)[0] for i in range(x.shape[0])]
    return np.stack([np.zeros(x.shape) if r is None else r.numpy() for r in rows])


def numeric_hessian(fn, v, eps=1e-4):
    n = v.size
    h = np.empty((n, n))
    f = lambda w: fn(minidl.tensor(w)).item()
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * eps, np.eye(n)[j] * eps
            h[i, j] = (
                f(v + e_i + e_j) - f(v + e_i - e_j) - f(v - e_i + e_j) + f(v - e_i - e_j)
            ) / (4 * eps * eps)
    return h


SMALL_FUNCTIONS = {
    "rosenbrock": lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2,
    "log_sum_exp": lambda v: minidl.log(minidl.exp(v).sum()),
    "mixed": lambda v: (
        minidl.tanh(v[0] * v[1])
        + minidl.sigmoid(v[2]) * v[0] ** 3
        + minidl.sqrt(v[1] * v[1] + 1) * minidl.log(v[2] + 3)
    ),
    "softmax_entropy": lambda v: -(minidl.softmax(v, 0) * minidl.log_softmax(v, 0)).sum(),
    "max_of_products": lambda v: minidl.amax(minidl.stack([v[0] * v[1], v[2] * 2.0])),
    "matmul_quadratic": lambda v: (
        v[None, :] @ minidl.tensor([[2.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 3.0]]) @ v[:, None]
    ).sum(),
}


@pytest.mark.parametrize("name", SMALL_FUNCTIONS)
def test_hessian_matches_finite_differences(name):
    fn = SMALL_FUNCTIONS[name]
    v = np.array([0.3, -0.7, 0.9])
    x = minidl.tensor(v, requires_grad=True)
    np.testing.assert_allclose(hessian(fn, x), numeric_hessian(fn, v), rtol=1e-5, atol=1e-5)


# ---- a Hessian-vector product and a gradient penalty, derived by hand ----------------
def test_hessian_vector_product_of_an_mlp_loss():
    """L = 1/2 sum (W2 tanh(W1 x) - t)^2 ; H v by Pearlmutter's R-operator, by hand."""
    n, d, h_dim, k = 6, 4, 5, 3
    x = rng.standard_normal((n, d))
    t = rng.standard_normal((n, k))
    w1, w2 = rng.standard_normal((h_dim, d)), rng.standard_normal((k, h_dim))
    v1, v2 = rng.standard_normal(w1.shape), rng.standard_normal(w2.shape)

    # by hand: forward, backward, and their directional derivatives R{.} along (v1, v2)
    a = x @ w1.T
    h = np.tanh(a)
    s = 1 - h * h
    y = h @ w2.T
    dy = y - t
    dh = dy @ w2
    ra = x @ v1.T
    rh = s * ra
    ry = h @ v2.T + rh @ w2.T
    rdh = dy @ v2 + ry @ w2
    rda = rdh * s - dh * 2 * h * rh
    hv1 = rda.T @ x
    hv2 = ry.T @ h + dy.T @ rh

    W1 = minidl.tensor(w1, requires_grad=True)
    W2 = minidl.tensor(w2, requires_grad=True)
    loss = 0.5 * ((minidl.tanh(minidl.tensor(x) @ W1.T) @ W2.T - minidl.tensor(t)) ** 2).sum()
    g1, g2 = grad(loss, [W1, W2], create_graph=True)
    hv = grad((g1 * minidl.tensor(v1)).sum() + (g2 * minidl.tensor(v2)).sum(), [W1, W2])
    np.testing.assert_allclose(hv[0].numpy(), hv1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hv[1].numpy(), hv2, rtol=1e-10, atol=1e-12)


def test_hessian_vector_product_through_fused_linear_and_cross_entropy():
    """L = mean_i CE(W x_i + b, t_i): the Hessian in the logits is (diag(p) - p p^T) / n."""
    n, d, k = 5, 4, 3
    x = rng.standard_normal((n, d))
    target = np.array([0, 2, 1, 1, 0])
    w, b = rng.standard_normal((k, d)), rng.standard_normal(k)
    vw, vb = rng.standard_normal(w.shape), rng.standard_normal(b.shape)
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    rz = x @ vw.T + vb
    rdz = (p * rz - p * (p * rz).sum(1, keepdims=True)) / n
    W, B = minidl.tensor(w, requires_grad=True), minidl.tensor(b, requires_grad=True)
    loss = F.cross_entropy(F.linear(minidl.tensor(x), W, B), target)
    gw, gb = grad(loss, [W, B], create_graph=True)
    hw, hb = grad((gw * minidl.tensor(vw)).sum() + (gb * minidl.tensor(vb)).sum(), [W, B])
    np.testing.assert_allclose(hw.numpy(), rdz.T @ x, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(hb.numpy(), rdz.sum(0), rtol=1e-10, atol=1e-13)


def test_gradient_penalty_derived_by_hand():
    """WGAN-GP style: D(x) = w . tanh(W x), P = sum_i ||grad_x D(x_i)||^2 ; dP/dw, dP/dW."""
    n, d, m = 4, 3, 5
    xs = rng.standard_normal((n, d))
    w_vec, w_mat = rng.standard_normal(m), rng.standard_normal((m, d))
    hand_w, hand_W = np.zeros(m), np.zeros((m, d))
    for xi in xs:
        hid = np.tanh(w_mat @ xi)
        s = 1 - hid**2
        c = w_vec * s
        u = w_mat.T @ c  # grad_x D
        wu = w_mat @ u
        hand_w += 2 * s * wu
        hand_W += 2 * np.outer(c, u) + np.outer(2 * wu * (-2 * w_vec * hid * s), xi)

    w = minidl.tensor(w_vec, requires_grad=True)
    W = minidl.tensor(w_mat, requires_grad=True)
    x = minidl.tensor(xs, requires_grad=True)
    critic = (minidl.tanh(x @ W.T) * w).sum()
    (gx,) = grad(critic, x, create_graph=True)
    penalty = (gx * gx).sum()
    penalty.backward()
    np.testing.assert_allclose(w.grad.numpy(), hand_w, rtol=1e-10)
    np.testing.assert_allclose(W.grad.numpy(), hand_W, rtol=1e-10)


# ---- gradgradcheck over every op ---------------------------------------------------------
def _seeded_dropout(x):
    minidl.manual_seed(3)
    return F.dropout(x, 0.4) * x


TARGET = np.array([0, 3, 1])
OPS = {
    "add_broadcast": (lambda a, b: (a + b) * (a - b), [(3, 4), (4,)]),
    "mul_div": (lambda a, b: a * b / (b * b + 1), [(3, 1), (1, 4)]),
    "neg_pow": (lambda a: -(a**3) + a**2.5, [(3, 4)], 0.5),
    "exp_log_sqrt": (lambda a: minidl.exp(a) * minidl.log(a) + minidl.sqrt(a), [(3, 4)], 0.5),
    "abs_relu_clamp": (
        lambda a: minidl.abs(a) * a + minidl.relu(a) * a + a.clamp(-0.5, 0.5) ** 2,
        [(3, 4)],
    ),
    "tanh_sigmoid": (lambda a: minidl.tanh(a) * minidl.sigmoid(a), [(3, 4)]),
    "maximum_minimum": (
        lambda a, b: minidl.maximum(a, b) * minidl.minimum(a, b) * a,
        [(3, 4), (4,)],
    ),
    "matmul": (lambda a, b: (a @ b) ** 2, [(2, 3, 4), (4, 5)]),
    "matmul_vectors": (lambda a, b: (a @ b) * (b @ a), [(4,), (4,)]),
    "sum_mean": (lambda a: a.sum(1) * a.mean(0, keepdims=True).sum() + (a**2).mean(), [(3, 4)]),
    "amax_amin": (lambda a: minidl.amax(a, 1) * minidl.amin(a * a, 0).sum(), [(3, 4)]),
    "softmax": (lambda a: minidl.softmax(a * a, 1) * minidl.log_softmax(a, 0), [(3, 4)]),
    "shape_ops": (
        lambda a: (
            (a.reshape(4, 3).T * a).permute(1, 0).flatten()
            * a.unsqueeze(0).squeeze(0).transpose(0, 1).flatten()
        ),
        [(3, 4)],
    ),
    "cat_stack": (
        lambda a, b: (
            minidl.cat([a * b, a], 1).sum(0) * minidl.stack([a, b * b], 0).sum((0, 1)).sum()
        ),
        [(3, 2), (3, 2)],
    ),
    "getitem": (lambda a: a[[0, 0, 2], 1:] * a[1, ::2].sum() + a[a.data > 0].sum(), [(3, 4)]),
    "where_broadcast": (lambda a, b: minidl.where(a.data > 0, a * b, b * b), [(3, 4), (4,)]),
    "linear": (lambda x, w, b: F.linear(x, w, b) ** 2, [(3, 4), (5, 4), (5,)]),
    "cross_entropy": (lambda x: F.cross_entropy(x * x, TARGET), [(3, 4)]),
    "cross_entropy_smoothing_sum": (
        lambda x: F.cross_entropy(x * x, TARGET, reduction="sum", label_smoothing=0.2),
        [(3, 4)],
    ),
    "cross_entropy_none": (lambda x: F.cross_entropy(x * x, TARGET, reduction="none"), [(3, 4)]),
    "nll_log_softmax": (lambda x: F.nll_loss(F.log_softmax(x * x, 1), TARGET), [(3, 4)]),
    "mse": (lambda x, y: F.mse_loss(x * y, y), [(3, 4), (3, 4)]),
    "bce_with_logits": (
        lambda z, t: F.binary_cross_entropy_with_logits(z * z, t),
        [(3, 4), (3, 4)],
    ),
    "gelu_leaky": (
        lambda x: F.gelu(x) * F.leaky_relu(x, 0.1) + F.gelu(x, approximate="tanh"),
        [(3, 4)],
    ),
    "dropout": (_seeded_dropout, [(3, 4)]),
}


@pytest.mark.parametrize("name", OPS)
def test_gradgradcheck(name):
    fn, shapes, *low = OPS[name]
    inputs = [leaf(*s, low=low[0] if low else -2.0) for s in shapes]
    assert minidl.gradgradcheck(fn, inputs)


def test_gradgradcheck_through_a_float32_round_trip():
    # float32 in the middle: coarser differences and tolerances, same second derivative
    x = leaf(3, 4)
    assert minidl.gradgradcheck(
        lambda a: a.float().double() ** 3, [x], eps=1e-2, atol=1e-3, rtol=1e-2
    )


def test_third_order_through_gradgradcheck():
    def first(x):
        (g,) = grad((minidl.tanh(x) * minidl.exp(x)).sum(), x, create_graph=True)
        return g

    assert minidl.gradgradcheck(first, [leaf(5)])


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class WrongDoubleBackward(minidl.Function):
        """x^3 whose backward uses a constant copy of 3x^2: right first, wrong second."""

        @staticmethod
        def forward(ctx, x):
            ctx.slope = 3 * x**2  # a plain attribute is a constant to create_graph
            return x**3

        @staticmethod
        def backward(ctx, g):
            return g * ctx.slope

    x = leaf(4)
    assert minidl.gradcheck(WrongDoubleBackward.apply, [x])
    with pytest.raises(minidl.GradcheckError, match="gradcheck failed for input 0"):
        minidl.gradgradcheck(WrongDoubleBackward.apply, [x])


# ---- API semantics -----------------------------------------------------------------------
def test_grad_accumulates_into_no_grad_attribute():
    x = leaf(3)
    (g,) = grad((x * x).sum(), x)
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy())
    assert x.grad is None


def test_results_without_create_graph_carry_no_graph():
    x = leaf(3)
    (g,) = grad((x**3).sum(), x)
    assert g._ctx is None and not g.requires_grad
    (x**3).sum().backward()
    assert x.grad._ctx is None and not x.grad.requires_grad


def test_backward_with_create_graph_leaves_differentiable_grads():
    x = leaf(3)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (gg,) = grad(x.grad.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * x.numpy())
    # a second create_graph backward accumulates out of place, still differentiable
    (x**2).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2 + 2 * x.numpy())
    assert x.grad.requires_grad


def test_allow_unused():
    x, y = leaf(2), leaf(2)
    with pytest.raises(RuntimeError, match="input 1 was not used"):
        grad((x * 2).sum(), [x, y])
    gx, gy = grad((x * 2).sum(), [x, y], allow_unused=True)
    np.testing.assert_allclose(gx.numpy(), [2, 2])
    assert gy is None


def test_grad_with_respect_to_an_intermediate_tensor():
    x = leaf(3)
    h = x * 3
    y = (h * h).sum() + (x * x).sum()
    gh, gx = grad(y, [h, x])
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())
    np.testing.assert_allclose(gx.numpy(), 18 * x.numpy() + 2 * x.numpy())


def test_grad_outputs_and_several_outputs():
    x = leaf(3)
    v = np.array([1.0, -2.0, 0.5])
    (g,) = grad([x * x, (x * 3).sum()], x, grad_outputs=[minidl.tensor(v), None])
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy() * v + 3)
    with pytest.raises(RuntimeError, match="shape"):
        grad(x * x, x, grad_outputs=minidl.tensor(np.ones(2)))
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        grad(x * x, x)


def test_grad_errors_name_the_problem():
    x = leaf(2)
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        grad((x * 2).sum(), [minidl.tensor([1.0, 2.0])])
    y = (x * x).sum()
    grad(y, x)
    with pytest.raises(RuntimeError, match="second time"):
        grad(y, x)


def test_create_graph_refuses_an_op_that_saved_an_intermediate():
    class SavesIntermediate(minidl.Function):
        @staticmethod
        def forward(ctx, x):
            square = x * x
            ctx.save_for_backward(square)
            return square * x

        @staticmethod
        def backward(ctx, g):
            (square,) = ctx.saved_tensors
            return 3 * square * g

    x = leaf(3)
    y = SavesIntermediate.apply(x).sum()
    y.backward(retain_graph=True)  # first order is fine
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)
    with pytest.raises(RuntimeError, match="SavesIntermediate does not support create_graph"):
        grad(y, x, create_graph=True)


def test_an_input_modified_in_place_before_backward_is_detected():
    x, w = leaf(3), leaf(3)
    y = (x * w).sum()
    with minidl.no_grad():
        w.data *= 2  # what optimizer.step() does, which bumps the version:
        w._version += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_an_in_place_change_backward_does_not_read_is_fine():
    x, w = leaf(3), leaf(3)
    y = (x + w).sum()  # Add saves nothing
    w._version += 1
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), np.ones(3))


def test_first_order_path_records_nothing_extra():
    x = leaf(3)
    y = minidl.exp(x).sum()
    node = y._ctx
    y.backward()
    assert node.inputs == "freed"  # graph freed as before; no Tensors were made in backward


def test_grad_assignment_is_checked():
    x = leaf(3)
    with pytest.raises(TypeError, match="Tensor or None"):
        x.grad = np.ones(3)
    with pytest.raises(RuntimeError, match="shape"):
        x.grad = minidl.tensor(np.ones(2))
    x.grad = minidl.tensor(np.ones(3))
    assert x.grad.shape == (3,)


def test_autograd_backward_of_several_tensors():
    x = leaf(3)
    autograd.backward([(x * x).sum(), x * 2], [None, minidl.tensor(np.ones(3))])
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 2)
