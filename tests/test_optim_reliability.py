"""minidl.optim against careless and hostile use: bad params, hyperparameters, gradients and
state dicts give clear errors (torch's where torch has one) and change nothing; a step's
in-place writes are visible to autograd's version counters and to the profiler."""

import numpy as np
import pytest

import minidl
from minidl import autograd, optim
from minidl.optim import SGD, Adam, Momentum
from minidl.optim.kernels import RuleError

EXECUTORS = ["fast", "plain"]


def params(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [
        minidl.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
        for s in (shapes or [(3, 2), (4,)])
    ]


def force_grad(p, value):
    """Set p.grad past the checks of Tensor's setter (the optimizer checks again)."""
    object.__setattr__(p, "_grad" if hasattr(type(p), "_grad") else "grad", value)


def step_with_ones(opt, ps):
    for p in ps:
        p.grad = minidl.tensor(np.ones(p.shape, p.dtype))
    opt.step()


# ----------------------------------------------------------------------------- params
def test_an_unordered_set_of_params_is_refused():
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got set"):
        SGD(set(params()), lr=0.1)
    with pytest.raises(TypeError, match="ordering of tensors in sets will change"):
        SGD([{"params": set(params())}], lr=0.1)


def test_a_non_leaf_tensor_is_refused():
    (p,) = params((3,))
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        SGD([p * 2], lr=0.1)


def test_a_non_tensor_param_is_refused():
    with pytest.raises(
        TypeError, match="can only optimize Tensors, but one of the params is ndarray"
    ):
        SGD([np.zeros(3)], lr=0.1)


# -------------------------------------------------------------------- hyperparameters
@pytest.mark.parametrize("make", [np.array, np.float32, lambda v: minidl.tensor(np.float64(v))])
def test_zero_d_hyperparameters_work_as_numbers(make):
    ps, qs = params(), params()
    opt = Adam(ps, lr=make(0.01), betas=(make(0.8), 0.99), eps=make(1e-6))
    ref = Adam(qs, lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    assert type(opt.param_groups[0]["lr"]) is float
    for _ in range(3):
        step_with_ones(opt, ps)
        step_with_ones(ref, qs)
    for p, q in zip(ps, qs):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6)


def test_array_and_non_numeric_hyperparameters_fail_at_construction():
    with pytest.raises(TypeError, match=r"lr must be a number, got an array of shape \(1,\)"):
        SGD(params(), lr=np.array([0.1]))
    with pytest.raises(TypeError, match="lr must be a number, got str"):
        SGD(params(), lr="0.1")
    with pytest.raises(ValueError, match="Invalid learning rate: nan"):
        SGD(params(), lr=float("nan"))
    with pytest.raises(ValueError, match="Invalid executor value: 'gpu'"):
        SGD(params(), lr=0.1, executor="gpu")
    with pytest.raises(ValueError, match="Invalid flush_denormal value"):
        SGD(params(), lr=0.1, flush_denormal=2.5)


# ------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_bad_grad_is_a_clear_error_naming_the_parameter(executor):
    ps = params()
    opt = SGD(ps, lr=0.1, executor=executor)
    ps[0].grad = minidl.tensor(np.ones((3, 2), np.float32))
    force_grad(ps[1], np.ones(4, np.float32))
    before = [p.data.copy() for p in ps]
    with pytest.raises(
        TypeError, match=r"parameter 1 of group 0 \(shape \(4,\)\) is a ndarray, not a Tensor"
    ):
        opt.step()
    force_grad(ps[1], minidl.tensor(np.ones(5, np.float32)))
    with pytest.raises(
        ValueError, match=r"parameter 1 of group 0 \(shape \(4,\)\) has shape \(5,\)"
    ):
        opt.step()
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.data, b)  # checked before anything was written


# ---------------------------------------------------------------------- load_state_dict
@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_failing_load_state_dict_changes_nothing(executor):
    ps = params()
    opt = Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.5}], lr=0.01, executor=executor)
    step_with_ones(opt, ps)
    good = opt.state_dict()
    step_with_ones(opt, ps)
    before = opt.state_dict()
    bad = opt.state_dict()
    bad["param_groups"][1]["lr"] = -1.0  # the second group: the first would land first
    bad["param_groups"][0]["eps"] = 1e-3
    bad["state"][0]["step"] = 7
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        opt.load_state_dict(bad)
    worse = opt.state_dict()
    worse["state"][1]["exp_avg"] = np.zeros(5)
    with pytest.raises(
        ValueError, match=r"'exp_avg' of parameter 1 has shape \(5,\), expected \(4,\)"
    ):
        opt.load_state_dict(worse)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i in (0, 1):
        assert after["state"][i]["step"] == 2
        for name in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(after["state"][i][name], before["state"][i][name])
    opt.load_state_dict(good)  # and a good one still loads, into the same executor
    assert opt.state[ps[0]]["step"] == 1
    step_with_ones(opt, ps)
    assert opt.state[ps[0]]["step"] == 2


def test_load_state_dict_refuses_a_malformed_dict():
    opt = SGD(params(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    with pytest.raises(ValueError, match="no group lists"):
        opt.load_state_dict({"state": {5: {"step": 1}}, "param_groups": [{"params": [0, 1]}]})
    with pytest.raises(ValueError, match="has step -1"):
        opt.load_state_dict({"state": {0: {"step": -1}}, "param_groups": [{"params": [0, 1]}]})


# ------------------------------------------------- version counters and the profiler
@pytest.mark.parametrize("executor", EXECUTORS)
def test_each_step_bumps_the_version_of_the_parameters_it_writes(executor):
    ps = params()
    opt = SGD(ps, lr=0.1, executor=executor)
    ps[0].grad = minidl.tensor(np.ones((3, 2), np.float32))  # ps[1] has no grad: not written
    versions = [p._version for p in ps]
    opt.step()
    assert ps[0]._version == versions[0] + 1 and ps[1]._version == versions[1]


def test_the_profiler_hook_times_each_step():
    records = []

    class Recorder:
        def record(self, kind, name, start, end, nbytes):
            records.append((kind, name, start <= end, nbytes))

    ps = params()
    opt = Momentum(ps, lr=0.1)
    previous = autograd._profiler
    autograd._profiler = Recorder()
    try:
        step_with_ones(opt, ps)
    finally:
        autograd._profiler = previous
    step_with_ones(opt, ps)  # not recorded: the hook is off again
    assert records == [("optimizer", "Momentum.step", True, 0)]


# ----------------------------------------------------------- a new optimizer's typos
def test_a_typo_in_a_class_level_rule_fails_when_the_class_is_defined():
    with pytest.raises(RuleError, match="unknown function 'sqr'"):

        class Typo(optim.Optimizer):
            state_defaults = {"v": 0.0}
            update = "v = v + g * g\np = p - lr * g / sqr(v)"

    with pytest.raises(RuleError, match="line 1"):

        class Syntax(optim.Optimizer):
            update = "p = p - lr *"


def test_an_unknown_scalar_in_a_class_level_rule_fails_at_construction():
    class Misspelt(optim.Optimizer):
        state_defaults = {"v": 0.0}
        update = "v = beta * v + g\np = p - lr * vv"

        def __init__(self, params, lr=0.1, beta=0.9):
            super().__init__(params, dict(lr=lr, beta=beta))

    with pytest.raises(
        RuleError, match="uses vv, which is neither a state array nor a hyperparameter"
    ):
        Misspelt(params())
