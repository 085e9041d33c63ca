"""Where PyTorch refuses an argument, minidl refuses it too (creation functions, data
loading, schedulers, gradcheck); expected values worked out by hand."""

import numpy as np
import pytest

import minidl
from minidl.optim import lr_scheduler as sched

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


def test_linspace_with_an_integer_dtype_truncates_its_bounds_as_pytorch():
    # bounds 0 and 10 (truncated), step 2.5: 0, 2.5, 5, then back from the end 7.5, 10
    np.testing.assert_array_equal(
        minidl.linspace(0.5, 10.5, 5, dtype="int64").numpy(), [0, 2, 5, 7, 10]
    )
    # bounds -3 and 4, step 1.4: -3, -1.6, -0.2 | 4 - 2.8, 4 - 1.4, 4
    np.testing.assert_array_equal(
        minidl.linspace(-3.7, 4.2, 6, dtype="int32").numpy(), [-3, -1, 0, 1, 2, 4]
    )
    assert minidl.linspace(3.5, 9, 1, dtype="int64").numpy().tolist() == [3]


def test_zero_dim_tensors_count_as_numbers():
    assert minidl.full((2,), minidl.tensor(np.float64(1.5))).dtype == np.float32
    assert minidl.full((2,), minidl.tensor(3)).dtype == np.int64
    np.testing.assert_array_equal(minidl.arange(minidl.tensor(3)).numpy(), [0, 1, 2])
    with pytest.raises(TypeError, match="must be numbers"):
        minidl.arange(minidl.tensor([3]))


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_star_size_factories_need_a_size(name):
    with pytest.raises(TypeError, match=f"{name}\\(\\) missing 1 required positional argument"):
        getattr(minidl, name)()
    assert getattr(minidl, name)(()).shape == ()


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
    with pytest.raises(ValueError, match="overflows int64"):
        minidl.randint(2**63, (2,))
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


# ---- learning-rate schedulers -------------------------------------------------------------


def _opt(lr=1.0):
    return minidl.optim.SGD([minidl.tensor(np.zeros(2), requires_grad=True)], lr=lr)


def _lrs(scheduler, steps, metrics=None):
    """The first group's rate at each of `steps` epochs, the initial one first."""
    out = []
    for i in range(steps):
        out.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[i])
    return out


def test_step_and_cosine_schedules_refuse_a_zero_period():
    with pytest.raises(ValueError, match="step_size must be nonzero"):
        sched.StepLR(_opt(), 0)
    with pytest.raises(ValueError, match="T_max must be nonzero"):
        sched.CosineAnnealingLR(_opt(), 0)


def test_multistep_lambda_multiplicative_constant_polynomial():
    assert _lrs(sched.MultiStepLR(_opt(), [2, 4, 4], gamma=0.5), 6) == [
        1,
        1,
        0.5,
        0.5,
        0.125,
        0.125,
    ]
    assert _lrs(sched.LambdaLR(_opt(), lambda e: 1 / (e + 1)), 3) == pytest.approx(
        [1, 1 / 2, 1 / 3]
    )
    assert _lrs(sched.MultiplicativeLR(_opt(), lambda e: 0.5), 3) == [1, 0.5, 0.25]
    assert _lrs(sched.ConstantLR(_opt(), 0.5, total_iters=2), 4) == [0.5, 0.5, 1, 1]
    poly = _lrs(sched.PolynomialLR(_opt(), total_iters=4, power=2.0), 6)
    assert poly == pytest.approx([1, 0.5625, 0.25, 0.0625, 0, 0], abs=1e-15)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        sched.LambdaLR(_opt(), [lambda e: 1, lambda e: 1])
    with pytest.raises(TypeError, match="lr_lambda should be a function"):
        sched.MultiplicativeLR(_opt(), 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        sched.ConstantLR(_opt(), 1.5)


def test_sequential_lr_restarts_the_next_schedule_at_its_milestone():
    opt = _opt()
    s = sched.SequentialLR(
        opt, [sched.ConstantLR(opt, 0.1, total_iters=2), sched.ExponentialLR(opt, 0.5)], [2]
    )
    assert _lrs(s, 5) == pytest.approx([0.1, 0.1, 1, 0.5, 0.25], rel=1e-15)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        sched.SequentialLR(opt, [sched.ConstantLR(opt)], [2])
    with pytest.raises(ValueError, match="same optimizer"):
        sched.SequentialLR(opt, [sched.ConstantLR(opt), sched.ConstantLR(_opt())], [2])


def test_reduce_lr_on_plateau():
    s = sched.ReduceLROnPlateau(_opt(), factor=0.5, patience=1)
    assert _lrs(s, 6, [1, 1, 1, 1, 0.5, 0.5]) == [1, 1, 1, 0.5, 0.5, 0.5]
    s = sched.ReduceLROnPlateau(_opt(), mode="max", factor=0.5, patience=0, min_lr=0.3)
    assert _lrs(s, 4, [1, 0, 0, 0]) == [1, 1, 0.5, 0.3]
    for bad, match in (
        (dict(mode="bogus"), "mode bogus is unknown"),
        (dict(threshold_mode="bogus"), "threshold mode bogus is unknown"),
        (dict(factor=1.0), "Factor should be < 1.0"),
        (dict(min_lr=[0.1, 0.2]), "expected 1 min_lrs, got 2"),
    ):
        with pytest.raises(ValueError, match=match):
            sched.ReduceLROnPlateau(_opt(), **bad)


@pytest.mark.parametrize(
    "make",
    [
        lambda o: sched.MultiStepLR(o, [2, 3, 3]),
        lambda o: sched.SequentialLR(
            o, [sched.LinearLR(o, 0.2, total_iters=3), sched.CosineAnnealingLR(o, 4)], [3]
        ),
    ],
)
def test_new_schedulers_resume_from_state_dict(make):
    a = make(_opt())
    _lrs(a, 2)
    b = make(_opt())
    b.optimizer.param_groups[0]["lr"] = a.optimizer.param_groups[0]["lr"]
    b.load_state_dict(a.state_dict())
    assert _lrs(b, 5) == _lrs(a, 5)


# ---- samplers -----------------------------------------------------------------------------


def test_sampler_arguments_are_checked_as_in_torch():
    from minidl.data import sampler as s

    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_samples should be a positive integer"):
            s.WeightedRandomSampler([1.0, 2.0], bad)
        with pytest.raises(ValueError, match="batch_size should be a positive integer"):
            s.BatchSampler(range(4), bad, False)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        s.RandomSampler(range(4), num_samples=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        s.RandomSampler([])  # an empty dataset has nothing to sample
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        s.RandomSampler(range(4), replacement=1)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        s.BatchSampler(range(4), 2, None)
    with pytest.raises(ValueError, match="1d sequence"):
        s.WeightedRandomSampler([[1.0, 2.0]], 2)
    for weights in ([-1.0, 2.0], [0.0, 0.0], [float("nan"), 1.0], [float("inf"), 1.0]):
        with pytest.raises(ValueError, match="invalid multinomial distribution"):
            s.WeightedRandomSampler(weights, 2)
    with pytest.raises(ValueError, match="without replacement from 2 nonzero weights"):
        s.WeightedRandomSampler([1.0, 0.0, 3.0], 3, replacement=False)


def test_samplers_draw_what_they_promise():
    from minidl.data import sampler as s

    assert list(s.SequentialSampler(range(3))) == [0, 1, 2]
    r = s.RandomSampler(range(10), seed=0)
    first, second = list(r), list(r)
    assert sorted(first) == sorted(second) == list(range(10)) and first != second
    counts = np.bincount(list(s.RandomSampler(range(10), num_samples=25, seed=1)))
    assert counts.sum() == 25 and set(counts) == {2, 3}  # two permutations and half a third
    assert len(s.RandomSampler(range(10), replacement=True, num_samples=7)) == 7
    assert sorted(s.SubsetRandomSampler([5, 3, 9], seed=0)) == [3, 5, 9]
    drawn = list(s.WeightedRandomSampler([1.0, 0.0, 3.0], 1000, seed=0))
    assert 1 not in drawn and 600 < drawn.count(2) < 900
    assert sorted(s.WeightedRandomSampler([1.0, 0.0, 3.0], 2, replacement=False, seed=0)) == [0, 2]
    batches = s.BatchSampler(range(7), 3, drop_last=False)
    assert list(batches) == [[0, 1, 2], [3, 4, 5], [6]] and len(batches) == 3
    assert len(s.BatchSampler(range(7), 3, drop_last=True)) == 2
    loader = minidl.data.DataLoader(_dataset(7), batch_sampler=s.BatchSampler(range(7), 3, True))
    assert [b[1].numpy().tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]]


def test_dataloader_batch_size_none_yields_single_samples():
    loader = minidl.data.DataLoader(_dataset(3), batch_size=None, sampler=[2, 0])
    assert len(loader) == 2
    samples = list(loader)
    assert [(x.shape, x.item(), y.item()) for x, y in samples] == [((), 2.0, 2), ((), 0.0, 0)]
    doubled = minidl.data.DataLoader(
        _dataset(3), batch_size=None, collate_fn=lambda s: 2 * int(s[1])
    )
    assert list(doubled) == [0, 2, 4]
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        minidl.data.DataLoader(_dataset(3), batch_size=None, drop_last=True)
