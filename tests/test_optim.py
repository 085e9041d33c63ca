"""minidl.optim: each optimizer and option against its update formula written out by hand.

The references below are torch.optim's update rules, written out per parameter in float64;
the optimizers under test run the same numbers through the compiled rules on both executors:
the plain one (whole arrays, parameter by parameter) and the fast one (flat state, small
chunks that pack several parameters). 60 steps on random gradients, 1e-12 relative.
"""

import math

import numpy as np
import pytest

import minidl
from minidl import optim
from minidl.optim import SGD, Adagrad, Adam, AdamW, Momentum, RAdam, RMSprop

SHAPES = [(3, 4), (5,), (2, 3, 2), (1,)]
STEPS = 60
EXECUTORS = ["fast", "plain"]


def make_params(seed=0, dtype=np.float64, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [minidl.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def gradients(seed, steps=STEPS, shapes=SHAPES):
    rng = np.random.default_rng(seed + 1000)
    return [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = None if g is None else minidl.tensor(g.astype(p.dtype))


# ---------------------------------------------------------------- hand-written formulas
def ref_sgd(
    p, g, st, t, lr, momentum=0, dampening=0, nesterov=False, weight_decay=0, maximize=False
):
    g = -g if maximize else g
    g = g + weight_decay * p
    if momentum:
        st["b"] = g.copy() if t == 1 else momentum * st["b"] + (1 - dampening) * g
        g = g + momentum * st["b"] if nesterov else st["b"]
    return p - lr * g


def ref_momentum(p, g, st, t, lr, beta=0.9):
    st["v"] = beta * st.get("v", 0) + (1 - beta) * g
    return p - lr * st["v"]


def ref_rmsprop(
    p,
    g,
    st,
    t,
    lr=1e-2,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0,
    momentum=0,
    centered=False,
    maximize=False,
):
    g = -g if maximize else g
    g = g + weight_decay * p
    st["s"] = alpha * st.get("s", 0) + (1 - alpha) * g * g
    if centered:
        st["ga"] = alpha * st.get("ga", 0) + (1 - alpha) * g
        avg = np.sqrt(st["s"] - st["ga"] ** 2) + eps
    else:
        avg = np.sqrt(st["s"]) + eps
    if momentum:
        st["b"] = momentum * st.get("b", 0) + g / avg
        return p - lr * st["b"]
    return p - lr * g / avg


def ref_adam(
    p,
    g,
    st,
    t,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0,
    amsgrad=False,
    maximize=False,
    decoupled=False,
):
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    v = st["v"]
    if amsgrad:
        st["vmax"] = v = np.maximum(st.get("vmax", 0), st["v"])
    m_hat = st["m"] / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamw(p, g, st, t, weight_decay=1e-2, **kw):
    return ref_adam(p, g, st, t, weight_decay=weight_decay, decoupled=True, **kw)


def ref_adagrad(
    p,
    g,
    st,
    t,
    lr=1e-2,
    lr_decay=0,
    weight_decay=0,
    initial_accumulator_value=0,
    eps=1e-10,
    maximize=False,
):
    g = -g if maximize else g
    g = g + weight_decay * p
    st["sum"] = st.get("sum", initial_accumulator_value) + g * g
    clr = lr / (1 + (t - 1) * lr_decay)
    return p - clr * g / (np.sqrt(st["sum"]) + eps)


def ref_radam(
    p,
    g,
    st,
    t,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0,
    decoupled_weight_decay=False,
    maximize=False,
):
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    m_hat = st["m"] / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t > 5:
        rect = math.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        )
        adaptive = math.sqrt(1 - b2**t) / (np.sqrt(st["v"]) + eps)
        return p - m_hat * lr * adaptive * rect
    return p - m_hat * lr


CASES = [
    (SGD, ref_sgd, dict(lr=0.05)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.9)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (SGD, ref_sgd, dict(lr=0.05, weight_decay=0.1)),
    (SGD, ref_sgd, dict(lr=0.05, maximize=True)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True)),
    (Momentum, ref_momentum, dict(lr=0.05, beta=0.9)),
    (Momentum, ref_momentum, dict(lr=0.1, beta=0.5)),
    (RMSprop, ref_rmsprop, dict()),
    (RMSprop, ref_rmsprop, dict(lr=1e-3, momentum=0.5)),
    (RMSprop, ref_rmsprop, dict(lr=1e-3, centered=True)),
    (RMSprop, ref_rmsprop, dict(lr=1e-3, alpha=0.9, centered=True, momentum=0.7, weight_decay=0.1)),
    (RMSprop, ref_rmsprop, dict(lr=1e-3, weight_decay=0.05, maximize=True)),
    (Adam, ref_adam, dict()),
    (Adam, ref_adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (Adam, ref_adam, dict(lr=0.01, amsgrad=True)),
    (Adam, ref_adam, dict(lr=0.01, maximize=True, weight_decay=0.01)),
    (AdamW, ref_adamw, dict(lr=0.01)),
    (AdamW, ref_adamw, dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    (Adagrad, ref_adagrad, dict()),
    (
        Adagrad,
        ref_adagrad,
        dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5),
    ),
    (Adagrad, ref_adagrad, dict(lr=0.1, maximize=True)),
    (RAdam, ref_radam, dict()),
    (RAdam, ref_radam, dict(lr=0.01, weight_decay=0.1)),
    (RAdam, ref_radam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
]


def assert_rel(actual, expected, rtol=1e-12):
    err = np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), 1e-300))
    assert err <= rtol, f"relative error {err:.3g} > {rtol}"


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("cls,ref,kw", CASES, ids=[f"{c.__name__}-{k}" for c, _, k in CASES])
def test_against_hand_written_formula(cls, ref, kw, executor):
    params = make_params()
    expected = [p.data.copy() for p in params]
    states = [{} for _ in params]
    opt = cls(params, **kw, executor=executor)
    opt.chunk_size = 5  # fast: (3, 4) in chunks of 5, 5, 2; (5,), (2, 3, 2), (1,) packed
    for t, grads in enumerate(gradients(0), start=1):
        set_grads(params, grads)
        opt.step()
        for i, g in enumerate(grads):
            expected[i] = ref(expected[i], g, states[i], t, **kw)
    for p, e in zip(params, expected):
        assert p.data.dtype == np.float64
        assert_rel(p.data, e)
    assert all(opt.state[p]["step"] == STEPS for p in params)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_momentum_equals_sgd_with_scaled_lr_but_not_dampening(executor):
    lr, beta = 0.1, 0.9
    a, b, c = make_params(), make_params(), make_params()
    opt_a = Momentum(a, lr=lr, beta=beta, executor=executor)
    opt_b = SGD(b, lr=lr * (1 - beta), momentum=beta, executor=executor)
    opt_c = SGD(c, lr=lr, momentum=beta, dampening=beta, executor=executor)
    for grads in gradients(1):
        for params, opt in ((a, opt_a), (b, opt_b), (c, opt_c)):
            set_grads(params, grads)
            opt.step()
    for pa, pb, pc in zip(a, b, c):
        assert_rel(pa.data, pb.data)
        assert np.max(np.abs(pa.data - pc.data)) > 1e-3  # the undamped first step of SGD


@pytest.mark.parametrize("executor", EXECUTORS)
def test_parameters_without_grad_are_skipped(executor):
    params = make_params()
    opt = Adam(params, lr=0.01, executor=executor)
    opt.chunk_size = 4
    expected = [p.data.copy() for p in params]
    states = [{} for _ in params]
    steps = [0] * len(params)
    rng = np.random.default_rng(5)
    for grads in gradients(2, steps=20):
        grads = [g if rng.random() < 0.6 else None for g in grads]
        set_grads(params, grads)
        opt.step()
        for i, g in enumerate(grads):
            if g is not None:
                steps[i] += 1
                expected[i] = ref_adam(expected[i], g, states[i], steps[i], lr=0.01)
    for i, p in enumerate(params):
        assert_rel(p.data, expected[i])
        assert (opt.state.get(p) or {"step": 0})["step"] == steps[i]


def test_param_groups_have_their_own_hyperparameters():
    a, b = make_params(shapes=[(4,)]), make_params(shapes=[(3,)])
    opt = SGD([{"params": a}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0
    assert opt.param_groups[1]["lr"] == 0.5
    ea, eb, sb = a[0].data.copy(), b[0].data.copy(), {}
    for t in range(1, 6):
        ga, gb = np.full(4, 0.5), np.full(3, -1.0)
        set_grads(a + b, [ga, gb])
        opt.step()
        ea = ref_sgd(ea, ga, {}, t, lr=0.1)
        eb = ref_sgd(eb, gb, sb, t, lr=0.5, momentum=0.9)
    assert_rel(a[0].data, ea)
    assert_rel(b[0].data, eb)
    c = make_params(shapes=[(2,)])
    opt.add_param_group({"params": c, "lr": 0.01})
    assert opt.param_groups[2]["momentum"] == 0 and len(opt.param_groups) == 3
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": a})


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: SGD(p, lr=-1.0), "Invalid learning rate: -1.0"),
        (lambda p: SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda p: SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
        (
            lambda p: SGD(p, lr=0.1, nesterov=True),
            "Nesterov momentum requires a momentum and zero dampening",
        ),
        (lambda p: SGD(p), "required optimization parameter lr"),
        (lambda p: Momentum(p, lr=0.1, beta=1.0), "Invalid beta value: 1.0"),
        (lambda p: Adam(p, lr=-1.0), "Invalid learning rate: -1.0"),
        (lambda p: Adam(p, betas=(1.0, 0.999)), r"Invalid beta parameter at index 0: 1.0"),
        (lambda p: Adam(p, betas=(0.9, -0.1)), r"Invalid beta parameter at index 1: -0.1"),
        (lambda p: Adam(p, eps=-1e-8), "Invalid epsilon value: -1e-08"),
        (lambda p: AdamW(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (lambda p: RMSprop(p, alpha=-0.1), "Invalid alpha value: -0.1"),
        (lambda p: Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
        (
            lambda p: Adagrad(p, initial_accumulator_value=-1),
            "Invalid initial_accumulator_value value: -1",
        ),
        (lambda p: Adam([{"params": p, "lr": -2.0}]), "Invalid learning rate: -2.0"),
        (lambda p: Adam([]), "empty parameter list"),
        (lambda p: Adam(p + p), "more than once"),
    ],
)
def test_invalid_hyperparameters_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make(make_params())


def test_a_single_tensor_is_not_an_iterable_of_params():
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        Adam(make_params()[0])


@pytest.mark.parametrize("executor", EXECUTORS)
def test_state_dict_round_trip_continues_bit_for_bit(executor):
    grads = gradients(3, steps=20)
    params = make_params()
    opt = Adam(params, lr=0.01, amsgrad=True, executor=executor)
    for g in grads[:10]:
        set_grads(params, g)
        opt.step()
    saved = opt.state_dict()
    saved_params = [p.data.copy() for p in params]
    for g in grads[10:]:
        set_grads(params, g)
        opt.step()
    # a fresh model and optimizer, restored, then the same 10 steps
    other = make_params(seed=99)
    for p, value in zip(other, saved_params):
        p.data[...] = value
    opt2 = Adam(other, lr=0.5, executor="plain" if executor == "fast" else "fast")
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    assert opt2.param_groups[0]["executor"] == executor  # the saved choice, like every option
    for g in grads[10:]:
        set_grads(other, g)
        opt2.step()
    for p, q in zip(params, other):
        assert np.array_equal(p.data, q.data)
    for p, q in zip(params, other):
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert np.array_equal(opt.state[p][key], opt2.state[q][key])
        assert opt2.state[q]["step"] == 20


def test_state_dict_is_plain_data():
    params = make_params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    set_grads(params, gradients(0, steps=1)[0])
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert set(sd["state"]) == {0, 1, 2, 3}
    st = sd["state"][0]
    assert st["step"] == 1 and isinstance(st["momentum_buffer"], np.ndarray)
    assert st["momentum_buffer"].shape == SHAPES[0]
    st["momentum_buffer"][...] = 123  # a copy: the optimizer is not affected
    assert not np.any(opt.state[params[0]]["momentum_buffer"] == 123)


def test_load_state_dict_rejects_mismatches():
    params = make_params()
    opt = Adam(params)
    set_grads(params, gradients(0, steps=1)[0])
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        Adam([{"params": params[:2]}, {"params": params[2:]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        Adam(params[:3]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"has shape \(3, 4\), expected \(5,\)"):
        Adam([params[1], params[0], params[2], params[3]]).load_state_dict(sd)


def test_zero_grad():
    params = make_params()
    opt = SGD(params, lr=0.1)
    set_grads(params, gradients(0, steps=1)[0])
    opt.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.data == 0) for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_parameters_keep_their_arrays_and_earlier_references_stay_live(executor):
    model = minidl.nn.Sequential(minidl.nn.Linear(3, 4), minidl.nn.Linear(4, 2))
    params = list(model.parameters())
    refs = [p.data for p in params]
    sd = model.state_dict()  # the live arrays, taken before the optimizer's first step
    opt = SGD(params, lr=0.1, executor=executor)
    opt.chunk_size = 8  # fast: the (4, 3) weight in chunks, the biases packed with neighbours
    before = [r.copy() for r in refs]
    for _ in range(3):
        for p in params:
            p.grad = minidl.tensor(np.ones(p.shape, np.float32))
        opt.step()
    for p, ref, start, live in zip(params, refs, before, sd.values()):
        assert p.data is ref and live is ref  # never re-pointed
        np.testing.assert_allclose(ref, start - 0.3, atol=1e-6)
    params[1].data = np.full(4, 7.0, np.float32)  # replaced by the user: that array is updated
    params[0].data = np.asfortranarray(params[0].data)  # not contiguous: updated in place too
    fortran = params[0].data
    opt.step()
    np.testing.assert_allclose(params[1].data, 6.9, atol=1e-6)
    assert params[0].data is fortran
    np.testing.assert_allclose(fortran, before[0] - 0.4, atol=1e-6)
    params[2].data = params[2].data.astype(np.float64)  # a new dtype: state is carried over
    opt.step()
    assert params[2].data.dtype == np.float64
    np.testing.assert_allclose(params[2].data, before[2] - 0.5, atol=1e-6)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_state_keeps_the_parameter_dtype(executor):
    p32, p64 = make_params(dtype=np.float32, shapes=[(3,)]), make_params(shapes=[(2,)])
    opt = Adam(p32 + p64, executor=executor)
    set_grads(p32 + p64, [np.ones(3), np.ones(2)])
    opt.step()
    assert opt.state[p32[0]]["exp_avg"].dtype == np.float32
    assert opt.state[p64[0]]["exp_avg"].dtype == np.float64


def test_closure_is_called_and_its_loss_returned():
    params = make_params()
    opt = SGD(params, lr=0.1)

    def closure():
        set_grads(params, [np.ones(s) for s in SHAPES])
        return 3.5

    assert opt.step(closure) == 3.5


# ------------------------------------------------------------- a new optimizer, in a few lines
class SignMomentum(optim.Optimizer):
    """A toy rule: v = beta*v + (1-beta)*g ; w = w - lr * v / (|v| + delta)."""

    state_defaults = {"v": 0.0}
    update = """
        v = beta * v + (1 - beta) * g
        p = p - lr * v / (abs(v) + delta)
    """

    def __init__(self, params, lr=0.01, beta=0.9, delta=1e-12):
        super().__init__(params, dict(lr=lr, beta=beta, delta=delta))


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_new_optimizer_is_a_short_subclass(executor):
    params = make_params()
    opt = SignMomentum(params, lr=0.01)
    opt.param_groups[0]["executor"] = executor
    expected = [p.data.copy() for p in params]
    vs = [0.0] * len(params)
    for grads in gradients(4, steps=30):
        set_grads(params, grads)
        opt.step()
        for i, g in enumerate(grads):
            vs[i] = 0.9 * vs[i] + (1 - 0.9) * g
            expected[i] = expected[i] - 0.01 * vs[i] / (np.abs(vs[i]) + 1e-12)
    for p, e in zip(params, expected):
        assert_rel(p.data, e)
    rule = optim.kernels.compile_rule(SignMomentum.update, ("v",))
    assert "np_absolute(v" in rule.numpy_source()  # the generated CPU chunk function
    assert "fabs(v)" in rule.cuda_source(np.float64)[2]  # and the fused GPU kernel body


def test_rule_errors_are_clear():
    with pytest.raises(optim.kernels.RuleError, match="unknown function 'tanh'"):
        optim.kernels.Rule("p = p - lr * tanh(g)")
    with pytest.raises(optim.kernels.RuleError, match="never assigns p"):
        optim.kernels.Rule("q = g")
    with pytest.raises(optim.kernels.RuleError, match="scalars available"):
        optim.kernels.Rule("p = p - rate * g").coefficients({"lr": 0.1})


# ----------------------------------------------------------------------- the seed's claim
def oblong_descent(make_opt, steps):
    """Minimise f(x, y) = x^2/20 + y^2 from (-8, 2); return the trajectory."""
    w = minidl.tensor(np.array([-8.0, 2.0]), requires_grad=True)
    opt = make_opt([w])
    path = [w.data.copy()]
    for _ in range(steps):
        x, y = w.data
        w.grad = minidl.tensor(np.array([x / 10, 2 * y]))
        opt.step()
        path.append(w.data.copy())
    return np.array(path)


def steps_to_reach(path, radius=0.1):
    inside = np.linalg.norm(path, axis=1) < radius
    return int(np.argmax(inside)) if inside.any() else len(path)


def test_seed_claim_momentum_damps_the_steep_oscillation():
    lr = 0.9  # plain SGD flips y's sign every step: y <- (1 - 2*lr) * y = -0.8 y
    sgd = oblong_descent(lambda p: SGD(p, lr=lr), 40)
    mom = oblong_descent(lambda p: Momentum(p, lr=lr, beta=0.9), 40)
    sgd_swing = np.abs(np.diff(sgd[:20, 1])).sum()
    mom_swing = np.abs(np.diff(mom[:20, 1])).sum()
    assert mom_swing < 0.5 * sgd_swing
    assert np.sum(np.diff(np.sign(mom[:20, 1])) != 0) < np.sum(np.diff(np.sign(sgd[:20, 1])) != 0)


def test_seed_claim_adaptive_methods_reach_the_minimum_sooner():
    lr = 0.3  # the same for all; SGD's is bounded by the steep y direction (lr < 1)
    sgd = steps_to_reach(oblong_descent(lambda p: SGD(p, lr=lr), 400))
    rms = steps_to_reach(oblong_descent(lambda p: RMSprop(p, lr=lr), 400))
    adam = steps_to_reach(oblong_descent(lambda p: Adam(p, lr=lr), 400))
    assert rms < sgd / 2 and adam < sgd / 2, (sgd, rms, adam)  # 144 steps vs 13 and 68
