"""minidl.autograd.detect_anomaly: the first NaN/inf names its op and the user's line."""

import sys

import numpy as np
import pytest

import minidl
from minidl import autograd, nn

HERE = __file__.rsplit("/", 1)[-1]  # test_anomaly.py


@pytest.fixture(autouse=True)
def quiet_numpy():
    """These tests make NaN and inf on purpose; NumPy's RuntimeWarnings (errors in this
    suite) would stop them before minidl gets to look."""
    with np.errstate(divide="ignore", invalid="ignore"):
        yield


def next_line():
    """The line number after the caller's current one."""
    return sys._getframe(1).f_lineno + 1


def test_log_of_zero_in_forward_names_log_and_this_line():
    x = minidl.tensor([0.0, 1.0], requires_grad=True)
    with autograd.detect_anomaly():
        with pytest.raises(RuntimeError) as info:
            line = next_line()
            minidl.log(x)
    message = str(info.value)
    assert "'Log'" in message and "nan or inf" in message
    assert f"{HERE}:{line}" in message
    # the Tensor method goes through minidl's own frames: still the user's line is named
    with autograd.detect_anomaly(), pytest.raises(RuntimeError) as info:
        line = next_line()
        x.log()
    assert "'Log'" in str(info.value) and f"{HERE}:{line}" in str(info.value)


def test_outside_the_mode_nothing_is_checked_or_recorded():
    x = minidl.tensor([0.0, 1.0], requires_grad=True)
    y = minidl.log(x)
    assert y.data[0] == -np.inf
    assert not hasattr(y.grad_fn, "created_at")
    assert not autograd.is_anomaly_enabled()


def test_nan_in_backward_names_the_op_and_the_line_that_created_it():
    x = minidl.tensor([0.0, 4.0], requires_grad=True)
    with autograd.detect_anomaly():
        line = next_line()
        root = minidl.sqrt(x)  # forward is fine: [0, 2]
        loss = (root * 0.0).sum()  # its gradient is 0, and 0 / (2 * sqrt(0)) is NaN
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    message = str(info.value)
    assert "Sqrt" in message and "nan" in message and f"{HERE}:{line}" in message
    # without the mode the NaN lands in the gradient silently
    x.grad = None
    (minidl.sqrt(x) * 0.0).sum().backward()
    assert np.isnan(x.grad.data[0]) and x.grad.data[1] == 0.0


def test_inf_in_backward_is_not_an_anomaly_as_in_torch():
    x = minidl.tensor([0.0, 4.0], requires_grad=True)
    with autograd.detect_anomaly():
        minidl.sqrt(x).sum().backward()  # d sqrt(x)/dx = inf at 0: no NaN, no error
    assert x.grad.data[0] == np.inf and x.grad.data[1] == 0.25


def test_a_module_call_names_the_fused_op_and_the_users_line():
    layer = nn.Linear(3, 2)
    layer.weight.data[0, 0] = np.inf
    x = minidl.ones(4, 3)
    with autograd.detect_anomaly(), pytest.raises(RuntimeError) as info:
        line = next_line()
        layer(x)
    assert "'Linear'" in str(info.value) and f"{HERE}:{line}" in str(info.value)


class NaNBackward(minidl.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * np.nan


def test_a_custom_function_is_named_by_its_class():
    x = minidl.tensor([1.0], requires_grad=True)
    with autograd.detect_anomaly():
        line = next_line()
        y = NaNBackward.apply(x)
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
    assert "NaNBackward" in str(info.value) and f"{HERE}:{line}" in str(info.value)


def test_op_created_outside_the_mode_is_still_named_in_backward():
    x = minidl.tensor([0.0], requires_grad=True)
    loss = (minidl.sqrt(x) * 0.0).sum()
    with autograd.detect_anomaly(), pytest.raises(RuntimeError, match="Sqrt.*outside"):
        loss.backward()


def test_mode_switches_nest_and_restore_after_errors():
    x = minidl.tensor([0.0])
    with autograd.detect_anomaly():
        assert autograd.is_anomaly_enabled()
        with autograd.set_detect_anomaly(False):
            assert minidl.log(x).data[0] == -np.inf  # off inside: no error
        assert autograd.is_anomaly_enabled()
    assert not autograd.is_anomaly_enabled()
    with pytest.raises(RuntimeError):
        with autograd.detect_anomaly():
            minidl.log(x)
    assert not autograd.is_anomaly_enabled()
    assert minidl.log(x).data[0] == -np.inf


@pytest.mark.gpu
def test_on_the_gpu_forward_and_backward_checks_read_device_arrays():
    if not minidl.backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    x = minidl.tensor([0.0, 4.0], device="gpu", requires_grad=True)
    with autograd.detect_anomaly(), pytest.raises(RuntimeError) as info:
        line = next_line()
        minidl.log(x)
    assert "'Log'" in str(info.value) and f"{HERE}:{line}" in str(info.value)
    with autograd.detect_anomaly():
        line = next_line()
        loss = (minidl.sqrt(x) * 0.0).sum()
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    assert "Sqrt" in str(info.value) and f"{HERE}:{line}" in str(info.value)
