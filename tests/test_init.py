"""minidl.nn.init: bounds and statistics of each initialiser, seeding, Linear's default."""

import math

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.nn import init


def empty(*shape, dtype=np.float32):
    return minidl.zeros(*shape, dtype=dtype)


def test_uniform_and_normal_statistics():
    minidl.manual_seed(0)
    u = init.uniform_(empty(300, 200), -2.0, 3.0).numpy()
    assert u.min() >= -2 and u.max() < 3 and u.min() < -1.99 and u.max() > 2.99
    assert u.mean() == pytest.approx(0.5, abs=0.02)
    assert u.var() == pytest.approx(25 / 12, rel=0.02)
    n = init.normal_(empty(300, 200), 1.5, 0.5).numpy()
    assert n.mean() == pytest.approx(1.5, abs=0.01)
    assert n.std() == pytest.approx(0.5, rel=0.01)


def test_constants():
    assert not init.zeros_(minidl.randn(3, 2)).numpy().any()
    np.testing.assert_array_equal(init.ones_(minidl.randn(3, 2)).numpy(), np.ones((3, 2)))
    np.testing.assert_array_equal(init.constant_(empty(2), 0.25).numpy(), [0.25, 0.25])


@pytest.mark.parametrize(
    "shape, fan_in, fan_out", [((300, 100), 100, 300), ((40, 20, 3, 3), 180, 360)]
)
def test_xavier(shape, fan_in, fan_out):
    minidl.manual_seed(0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    u = init.xavier_uniform_(empty(*shape), gain=2.0).numpy()
    assert np.abs(u).max() <= bound and np.abs(u).max() > 0.99 * bound
    assert u.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    n = init.xavier_normal_(empty(*shape)).numpy()
    assert n.std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.02)
    assert abs(n.mean()) < 0.01


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming(mode):
    minidl.manual_seed(0)
    fan = 100 if mode == "fan_in" else 300
    u = init.kaiming_uniform_(empty(300, 100), mode=mode, nonlinearity="relu").numpy()
    bound = math.sqrt(2) * math.sqrt(3 / fan)
    assert np.abs(u).max() <= bound and np.abs(u).max() > 0.99 * bound
    n = init.kaiming_normal_(empty(300, 100), mode=mode, nonlinearity="relu").numpy()
    assert n.std() == pytest.approx(math.sqrt(2 / fan), rel=0.02)
    # leaky_relu with slope a: gain sqrt(2 / (1 + a^2))
    n = init.kaiming_normal_(empty(300, 100), a=1.0, mode=mode).numpy()
    assert n.std() == pytest.approx(1 / math.sqrt(fan), rel=0.02)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(empty(3, 3), mode="fan_avg")


def test_gains_and_fan_checks():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("linear") == 1.0
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swishy")
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(5,\)"):
        init.xavier_uniform_(empty(5))


def test_seeded_reproducibility_and_dtype():
    def draw():
        t = empty(4, 5, dtype=np.float64)
        init.kaiming_uniform_(t)
        init.normal_(t)
        return t

    minidl.manual_seed(42)
    a = draw()
    minidl.manual_seed(42)
    b = draw()
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), draw().numpy())


def test_initialisers_work_in_place_on_parameters():
    p = nn.Parameter(empty(3, 4))
    data = p.data
    init.ones_(p)
    assert p.data is data and p.requires_grad and (data == 1).all()


def test_linear_default_bound_is_one_over_sqrt_in():
    minidl.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.95 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    minidl.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.numpy(), w)
