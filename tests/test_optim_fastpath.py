"""The per-step shortcuts of Optimizer.step and the fast executor, each against the plain
executor bit for bit: packed gradients copied as they come (any layout, another dtype),
parameters grouped by step, the identity checks that skip locating and adopting, the one
write of a plan's coefficients; and the checks that the shortcuts must keep."""

import numpy as np
import pytest

import minidl
from minidl.optim import SGD, Adam
from minidl.optim.kernels import Rule
from minidl.optim.optimizer import _number

SHAPES = [(5, 3), (3,), (1, 5), (1,)]  # small: one packed chunk, as in bench_small


def tensors(seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [
        minidl.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes
    ]


def force_grad(p, value):
    """Set p.grad past the checks of Tensor's setter (the optimizer checks again)."""
    object.__setattr__(p, "_grad", value)


def run_both(make, steps, disturb=None, shapes=SHAPES):
    """Train the same tensors with the plain and the fast executor: ``steps(i, ps)`` sets
    the gradients of step i, ``disturb(i, opt, ps)`` meddles between steps. Returns the
    parameters and the state arrays of both."""
    results = []
    for executor in ("plain", "fast"):
        ps = tensors(shapes=shapes)
        opt = make(ps, executor)
        for i in range(6):
            if disturb is not None:
                disturb(i, opt, ps)
            steps(i, ps)
            opt.step()
        results.append(
            [p.data.copy() for p in ps]
            + [np.array(v) for p in ps if p in opt.state for v in opt.state[p].values()]
        )
    return results


def assert_same(results):
    plain, fast = results
    assert len(plain) == len(fast)
    for a, b in zip(plain, fast):
        np.testing.assert_array_equal(a, b)


def random_grads(i, ps):
    rng = np.random.default_rng(100 + i)
    for p in ps:
        p.grad = minidl.tensor(rng.standard_normal(p.shape).astype(np.float32))


def adam(ps, executor):
    return Adam(ps, lr=1e-2, executor=executor)


def sgd_momentum(ps, executor):
    return SGD(ps, lr=0.05, momentum=0.9, executor=executor)


# ------------------------------------------------------------ gathering small gradients
@pytest.mark.parametrize("make", [adam, sgd_momentum])
def test_packed_gradients_of_any_layout_and_dtype_give_the_plain_result(make):
    """The fast executor copies a small parameter's gradient into a place of the packed chunk
    shaped like it: a Fortran-ordered or strided gradient, or one in float64 (cast as
    astype casts), must give the numbers of the plain executor's astype/reshape."""

    def odd_grads(i, ps):
        rng = np.random.default_rng(200 + i)
        for k, p in enumerate(ps):
            g = rng.standard_normal(p.shape)
            if k == 0:
                g = np.asfortranarray(g.astype(np.float32))
            elif k == 2:
                wide = np.zeros((1, 10), np.float32)
                wide[:, ::2] = g
                g = wide[:, ::2]  # a strided view
            force_grad(p, minidl.Tensor(g if k in (0, 2) else g.astype(np.float64)))
        assert not ps[2].grad.data.flags.c_contiguous
        assert ps[1].grad.data.dtype == np.float64

    assert_same(run_both(make, odd_grads))


# ------------------------------------------------------------------- grouping by step
def test_parameters_that_missed_steps_take_their_own_step():
    """_by_step's slow path: Adam's bias correction uses each parameter's own t."""

    def some_grads(i, ps):
        random_grads(i, ps)
        if i % 2:
            ps[1].grad = None  # misses every other step
        if i < 2:
            ps[3].grad = None  # starts late

    plain, fast = run_both(adam, some_grads)
    assert_same((plain, fast))
    ps = tensors()
    opt = adam(ps, "fast")
    for i in range(6):
        some_grads(i, ps)
        opt.step()
    assert [opt.state[p]["step"] for p in ps] == [6, 3, 6, 4]


# ------------------------------------------- what the identity checks must still notice
def _assign_state(i, opt, ps):
    if i == 3:  # a user's own arrays: the executor copies them in and shows its views
        opt.state[ps[0]]["exp_avg"] = np.full(ps[0].shape, 0.25, np.float32)
        opt.state[ps[2]]["exp_avg_sq"] = np.full(ps[2].shape, 0.5, np.float32)


def _reload(i, opt, ps):
    if i == 3:  # new state dicts with new arrays, the hyperparameters as they were
        opt.load_state_dict(opt.state_dict())


def _replace_data(i, opt, ps):
    if i == 2:  # same shape: followed; then a copy in another layout, worked on in a copy
        ps[0].data = ps[0].data.copy()
    if i == 4:
        ps[1].data = np.asfortranarray(ps[0].data)[:, 0].copy()[:3]
        ps[0].data = np.asfortranarray(ps[0].data)


def _change_lr(i, opt, ps):
    opt.param_groups[0]["lr"] = 1e-2 / (i + 1)  # as a scheduler does


@pytest.mark.parametrize("disturb", [_assign_state, _reload, _replace_data, _change_lr])
def test_the_warm_fast_path_notices_what_changed_between_steps(disturb):
    assert_same(run_both(adam, random_grads, disturb))


def test_state_added_later_is_made_and_used():
    def momentum_on(i, opt, ps):
        if i == 3:
            opt.param_groups[0]["momentum"] = 0.9

    assert_same(run_both(lambda ps, ex: SGD(ps, lr=0.05, executor=ex), random_grads, momentum_on))


def test_the_fast_executor_shows_its_own_views_after_adopting():
    ps = tensors()
    opt = adam(ps, "fast")
    random_grads(0, ps)
    opt.step()
    mine = np.full(ps[0].shape, 0.25, np.float32)
    opt.state[ps[0]]["exp_avg"] = mine
    random_grads(1, ps)
    opt.step()
    shown = opt.state[ps[0]]["exp_avg"]
    assert shown is not mine and not np.shares_memory(shown, mine)
    np.testing.assert_array_equal(mine, 0.25)  # the user's array is read, never written


# -------------------------------------------------------------- refused gradients
@pytest.mark.parametrize("executor", ["fast", "plain"])
def test_a_bad_gradient_is_refused_after_warm_steps_and_nothing_is_written(executor):
    ps = tensors()
    opt = adam(ps, executor)
    for i in range(3):  # plans made, identities cached
        random_grads(i, ps)
        opt.step()
    before = [p.data.copy() for p in ps] + [np.array(v) for p in ps for v in opt.state[p].values()]
    steps = [opt.state[p]["step"] for p in ps]
    versions = [p._version for p in ps]
    random_grads(3, ps)
    force_grad(ps[2], np.ones((1, 5), np.float32))
    with pytest.raises(
        TypeError, match=r"parameter 2 of group 0 \(shape \(1, 5\)\) is a ndarray, not a Tensor"
    ):
        opt.step()
    force_grad(ps[2], minidl.tensor(np.ones((5, 1), np.float32)))
    with pytest.raises(ValueError, match=r"parameter 2 of group 0 \(shape \(1, 5\)\) has shape"):
        opt.step()
    after = [p.data for p in ps] + [np.array(v) for p in ps for v in opt.state[p].values()]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert [opt.state[p]["step"] for p in ps] == steps
    assert [p._version for p in ps] == versions


# ------------------------------------------------------------------------ the scalars
def test_numbers_are_told_from_other_values_by_type():
    class Rate(float):
        pass

    numbers = [1, 2.5, np.float32(0.5), np.int64(3), np.float64(1e-3), Rate(0.1)]
    others = [True, False, np.bool_(True), "fast", (0.9, 0.999), None, [1]]
    assert all(_number(v) for v in numbers)
    assert not any(_number(v) for v in others)
    opt = SGD(tensors(), lr=np.float32(0.5), momentum=Rate(0.9), nesterov=True)
    ns = opt.scalars(opt.param_groups[0], 4)
    assert set(ns) == {"lr", "momentum", "dampening", "weight_decay", "step"}


def test_coefficients_come_from_one_evaluation_in_order():
    rule = Rule("m = beta * m + (1 - beta) * g\np = p - lr * m / (1 - beta ** step)", ("m",))
    assert rule.coefficients({"beta": 0.5, "lr": 0.1, "step": 2}) == [0.5, 0.5, 0.1, 0.75]
    assert all(type(c) is float for c in rule.coefficients({"beta": 1, "lr": 1, "step": 1}))
    assert Rule("p = p - g").coefficients({}) == []
