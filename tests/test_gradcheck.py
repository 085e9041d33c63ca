"""gradcheck itself: it passes right gradients and catches wrong ones, naming the element."""

import numpy as np
import pytest

import minidl
from minidl import Function, GradcheckError, gradcheck


class Square(Function):
    """out = x^2 ; dx = 2 x g, with an optional deliberate error at one element."""

    wrong_at = None

    @staticmethod
    def forward(ctx, x):
        assert x.dtype == np.float64  # gradcheck runs in float64
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        dx = 2 * x * grad
        if ctx.wrong_at is not None:
            dx[ctx.wrong_at] += 0.5
        return dx


class WrongSquare(Square):
    wrong_at = (1, 2)


class NanSquare(Square):
    @staticmethod
    def backward(ctx, grad):
        return Square.backward(ctx, grad) * np.nan


class DroppedGradient(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 3

    @staticmethod
    def backward(ctx, grad):
        return None


def test_passes_a_correct_user_function_and_float32_inputs():
    x = minidl.tensor(
        np.random.default_rng(0).standard_normal((2, 3)), dtype="float32", requires_grad=True
    )
    assert gradcheck(Square.apply, x) is True
    assert gradcheck(lambda t: Square.apply(t).sum(1) * 2, [x]) is True


def test_catches_a_wrong_backward_and_names_the_worst_element():
    x = minidl.tensor(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=True)
    y = minidl.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda b, a: b.sum() + WrongSquare.apply(a * 2), [y, x])
    message = str(info.value)
    assert "input 1" in message and "(3, 4)" in message and "index (1, 2)" in message
    assert "autograd" in message and "finite differences" in message
    assert isinstance(info.value, AssertionError)
    assert gradcheck(lambda a: WrongSquare.apply(a), x, raise_exception=False) is False


def test_small_errors_pass_within_tolerance_and_fail_without():
    x = minidl.tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), requires_grad=True)

    class Slightly(Square):
        @staticmethod
        def backward(ctx, grad):
            return Square.backward(ctx, grad) * (1 + 1e-4)

    assert gradcheck(Slightly.apply, x, rtol=1e-3)
    with pytest.raises(GradcheckError):
        gradcheck(Slightly.apply, x, atol=1e-8, rtol=1e-6)


def test_catches_nan_and_missing_gradients():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GradcheckError, match="autograd nan"):
        gradcheck(NanSquare.apply, x)
    with pytest.raises(GradcheckError, match="autograd 0"):
        gradcheck(DroppedGradient.apply, x)


def test_constants_pass_through_and_user_inputs_are_untouched():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    c = minidl.tensor([3.0, 4.0])
    assert gradcheck(lambda a, b, k: a * b * k, [x, c, 2.0])
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])
    assert x.grad is None and x.dtype == np.float32


def test_input_errors():
    with pytest.raises(ValueError, match="requires grad"):
        gradcheck(lambda a: a * 2, minidl.tensor([1.0]))
    with pytest.raises(TypeError, match="Tensor"):
        gradcheck(lambda a: 3.0, minidl.tensor([1.0], requires_grad=True))
