"""minidl.utils.check_finite: the divergence guard for training loops."""

import math

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.utils import NonFiniteError, check_finite


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -1e38,
        3,
        np.float32(2.5),
        np.int64(7),
        True,
        np.ones((2, 3), np.float16),
        np.arange(4),
        np.array([], np.float32),
        1 + 2j,
        minidl.tensor(np.zeros(3, np.float32)),
        [1.0, np.ones(2)],
    ],
)
def test_finite_values_pass(value):
    assert check_finite(value) is None


@pytest.mark.parametrize(
    "value, name, bad",
    [
        (math.nan, "loss", math.nan),
        (float("inf"), "loss", math.inf),
        (np.float32("-inf"), "loss", -math.inf),
        (np.array([1.0, 2.0, np.nan, np.inf]), "loss", math.nan),  # the first bad element
        (np.array([[0, np.inf]], np.float16), "loss", math.inf),
        (np.array([1 + 1j, complex(0, np.inf)]), "loss", complex(0, np.inf)),
        (minidl.tensor(np.array([np.nan], np.float32)), "loss", math.nan),
        ([1.0, np.array([np.inf])], "loss[1]", math.inf),
    ],
)
def test_non_finite_values_raise_naming_what_and_the_value(value, name, bad):
    with pytest.raises(NonFiniteError) as info:
        check_finite(value, "loss")
    assert info.value.name == name
    assert (
        math.isnan(info.value.value)
        if isinstance(bad, float) and math.isnan(bad)
        else info.value.value == bad
    )
    assert f"{name} is " in str(info.value) and "diverged" in str(info.value)
    assert isinstance(info.value, FloatingPointError)  # what numpy's errstate raises too


def test_a_module_is_checked_parameter_by_parameter_with_state_dict_names():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    check_finite(model, "model")
    model[2].bias.data[1] = np.inf
    with pytest.raises(NonFiniteError, match=r"model\.2\.bias is inf"):
        check_finite(model, "model")
    with pytest.raises(NonFiniteError, match=r"params\[3\] is inf"):
        check_finite(model.parameters(), "params")


@pytest.mark.parametrize(
    "value", ["nan", b"x", None, object(), np.array(["a"]), np.array([None], dtype=object)]
)
def test_what_is_not_a_number_is_a_type_error(value):
    with pytest.raises(TypeError, match="check_finite"):
        check_finite(value)


@pytest.mark.gpu
def test_cupy_arrays_are_checked_on_the_device():
    cupy = pytest.importorskip("cupy")
    check_finite(cupy.ones(3))
    with pytest.raises(NonFiniteError, match="x is nan"):
        check_finite(cupy.array([1.0, cupy.nan]), "x")


def test_reachable_as_minidl_utils_after_import_minidl():
    assert minidl.utils.check_finite is check_finite
    assert minidl.utils.NonFiniteError is NonFiniteError
