"""MNIST / FashionMNIST: tiny IDX files the tests write, checksums, download via file:// mirrors,
and the real data when it is present. Never touches the network."""

import gzip
import hashlib
import os
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from minidl.data import (
    MNIST,
    ChecksumError,
    DataLoader,
    DownloadError,
    FashionMNIST,
    IDXError,
    data_root,
)
from minidl.data import mnist as mnist_module
from minidl.data.mnist import PinnedFile

SPLIT_SIZES = {"train": 6, "t10k": 4}


def idx_gz(array):
    """gzip-compressed IDX bytes of a uint8 array."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def tiny_files(n_train=6, n_test=4, seed=0):
    """{file name: gz bytes} of a small fake MNIST; labels are 0..n-1 mod 10."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        files[f"{split}-images-idx3-ubyte.gz"] = idx_gz(rng.integers(0, 256, (n, 28, 28)))
        files[f"{split}-labels-idx1-ubyte.gz"] = idx_gz(np.arange(n) % 10)
    return files


def place(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def pins(files):
    return {
        name: PinnedFile(len(c), hashlib.md5(c).hexdigest(), hashlib.sha256(c).hexdigest())
        for name, c in files.items()
    }


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Only file:// URLs may be opened, in every test here; others fail like a dead host."""
    real = mnist_module.urlopen
    opened = []

    def urlopen(url, timeout=60):
        opened.append(url)
        if not url.startswith("file:"):
            raise urllib.error.URLError("network disabled in tests")
        return real(url, timeout)

    monkeypatch.setattr(mnist_module, "urlopen", urlopen)
    return opened


@pytest.fixture
def tiny_root(tmp_path):
    files = tiny_files()
    place(tmp_path / "mnist", files)
    return tmp_path, files


# ---- reading ------------------------------------------------------------------------
def test_arrays_layout_and_items(tiny_root, offline):
    root, files = tiny_root
    ds = MNIST(root, train=True, verify=False)
    raw = np.frombuffer(gzip.decompress(files["train-images-idx3-ubyte.gz"])[16:], np.uint8)
    assert len(ds) == 6 and not offline  # present files: no download attempted
    assert ds.data.dtype == np.uint8 and ds.data.shape == (6, 28, 28)
    np.testing.assert_array_equal(ds.data.ravel(), raw)
    assert ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.targets, np.arange(6))
    assert ds.images.dtype == np.float32 and ds.images.shape == (6, 1, 28, 28)
    np.testing.assert_array_equal(ds.images.ravel(), raw.astype(np.float32) / 255)
    image, label = ds[3]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert type(label) is int and label == 3
    images, labels = ds.__getitems__(np.array([5, 1]))
    assert images.shape == (2, 1, 28, 28) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [5, 1])
    assert len(MNIST(root, train=False, verify=False)) == 4
    assert ds.classes[3] == "3 - three"


def test_normalize_and_transform(tiny_root):
    root, _ = tiny_root
    plain = MNIST(root, verify=False)
    norm = MNIST(root, verify=False, normalize=True)
    np.testing.assert_allclose(norm.images, (plain.images - 0.1307) / 0.3081, rtol=1e-6, atol=1e-6)
    flat = MNIST(root, verify=False, transform=lambda x: x.reshape(*x.shape[:-3], 784))
    assert flat[0][0].shape == (784,)
    x, y = next(iter(DataLoader(flat, batch_size=4, shuffle=True, seed=0)))
    assert x.shape == (4, 784) and y.shape == (4,)
    np.testing.assert_array_equal(x.numpy(), plain.images[y.numpy()].reshape(4, 784))


def test_pinned_checksums_reject_other_files(tiny_root):
    root, _ = tiny_root
    with pytest.raises(ChecksumError) as info:
        MNIST(root, download=False)  # verify=True: tiny files are not the pinned ones
    message = str(info.value)
    path = root / "mnist" / "train-images-idx3-ubyte.gz"
    assert str(path) in message and MNIST.resources[path.name].sha256 in message
    assert hashlib.sha256(path.read_bytes()).hexdigest() in message
    assert "Delete it" in message


def test_pinned_checksums_accept_the_pinned_files(tiny_root, monkeypatch):
    root, files = tiny_root
    monkeypatch.setattr(MNIST, "resources", pins(files))
    assert len(MNIST(root, download=False)) == 6


def test_corrupt_file_is_never_used(tiny_root, monkeypatch):
    root, files = tiny_root
    monkeypatch.setattr(MNIST, "resources", pins(files))
    path = root / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(files[path.name][:-100])
    with pytest.raises(ChecksumError, match="t10k-images-idx3-ubyte.gz"):
        MNIST(root, train=False)
    with pytest.raises(IDXError, match="t10k-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        MNIST(root, train=False, verify=False)


@pytest.mark.parametrize(
    "name, array, match",
    [
        (
            "train-labels-idx1-ubyte.gz",
            np.arange(5),
            r"holds 5 labels but .*train-images.* holds 6",
        ),
        (
            "train-images-idx3-ubyte.gz",
            np.zeros((6, 27, 28)),
            r"shape \(N, 28, 28\), got uint8 \(6, 27, 28\)",
        ),
        ("train-labels-idx1-ubyte.gz", np.arange(6).reshape(6, 1), r"labels of shape \(N,\)"),
        ("train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 4, 10]), "label 10 is out of range"),
    ],
)
def test_files_that_are_not_mnist_shaped(tiny_root, name, array, match):
    root, _ = tiny_root
    (root / "mnist" / name).write_bytes(idx_gz(array))
    with pytest.raises(IDXError, match=match) as info:
        MNIST(root, verify=False)
    assert name in str(info.value)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"train-images-idx3-ubyte.gz not found in .*mnist"
        r".*download=True",
    ):
        MNIST(tmp_path, download=False)


# ---- where files are found ----------------------------------------------------------
def test_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("MINIDL_DATA")
    project = Path(mnist_module.__file__).resolve().parents[2]
    checkout = (project / "setup.cfg").is_file() or (project / "pyproject.toml").is_file()
    expected = project / "datasets" if checkout else Path.home() / ".cache/minidl/datasets"
    assert data_root() == expected


def test_env_var_is_used_when_no_root_is_given(tiny_root, monkeypatch):
    root, _ = tiny_root
    monkeypatch.setenv("MINIDL_DATA", str(root))
    assert MNIST(verify=False, download=False).root == root


def test_fashion_finds_the_debian_folder_after_its_own(tmp_path, monkeypatch, offline):
    system = place(tmp_path / "system", tiny_files(n_train=3))
    monkeypatch.setattr(FashionMNIST, "system_dirs", (str(system),))
    assert len(FashionMNIST(tmp_path / "root", verify=False)) == 3
    place(tmp_path / "root" / "fashion-mnist", tiny_files(n_train=5))
    assert len(FashionMNIST(tmp_path / "root", verify=False)) == 5
    assert not offline


# ---- download -----------------------------------------------------------------------
def mirror(folder, files):
    return place(folder, files).as_uri() + "/"


def test_download_falls_back_to_the_next_mirror(tmp_path, monkeypatch, offline):
    files = tiny_files()
    monkeypatch.setattr(MNIST, "resources", pins(files))
    good = mirror(tmp_path / "good", files)
    monkeypatch.setattr(
        MNIST,
        "mirrors",
        ("https://unreachable.invalid/mnist/", (tmp_path / "empty").as_uri() + "/", good),
    )
    ds = MNIST(tmp_path / "root", train=True)
    assert len(ds) == 6
    stored = sorted(p.name for p in (tmp_path / "root" / "mnist").iterdir())
    assert stored == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]  # no .part
    assert offline[0] == "https://unreachable.invalid/mnist/train-images-idx3-ubyte.gz"
    assert offline[2] == good + "train-images-idx3-ubyte.gz"
    # present now: loading again opens nothing
    del offline[:]
    MNIST(tmp_path / "root", train=True)
    assert not offline


def test_download_skips_a_mirror_with_wrong_content(tmp_path, monkeypatch, offline):
    files = tiny_files()
    monkeypatch.setattr(MNIST, "resources", pins(files))
    bad = mirror(tmp_path / "bad", tiny_files(seed=1))
    monkeypatch.setattr(MNIST, "mirrors", (bad, mirror(tmp_path / "good", files)))
    ds = MNIST(tmp_path / "root", train=False)
    assert (tmp_path / "root" / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes() == files[
        "t10k-images-idx3-ubyte.gz"
    ]
    assert len(ds) == 4


def test_failed_download_lists_mirrors_and_how_to_place_files(tmp_path, monkeypatch, offline):
    files = tiny_files()
    monkeypatch.setattr(MNIST, "resources", pins(files))
    bad = mirror(tmp_path / "bad", tiny_files(seed=1))
    monkeypatch.setattr(MNIST, "mirrors", ("https://unreachable.invalid/", bad))
    with pytest.raises(DownloadError) as info:
        MNIST(tmp_path / "root")
    message = str(info.value)
    unreachable = "https://unreachable.invalid/train-images-idx3-ubyte.gz"
    assert f"{unreachable}: <urlopen error network disabled in tests>" in message
    assert bad + "train-images-idx3-ubyte.gz: got" in message and "expected" in message
    assert str(tmp_path / "root" / "mnist") in message and "MINIDL_DATA" in message
    assert os.listdir(tmp_path / "root" / "mnist") == []  # nothing half-written left behind
    # the parts, for a one-line report (examples/training.py prints one)
    assert info.value.name == "train-images-idx3-ubyte.gz"
    assert info.value.folder == tmp_path / "root" / "mnist"
    assert [url for url, _ in info.value.failures] == [
        unreachable,
        bad + "train-images-idx3-ubyte.gz",
    ]
    assert "network disabled in tests" in info.value.failures[0][1]


def test_download_rejects_a_file_longer_than_pinned(tmp_path, monkeypatch, offline):
    files = tiny_files()
    pinned = pins(files)
    name = "t10k-labels-idx1-ubyte.gz"
    pinned[name] = pinned[name]._replace(size=pinned[name].size - 1)
    monkeypatch.setattr(MNIST, "resources", pinned)
    monkeypatch.setattr(MNIST, "mirrors", (mirror(tmp_path / "m", files),))
    with pytest.raises(DownloadError, match="more than the expected"):
        MNIST(tmp_path / "root", train=False)


# ---- the real files -----------------------------------------------------------------
def real_root():
    """$MINIDL_DATA, else the shared datasets folder next to the checkout, if it holds MNIST."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    root = Path(os.environ.get("MINIDL_DATA") or shared)
    if not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST files not found under {root}/mnist; set MINIDL_DATA")
    return root


@pytest.fixture(scope="module")
def real_train():
    return MNIST(real_root(), train=True, download=False)


def test_real_mnist_train(real_train):
    ds = real_train
    assert ds.images.shape == (60000, 1, 28, 28) and ds.targets.shape == (60000,)
    np.testing.assert_array_equal(ds.targets[:5], [5, 0, 4, 1, 9])
    np.testing.assert_array_equal(
        np.bincount(ds.targets), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )
    n = ds.data.size  # pixel statistics from exact integer sums: fast and precise
    mean = int(ds.data.sum(dtype=np.uint64)) / n
    std = np.sqrt(int(np.square(ds.data, dtype=np.uint16).sum(dtype=np.uint64)) / n - mean**2)
    mean, std = mean / 255, std / 255
    assert abs(mean - 0.130660) < 1e-6 and abs(std - 0.308108) < 1e-6
    np.testing.assert_array_equal(ds.images[-100:, 0], ds.data[-100:] / np.float32(255))


def test_real_mnist_test_split():
    ds = MNIST(real_root(), train=False, download=False)
    np.testing.assert_array_equal(
        np.bincount(ds.targets), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    assert abs(ds.data.mean(dtype=np.float64) - 33.7912) < 1e-3


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_debian_fashion_mnist_passes_verification(tmp_path):
    ds = FashionMNIST(tmp_path, train=False, download=False)  # found in the Debian folder
    assert ds.images.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(ds.targets), [1000] * 10)
    assert ds.classes[9] == "Ankle boot"
