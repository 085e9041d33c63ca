"""Where PyTorch refuses an argument, minidl refuses it too (creation functions, data
loading, schedulers, gradcheck); expected values worked out by hand."""

import numpy as np
import pytest

import minidl

# ---- creation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fill, dtype",
    [
        (float("nan"), "int64"),
        (float("inf"), "int32"),
        (300, "int8"),
        (-129, "int8"),
        (256, "uint8"),
        (-1.5, "uint8"),
        (1e20, "int64"),
        (1e6, "float16"),
        (1e300, "float32"),
    ],
)
def test_full_refuses_a_fill_value_the_dtype_cannot_hold(fill, dtype):
    with pytest.raises(RuntimeError, match="without overflow"):
        minidl.full((2,), fill, dtype=dtype)


def test_full_keeps_what_fits_and_wraps_negative_ints_into_unsigned():
    np.testing.assert_array_equal(minidl.full((2,), -1, dtype="uint8").numpy(), [255, 255])
    np.testing.assert_array_equal(minidl.full((2,), 2.7, dtype="int64").numpy(), [2, 2])
    assert np.isinf(minidl.full((1,), float("inf")).numpy()).all()
    assert minidl.full((1,), 5, dtype="bool").numpy().all()


@pytest.mark.parametrize("fn", [minidl.arange, lambda n, dtype: minidl.linspace(0, n, 3, dtype)])
def test_ranges_refuse_bool_dtype(fn):
    with pytest.raises(NotImplementedError, match="bool"):
        fn(5, dtype="bool")
    with pytest.raises(NotImplementedError, match="bool"):
        minidl.logspace(0, 1, 3, dtype="bool")
    with pytest.raises(NotImplementedError, match="bool"):
        minidl.randperm(3, dtype="bool")


def test_arange_with_an_integer_dtype_truncates_start_and_step_as_pytorch():
    # int64: int(start) + i * int(step) over ceil((int(end) - int(start)) / int(step)) values
    np.testing.assert_array_equal(minidl.arange(0, 5, 1.5, dtype="int64").numpy(), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(minidl.arange(-2.5, 2, 1, dtype="int64").numpy(), [-2, -1, 0, 1])
    # other integer dtypes count with the given bounds: ceil(5 / 1.5) = 4 values
    np.testing.assert_array_equal(minidl.arange(0, 5, 1.5, dtype="int32").numpy(), [0, 1, 2, 3])
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        minidl.arange(0, 2.5, 0.5, dtype="int64")


def test_linspace_logspace_arguments():
    with pytest.raises(RuntimeError, match="non-negative int"):
        minidl.linspace(0, 1, True)
    with pytest.raises(TypeError, match="start must be a number"):
        minidl.linspace("a", 1, 3)
    with pytest.raises(RuntimeError, match="0-dimensional"):
        minidl.linspace(minidl.tensor([0.0]), 1, 3)
    with pytest.raises(RuntimeError, match="without overflow"):
        minidl.linspace(0, 300, 3, dtype="int8")
    np.testing.assert_allclose(minidl.linspace(minidl.tensor(0.0), 1, 3).numpy(), [0, 0.5, 1])
    np.testing.assert_allclose(minidl.logspace(minidl.tensor(0.0), 2, 3).numpy(), [1, 10, 100])


def test_randint_checks_its_bounds_against_the_dtype():
    with pytest.raises(TypeError, match="high must be an int"):
        minidl.randint(0, 2.5, (3,))
    with pytest.raises(TypeError, match="high must be an int"):
        minidl.randint(5.0, (3,))
    with pytest.raises(RuntimeError, match="from = -1 is out of bounds for uint8"):
        minidl.randint(-1, 5, (3,), dtype="uint8")
    with pytest.raises(RuntimeError, match="to - 1 = 299 is out of bounds for uint8"):
        minidl.randint(0, 300, (3,), dtype="uint8")
    with pytest.raises(RuntimeError, match="out of bounds for bool"):
        minidl.randint(0, 5, (3,), dtype="bool")
    assert minidl.randint(0, 2, (4,), dtype="bool").dtype == np.bool_
    assert minidl.randint(0, 128, (4,), dtype="int8").numpy().max() < 128


def test_randperm_and_eye_arguments():
    with pytest.raises(TypeError, match="must be an int"):
        minidl.randperm(True)
    with pytest.raises(RuntimeError, match="without overflow"):
        minidl.randperm(257, dtype="uint8")
    assert sorted(minidl.randperm(256, dtype="uint8").numpy().tolist()) == list(range(256))
    with pytest.raises(TypeError, match="must be an int"):
        minidl.eye(2.0)
    with pytest.raises(TypeError, match="must be an int"):
        minidl.eye(True)


# ---- data ---------------------------------------------------------------------------------


def _dataset(n=10):
    return minidl.data.TensorDataset(np.arange(n, dtype=np.float32), np.arange(n))


def test_dataloader_refuses_a_sampler_with_non_integer_indices():
    with pytest.raises(TypeError, match="integer indices"):
        list(minidl.data.DataLoader(_dataset(), sampler=[1.5]))
    with pytest.raises(TypeError, match="integer indices"):
        list(minidl.data.DataLoader(_dataset(), batch_sampler=[[0, 1.0]]))


def test_dataloader_drop_last_and_num_workers_arguments():
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        minidl.data.DataLoader(_dataset(), drop_last=None)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        minidl.data.DataLoader(_dataset(), drop_last=1)
    with pytest.raises(ValueError, match="non-negative"):
        minidl.data.DataLoader(_dataset(), num_workers=-1)
    loader = minidl.data.DataLoader(_dataset(), batch_size=4, num_workers=2, pin_memory=True)
    assert [b[1].numpy().tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_dataloader_batch_sampler():
    batches = [[3, 1], [0], [9, 8, 7]]
    loader = minidl.data.DataLoader(_dataset(), batch_sampler=batches)
    assert len(loader) == 3
    assert [b[1].numpy().tolist() for b in loader] == batches
    for clash in (
        dict(batch_size=2),
        dict(shuffle=True),
        dict(sampler=[0]),
        dict(drop_last=True),
    ):
        with pytest.raises(ValueError, match="mutually exclusive"):
            minidl.data.DataLoader(_dataset(), batch_sampler=batches, **clash)


# ---- gradcheck ----------------------------------------------------------------------------


def _x():
    return minidl.tensor(np.array([1.0, 2.0]), requires_grad=True)


@pytest.mark.parametrize("check", [minidl.gradcheck, minidl.gradgradcheck])
def test_gradcheck_refuses_bad_tolerances_and_inputs(check):
    def f(x):
        return x * x * x

    with pytest.raises(ValueError, match="eps must be a nonzero"):
        check(f, (_x(),), eps=0)
    with pytest.raises(ValueError, match="atol must be greater than or equal to zero"):
        check(f, (_x(),), atol=-1)
    with pytest.raises(ValueError, match="rtol must be greater than or equal to zero"):
        check(f, (_x(),), rtol=-1e-3)
    with pytest.raises(TypeError, match="inputs must be a Tensor or a tuple"):
        check(f, None)
    with pytest.raises(TypeError, match="no floating point Tensor"):
        check(lambda x: x > 1, (_x(),))


def test_gradcheck_checks_every_output_of_a_tuple():
    assert minidl.gradcheck(lambda x: (x * x, x.sum(), x > 1), (_x(),))
    assert minidl.gradgradcheck(lambda x: (x * x * x, (x * x).sum()), (_x(),))
    # a wrong gradient in the second output only is found
    assert not minidl.gradcheck(lambda x: (x * 2, x.detach() * x), (_x(),), raise_exception=False)
