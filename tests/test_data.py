"""Datasets, random_split and the DataLoader: order, seeds, drop_last, len, batching, errors."""

import numpy as np
import pytest

import minidl
from minidl import backend
from minidl.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


def make_dataset(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return TensorDataset(x, np.arange(n, dtype=np.int64))


def epoch_order(loader):
    """The sample indices of one epoch, read back from the label field."""
    return np.concatenate([y.numpy() for _, y in loader]).tolist()


class ItemOnly(Dataset):
    """A dataset without __getitems__: samples are (array, int) built one at a time."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __getitem__(self, i):
        self.calls += 1
        return np.full(2, i, dtype=np.float32), i

    def __len__(self):
        return self.n


# ---- datasets -----------------------------------------------------------------------
def test_tensor_dataset_items_and_batches():
    ds = make_dataset(5)
    x, y = ds[2]
    np.testing.assert_array_equal(x, [6, 7, 8])
    assert y == 2 and len(ds) == 5
    xb, yb = ds.__getitems__(np.array([4, 0]))
    np.testing.assert_array_equal(yb, [4, 0])
    assert xb.shape == (2, 3)


def test_tensor_dataset_accepts_tensors_without_copy():
    t = minidl.tensor(np.ones((4, 2), np.float32))
    ds = TensorDataset(t, np.zeros(4))
    assert ds.tensors[0] is t.data


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match=r"size mismatch.*\(3, 2\), \(4,\)"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="scalar"):
        TensorDataset(np.float32(1.0))


def test_subset_maps_indices_for_items_and_batches():
    sub = Subset(make_dataset(10), [7, 2, 5])
    assert len(sub) == 3 and sub[0][1] == 7
    np.testing.assert_array_equal(sub.__getitems__(np.array([2, 0]))[1], [5, 7])
    items = Subset(ItemOnly(10), [7, 2, 5])  # underlying dataset without __getitems__
    x, y = items.__getitems__(np.array([1, 2]))
    np.testing.assert_array_equal(y, [2, 5])
    assert x.shape == (2, 2)


@pytest.mark.parametrize(
    "indices, error, match",
    [
        ([0.5, 1.7], TypeError, "integers, got dtype float64"),  # used to truncate to 0, 1
        (np.array([1.0, 2.0]), TypeError, "integers"),  # even whole floats
        ([True, False, True], TypeError, "dtype bool"),  # a mask is not a list of indices
        (["1"], TypeError, "integers"),
        ([[0, 1], [2, 3]], ValueError, "1-D"),  # used to be flattened
        ([3, 10], IndexError, "index 10 is out of range .* 10 samples"),
        ([-11], IndexError, "index -11"),
    ],
)
def test_subset_refuses_indices_that_are_not_in_range_integers(indices, error, match):
    with pytest.raises(error, match=match):
        Subset(make_dataset(10), indices)


def test_subset_accepts_integer_sequences_of_any_kind():
    ds = make_dataset(10)
    for indices in (
        [9, -1, 0],
        range(3),
        np.array([1, 2], dtype=np.uint8),
        (4,),
        [],
        minidl.tensor(np.array([5, 6])),
    ):
        sub = Subset(ds, indices)
        assert sub.indices.dtype == np.int64
        assert len(sub) == len(list(indices))
    assert Subset(ds, [-1])[0][1] == 9


def test_random_split_counts_is_a_seeded_partition():
    ds = make_dataset(10)
    parts = random_split(ds, [6, 3, 1], seed=0)
    assert [len(p) for p in parts] == [6, 3, 1]
    assert sorted(np.concatenate([p.indices for p in parts]).tolist()) == list(range(10))
    again = random_split(ds, [6, 3, 1], seed=0)
    assert all((a.indices == b.indices).all() for a, b in zip(parts, again))
    other = random_split(ds, [6, 3, 1], seed=1)
    assert any((a.indices != b.indices).any() for a, b in zip(parts, other))


def test_random_split_fractions_hand_out_the_remainder_like_pytorch():
    assert [len(p) for p in random_split(make_dataset(11), [0.5, 0.25, 0.25], seed=0)] == [6, 3, 2]


def test_random_split_without_seed_follows_manual_seed():
    minidl.manual_seed(3)
    a = random_split(make_dataset(10), [5, 5])[0].indices
    minidl.manual_seed(3)
    np.testing.assert_array_equal(random_split(make_dataset(10), [5, 5])[0].indices, a)


@pytest.mark.parametrize(
    "lengths, match",
    [
        ([6, 3], "sum to 9, but the dataset has 10"),
        ([11, -1], "negative"),
        ([0.5, 0.6], "fractions"),
        ([], "empty"),
    ],
)
def test_random_split_errors(lengths, match):
    with pytest.raises(ValueError, match=match):
        random_split(make_dataset(10), lengths, seed=0)


def test_default_collate_stacks_fields_and_dicts():
    x, y = default_collate([(np.zeros(2), 1), (np.ones(2), 2)])
    assert x.shape == (2, 2) and y.dtype == np.int64
    d = default_collate([{"a": 1.5}, {"a": 2.5}])
    np.testing.assert_array_equal(d["a"], [1.5, 2.5])


@pytest.mark.parametrize(
    "samples, error, match",
    [
        # a field only some samples have used to be dropped silently (zip / the first's keys)
        ([(1, 2, 3), (4, 5)], ValueError, r"fields 3 in sample 0 but 2 in sample 1"),
        ([(1, 2), (4, 5, 6)], ValueError, "fields 2 in sample 0 but 3"),
        ([{"a": 1, "b": 2}, {"a": 3}], ValueError, r"keys \['a', 'b'\] in sample 0 but \['a'\]"),
        ([{"a": 1}, {"a": 3, "extra": 4}], ValueError, "every sample must have the same keys"),
        ([{"a": (1, 2)}, {"a": (3,)}], ValueError, r"batch\['a'\] has fields 2"),
        ([(1, 2), {"a": 1}], TypeError, "tuple in sample 0 but a dict in sample 1"),
        (
            [(np.zeros(2), 0), (np.zeros(3), 1)],
            ValueError,
            r"batch\[0\] has shape \(2,\) in "
            r"sample 0 but \(3,\) in sample 1",
        ),
        ([(None, 1), (None, 2)], TypeError, r"cannot batch batch\[0\] of sample 0: NoneType"),
        ([], ValueError, "no samples"),
    ],
)
def test_default_collate_refuses_samples_of_different_structure(samples, error, match):
    with pytest.raises(error, match=match):
        default_collate(samples)


def test_dataloader_batches_of_ragged_samples_raise_instead_of_dropping_fields():
    class Ragged(Dataset):
        def __getitem__(self, i):
            return (np.zeros(2), i, "extra") if i % 2 else (np.zeros(2), i)

        def __len__(self):
            return 4

    with pytest.raises(ValueError, match="fields 2 in sample 0 but 3 in sample 1"):
        next(iter(DataLoader(Ragged(), batch_size=4)))


def test_default_collate_lists_and_tuples_mix_as_fields():
    x, y = default_collate([[np.zeros(2), 1], (np.ones(2), 2)])
    np.testing.assert_array_equal(x, [[0, 0], [1, 1]])
    np.testing.assert_array_equal(y, [1, 2])


# ---- DataLoader ---------------------------------------------------------------------
def test_sequential_order_shapes_and_partial_last_batch():
    loader = DataLoader(make_dataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 == len(batches)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3), (4, 3), (2, 3)]
    assert epoch_order(loader) == list(range(10))
    x, y = batches[0]
    assert isinstance(x, minidl.Tensor) and not x.requires_grad and x.device == "cpu"
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x.numpy(), np.arange(12).reshape(4, 3))


def test_drop_last_drops_only_the_short_batch():
    loader = DataLoader(make_dataset(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [tuple(x.shape) for x, _ in loader] == [(4, 3), (4, 3)]
    assert epoch_order(loader) == list(range(8))
    assert len(DataLoader(make_dataset(8), batch_size=4, drop_last=True)) == 2
    shuffled = DataLoader(make_dataset(10), batch_size=4, shuffle=True, drop_last=True, seed=0)
    order = epoch_order(shuffled)
    assert len(order) == 8 == len(set(order))


def test_shuffle_reshuffles_every_epoch():
    loader = DataLoader(make_dataset(50), batch_size=7, shuffle=True, seed=0)
    epochs = [epoch_order(loader) for _ in range(3)]
    assert all(sorted(e) == list(range(50)) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2] and epochs[0] != list(range(50))


def test_same_seed_same_sequence_of_epochs_different_seed_differs():
    def run(seed):
        loader = DataLoader(make_dataset(50), batch_size=8, shuffle=True, seed=seed)
        return [epoch_order(loader) for _ in range(3)]

    assert run(123) == run(123)
    assert run(123) != run(124)


def test_state_dict_replays_the_next_epochs_in_a_new_loader():
    loader = DataLoader(make_dataset(40), batch_size=6, shuffle=True, seed=5)
    epoch_order(loader)
    saved = loader.state_dict()  # after one epoch
    expected = [epoch_order(loader) for _ in range(2)]
    other = DataLoader(make_dataset(40), batch_size=6, shuffle=True, seed=99)
    other.load_state_dict(saved)
    assert [epoch_order(other) for _ in range(2)] == expected
    assert other.seed == 5


def test_unseeded_loader_follows_manual_seed():
    minidl.manual_seed(7)
    a = epoch_order(DataLoader(make_dataset(30), batch_size=4, shuffle=True))
    minidl.manual_seed(7)
    assert epoch_order(DataLoader(make_dataset(30), batch_size=4, shuffle=True)) == a


def test_array_datasets_are_batched_by_fancy_indexing():
    class Batched(TensorDataset):
        def __getitem__(self, index):
            raise AssertionError("per-item path used for an array-backed dataset")

    loader = DataLoader(Batched(np.arange(10.0), np.arange(10)), batch_size=3, shuffle=True, seed=0)
    assert sorted(epoch_order(loader)) == list(range(10))


def test_item_only_dataset_is_collated_per_field():
    ds = ItemOnly(5)
    x, y = next(iter(DataLoader(ds, batch_size=3)))
    assert ds.calls == 3 and x.shape == (3, 2)
    np.testing.assert_array_equal(y.numpy(), [0, 1, 2])


def test_collate_fn_receives_the_list_of_samples():
    seen = []

    def collate(samples):
        seen.append(samples)
        return np.stack([s[0] for s in samples]).sum(axis=1), "meta"

    batch_sum, meta = next(iter(DataLoader(make_dataset(4), batch_size=2, collate_fn=collate)))
    assert isinstance(seen[0], list) and len(seen[0]) == 2 and seen[0][1][1] == 1
    np.testing.assert_array_equal(batch_sum.numpy(), [3, 12])
    assert meta == "meta"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(batch_size=0), ValueError, "positive integer, got 0"),
        (dict(batch_size=-2), ValueError, "positive integer"),
        (dict(batch_size=2.0), ValueError, "positive integer"),
        (dict(batch_size=True), ValueError, "positive integer"),
        (
            dict(batch_size=11, drop_last=True),
            ValueError,
            "10 samples and batch_size 11.*no batches",
        ),
        (dict(collate_fn=3), TypeError, "callable"),
        (dict(device="tpu"), ValueError, "Unknown device"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        DataLoader(make_dataset(10), **kwargs)


def test_empty_and_unsized_datasets_are_errors():
    with pytest.raises(ValueError, match="empty"):
        DataLoader(TensorDataset(np.zeros((0, 3))))
    with pytest.raises(ValueError, match="empty"):
        DataLoader(TensorDataset(np.zeros((0, 3))), batch_size=4, drop_last=True)
    with pytest.raises(TypeError, match="__len__"):
        DataLoader(iter(range(3)))


@pytest.mark.skipif(backend.cupy_available(), reason="checks the error when no GPU is usable")
def test_gpu_device_without_cupy_fails_at_construction():
    with pytest.raises(backend.BackendError):
        DataLoader(make_dataset(4), device="gpu")


@pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a CUDA GPU")
def test_batches_land_on_the_gpu_from_host_and_device_arrays():
    cupy = backend.get_cupy()
    for ds in (make_dataset(10), TensorDataset(cupy.arange(10.0), cupy.arange(10))):
        x, y = next(iter(DataLoader(ds, batch_size=4, shuffle=True, seed=0, device="gpu")))
        assert isinstance(x.data, cupy.ndarray) and isinstance(y.data, cupy.ndarray)
        assert x.device == "gpu" and x.shape[0] == 4
