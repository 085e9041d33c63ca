"""MNIST and Fashion-MNIST from the standard gzip IDX files, verified, downloaded if missing.

Where the files are looked for (first hit wins, per file):
    1. ``<root>/<folder>/`` where root is the ``root`` argument, else ``$MINIDL_DATA``,
       else the project's ``datasets/`` folder in a source checkout, else
       ``~/.cache/minidl/datasets``; folder is ``mnist`` or ``fashion-mnist``;
    2. FashionMNIST only: Debian's ``dataset-fashion-mnist`` package,
       /usr/share/datasets/fashion-mnist.
Missing files are downloaded into 1 when ``download=True``. Files in use are checked
against pinned SHA-256 sums (``verify=True``) before they are parsed; downloads always are.
"""

import hashlib
import http.client
import os
import urllib.request
from collections import namedtuple
from pathlib import Path

import numpy as np

from ..atomic_write import atomic_write
from .dataset import Dataset
from .idx import IDXError, parse_idx

__all__ = ["MNIST", "FashionMNIST", "data_root", "ChecksumError", "DownloadError"]

PinnedFile = namedtuple("PinnedFile", "size md5 sha256")


class ChecksumError(RuntimeError):
    """A dataset file's size or checksum is not the pinned one: corrupt, truncated or other."""


class DownloadError(RuntimeError):
    """No mirror delivered a dataset file that matches its pinned checksums.

    ``name`` is the file, ``folder`` where it was to go, ``failures`` a list of
    (url, reason) pairs, one per mirror tried."""

    def __init__(self, message, name=None, folder=None, failures=()):
        super().__init__(message)
        self.name, self.folder, self.failures = name, folder, list(failures)


def data_root(root=None):
    """The folder holding one subfolder per dataset (see the module docstring for the order)."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("MINIDL_DATA"):
        return Path(os.environ["MINIDL_DATA"]).expanduser()
    project = Path(__file__).resolve().parents[2]
    if (project / "setup.cfg").is_file() or (project / "pyproject.toml").is_file():
        return project / "datasets"  # a source checkout or editable install
    return Path.home() / ".cache" / "minidl" / "datasets"


def urlopen(url, timeout=60):
    """Open ``url`` for reading (http, https, file); a module attribute so tests can replace it."""
    return urllib.request.urlopen(url, timeout=timeout)


def _fetch(url, target, pinned):
    """Stream ``url`` into a temporary file next to ``target``, check it, rename it into place."""
    from tqdm.auto import tqdm

    def download(part):
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        with (
            open(part, "wb") as out,
            urlopen(url) as response,
            tqdm(
                total=pinned.size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=target.name,
                disable=None,
                leave=False,
            ) as bar,
        ):
            size = 0
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > pinned.size:
                    raise ChecksumError(f"more than the expected {pinned.size} bytes")
                sha256.update(chunk)
                md5.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        got = PinnedFile(size, md5.hexdigest(), sha256.hexdigest())
        if got != pinned:
            raise ChecksumError(
                f"got {size} bytes with SHA-256 {got.sha256} (MD5 {got.md5}), "
                f"expected {pinned.size} bytes with SHA-256 {pinned.sha256} "
                f"(MD5 {pinned.md5})"
            )

    atomic_write(target, download)


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training or 10,000 test 28x28 images, labels 0-9.

    root: folder holding ``mnist/`` (default: ``$MINIDL_DATA``, else the project's
        ``datasets/``; see :func:`data_root`). train: the training or the test split.
    download: fetch missing files from ``mirrors`` (never touches the network when the
        files are present). verify: check present files against the pinned SHA-256
        (downloads are always checked); False accepts any well-formed IDX files.
    transform: called on the image array, of shape (1, 28, 28) in ``ds[i]`` but
        (B, 1, 28, 28) for the batches the DataLoader takes, so it must accept a leading
        batch axis (e.g. ``lambda x: x.reshape(*x.shape[:-3], 784)``).
    normalize: images become (x - mean) / std with the training set's ``mean``/``std``
        instead of x in [0, 1].

    Attributes: ``data`` uint8 (N, 28, 28) and ``targets`` int64 (N,) as in torchvision;
    ``images`` float32 (N, 1, 28, 28), converted once. ``ds[i]`` is (image, int label).
    """

    folder = "mnist"
    mirrors = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )
    resources = {
        "train-images-idx3-ubyte.gz": PinnedFile(
            9912422,
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        "train-labels-idx1-ubyte.gz": PinnedFile(
            28881,
            "d53e105ee54ea40749a09fcbcd1e9432",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        "t10k-images-idx3-ubyte.gz": PinnedFile(
            1648877,
            "9fb629c4189551a2d022fa330f9573f3",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        "t10k-labels-idx1-ubyte.gz": PinnedFile(
            4542,
            "ec29112dd5afa0611ce80d1b7f02629c",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    }
    repackaged_sha256 = {}  # file name -> SHA-256 of a known repackaging of the same data
    system_dirs = ()  # read-only folders searched after <root>/<folder>
    classes = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ]
    mean, std = 0.1307, 0.3081  # of the training images on the [0, 1] scale

    def __init__(
        self, root=None, train=True, download=True, transform=None, *, normalize=False, verify=True
    ):
        self.root = data_root(root)
        self.train = bool(train)
        self.transform = transform
        split = "train" if self.train else "t10k"
        images_path, images = self._read(f"{split}-images-idx3-ubyte.gz", download, verify)
        labels_path, labels = self._read(f"{split}-labels-idx1-ubyte.gz", download, verify)
        self._check(images_path, images, labels_path, labels)
        self.data, self.targets = images, labels.astype(np.int64)
        self.images = images.astype(np.float32).reshape(len(images), 1, 28, 28)
        np.divide(self.images, 255, out=self.images)
        if normalize:
            self.images -= np.float32(self.mean)
            self.images /= np.float32(self.std)

    def __getitem__(self, index):
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])

    def __getitems__(self, indices):
        images = self.images[indices]
        if self.transform is not None:
            images = self.transform(images)
        return images, self.targets[indices]

    def __len__(self):
        return len(self.targets)

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split!r}, samples={len(self)}, root='{self.root}')"

    # ---- files ----------------------------------------------------------------------
    def _read(self, name, download, verify):
        """Find (or download) one file, verify it, parse it; returns (path, array)."""
        path = self._find(name, download)
        content = path.read_bytes()
        if verify:
            self._verify(path, content)
        return path, parse_idx(content, path)

    def _check(self, images_path, images, labels_path, labels):
        """The arrays must have MNIST's layout: uint8 (N, 28, 28) images, N labels in range."""
        if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
            raise IDXError(
                f"{images_path}: expected uint8 images of shape (N, 28, 28), got "
                f"{images.dtype} {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise IDXError(
                f"{labels_path}: expected uint8 labels of shape (N,), got "
                f"{labels.dtype} {labels.shape}"
            )
        if len(labels) != len(images):
            raise IDXError(
                f"{labels_path} holds {len(labels)} labels but {images_path} holds "
                f"{len(images)} images"
            )
        if labels.size and labels.max() >= len(self.classes):
            raise IDXError(
                f"{labels_path}: label {labels.max()} is out of range 0..{len(self.classes) - 1}"
            )

    def _find(self, name, download):
        folders = [self.root / self.folder, *map(Path, self.system_dirs)]
        for folder in folders:
            if (folder / name).is_file():
                return folder / name
        if not download:
            raise FileNotFoundError(
                f"{type(self).__name__}: {name} not found in "
                f"{', '.join(map(str, folders))}. Pass download=True, or " + self._by_hand()
            )
        return self._download(name)

    def _verify(self, path, content):
        pinned = self.resources[path.name]
        digest = hashlib.sha256(content).hexdigest()
        if digest not in (pinned.sha256, self.repackaged_sha256.get(path.name)):
            raise ChecksumError(
                f"{path}: SHA-256 {digest} ({len(content)} bytes) is not the expected "
                f"{pinned.sha256} ({pinned.size} bytes): the file is corrupt, truncated or a "
                f"different file. Delete it to download it again, or pass verify=False to "
                f"use it anyway."
            )

    def _download(self, name):
        folder = self.root / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        failures = []
        for mirror in self.mirrors:
            url = mirror + name
            try:
                _fetch(url, folder / name, self.resources[name])
                return folder / name
            except (OSError, ValueError, ChecksumError, http.client.HTTPException) as exc:
                failures.append((url, str(exc)))
        raise DownloadError(
            f"Could not download {name} for {type(self).__name__}. Mirrors "
            "tried:\n"
            + "\n".join(f"  {url}: {why}" for url, why in failures)
            + "\nTo install by hand, "
            + self._by_hand(),
            name=name,
            folder=folder,
            failures=failures,
        )

    def _by_hand(self):
        files = ", ".join(f"{name} (SHA-256 {p.sha256})" for name, p in self.resources.items())
        return (
            f"place the files {files} in {self.root / self.folder} (or in a "
            f"'{self.folder}' folder under $MINIDL_DATA, or pass root=)."
        )


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the same interface and file layout as :class:`MNIST`.

    Also found in Debian's ``dataset-fashion-mnist`` install (/usr/share/datasets/
    fashion-mnist), whose .gz files hold the same data with the gzip header's file name
    and time stripped, hence their own SHA-256 sums in ``repackaged_sha256``.
    """

    folder = "fashion-mnist"
    mirrors = (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    )
    resources = {
        "train-images-idx3-ubyte.gz": PinnedFile(
            26421880,
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        "train-labels-idx1-ubyte.gz": PinnedFile(
            29515,
            "25c81989df183df01b3e8a0aad5dffbe",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        "t10k-images-idx3-ubyte.gz": PinnedFile(
            4422102,
            "bef4ecab320f06d8554ea6380940ec79",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        "t10k-labels-idx1-ubyte.gz": PinnedFile(
            5148,
            "bb300cfdad3c16e7a12a480ee83cd310",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    }
    repackaged_sha256 = {  # Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1
        "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",  # noqa: E501
        "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",  # noqa: E501
        "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",  # noqa: E501
        "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",  # noqa: E501
    }
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
    mean, std = 0.2860, 0.3530
