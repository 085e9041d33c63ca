"""minidl.optim.lr_scheduler: each schedule against its closed form (torch's definitions)."""

import math

import numpy as np
import pytest

import minidl
from minidl.optim import SGD, Adam
from minidl.optim import lr_scheduler as sched


def make_opt(cls=SGD, lr=0.1, groups=1, **kw):
    params = [
        {"params": [minidl.tensor(np.zeros(2), requires_grad=True)], "lr": lr * (i + 1)}
        for i in range(groups)
    ]
    return cls(params, lr=lr, **kw) if cls is SGD else cls(params, **kw)


def run(scheduler, steps):
    """The learning rates of `steps` epochs (the first is the initial one)."""
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.get_last_lr())
        scheduler.optimizer.step()
        scheduler.step()
    return np.array(lrs)


def test_step_lr():
    opt = make_opt(groups=2)
    lrs = run(sched.StepLR(opt, step_size=3, gamma=0.5), 10)
    for e in range(10):
        assert lrs[e] == pytest.approx([0.1 * 0.5 ** (e // 3), 0.2 * 0.5 ** (e // 3)], rel=1e-12)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)


def test_exponential_lr():
    lrs = run(sched.ExponentialLR(make_opt(), gamma=0.9), 12)
    assert lrs[:, 0] == pytest.approx([0.1 * 0.9**e for e in range(12)], rel=1e-12)


def test_cosine_annealing_lr_follows_the_cosine_and_comes_back():
    T, low = 10, 0.001
    lrs = run(sched.CosineAnnealingLR(make_opt(), T_max=T, eta_min=low), 2 * T + 1)
    closed = [low + (0.1 - low) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(2 * T + 1)]
    assert lrs[:, 0] == pytest.approx(closed, rel=1e-9)
    assert lrs[T, 0] == pytest.approx(low) and lrs[2 * T, 0] == pytest.approx(0.1)


def test_linear_lr_warm_up():
    lrs = run(sched.LinearLR(make_opt(), start_factor=0.1, end_factor=1.0, total_iters=4), 8)
    closed = [0.1 * (0.1 + 0.9 * min(e, 4) / 4) for e in range(8)]
    assert lrs[:, 0] == pytest.approx(closed, rel=1e-12)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        sched.LinearLR(make_opt(), start_factor=0)


def test_one_cycle_lr_and_momentum():
    opt = make_opt(momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=1.0, total_steps=100)  # pct_start 0.3, cos, /25, /1e4
    lrs, momenta = [], []
    for _ in range(100):
        lrs.append(s.get_last_lr()[0])
        momenta.append(opt.param_groups[0]["momentum"])
        opt.step()
        if len(lrs) < 100:
            s.step()
    start, top, end = 1.0 / 25, 1.0, 1.0 / 25 / 1e4
    assert lrs[0] == pytest.approx(start) and lrs[-1] == pytest.approx(end)
    assert (
        max(lrs) == pytest.approx(top) and int(np.argmax(lrs)) == 29
    )  # end of phase 1: 0.3*100 - 1
    warm = 29
    for e in (0, 10, 29):  # phase 1: cos from start to top
        pct = e / warm
        assert lrs[e] == pytest.approx(top + (start - top) / 2 * (math.cos(math.pi * pct) + 1))
        assert momenta[e] == pytest.approx(0.85 + (0.95 - 0.85) / 2 * (math.cos(math.pi * pct) + 1))
    for e in (50, 99):  # phase 2: cos from top to end
        pct = (e - warm) / (99 - warm)
        assert lrs[e] == pytest.approx(end + (top - end) / 2 * (math.cos(math.pi * pct) + 1))
    with pytest.raises(ValueError, match="Tried to step 101 times"):
        s.step()
        s.step()


def test_one_cycle_lr_cycles_adams_beta1():
    opt = make_opt(Adam)
    s = sched.OneCycleLR(opt, max_lr=0.01, epochs=2, steps_per_epoch=5, anneal_strategy="linear")
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    s.step()
    assert opt.param_groups[0]["betas"][0] < 0.95 and opt.param_groups[0]["betas"][1] == 0.999
    with pytest.raises(ValueError, match="total_steps OR"):
        sched.OneCycleLR(make_opt(momentum=0.9), max_lr=0.1)


def test_state_dict_round_trip():
    opt = make_opt()
    s = sched.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        s.step()
    saved = s.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 4
    assert all(isinstance(v, (int, float, str, bool, list, type(None))) for v in saved.values())
    expected = run(s, 5)
    opt2 = make_opt()
    opt2.param_groups[0]["lr"] = saved["_last_lr"][0]
    s2 = sched.CosineAnnealingLR(opt2, T_max=10)
    s2.load_state_dict(saved)
    assert np.array_equal(run(s2, 5), expected)


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        sched.StepLR(object(), step_size=1)
