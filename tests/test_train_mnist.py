"""End to end: examples/train_mnist.py on slices of the real MNIST files.

The files come from $MINIDL_DATA (CI points it at the shared copy); without them these
tests are skipped, and say so.
"""

import os
import signal
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import minidl

DATA = os.environ.get("MINIDL_DATA")
MNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
pytestmark = pytest.mark.skipif(
    not DATA or not all((Path(DATA) / "mnist" / f).is_file() for f in MNIST_FILES),
    reason="real MNIST not found: set MINIDL_DATA to a folder holding mnist/*.gz",
)


@pytest.fixture(scope="module")
def read_once():
    """{(dataset class, root, train): dataset}: each file is parsed once per module."""
    cache = {}
    yield cache
    cache.clear()


@pytest.fixture
def example(load_example, monkeypatch, read_once):
    module = load_example("train_mnist")
    for name, dataset in list(module.training.DATASETS.items()):

        def cached(root, train, dataset=dataset):
            key = (dataset, str(root), train)
            if key not in read_once:
                read_once[key] = dataset(root, train=train)
            return read_once[key]

        monkeypatch.setitem(module.training.DATASETS, name, cached)
    return module


QUICK = [
    "--data-dir",
    str(DATA),
    "--no-progress",
    "--train-limit",
    "3000",
    "--test-limit",
    "500",
    "--hidden",
    "64",
    "--batch-size",
    "100",
    "--seed",
    "3",
    "--dropout",
    "0.1",
]


def test_one_short_epoch_reaches_90_percent_on_held_out_images(example, capsys):
    history = example.main(
        [
            "--data-dir",
            str(DATA),
            "--no-progress",
            "--epochs",
            "1",
            "--train-limit",
            "20000",
            "--test-limit",
            "2000",
            "--batch-size",
            "64",
        ]
    )
    assert history[-1]["test_acc"] > 0.90
    out = capsys.readouterr().out
    assert "epoch 1: train loss" in out and "best test accuracy" in out


def final_state(path):
    return minidl.load(path)


def assert_same_run(a, b):
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key], err_msg=key)
    assert a["history"] == b["history"]


def test_resume_from_epoch_checkpoint_equals_uninterrupted_run(example, tmp_path):
    # a constant learning rate, so that "1 epoch, then 1 more" is the same run as "2 epochs"
    quick = QUICK + ["--schedule", "constant"]
    straight, split = tmp_path / "straight.npz", tmp_path / "split.npz"
    example.main(quick + ["--epochs", "2", "--save", str(straight)])
    example.main(quick + ["--epochs", "1", "--save", str(split)])
    example.main(quick + ["--epochs", "2", "--save", str(split), "--resume", str(split)])
    assert_same_run(final_state(straight), final_state(split))


def test_ctrl_c_mid_epoch_saves_and_resume_equals_uninterrupted_run(
    example, tmp_path, monkeypatch, capsys
):
    straight, interrupted = tmp_path / "straight.npz", tmp_path / "interrupted.npz"
    example.main(QUICK + ["--epochs", "2", "--save", str(straight)])

    calls = {"n": 0}
    real_step = minidl.optim.Adam.step

    def step_then_ctrl_c(self, *args, **kwargs):
        real_step(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 40:  # in the second epoch (30 batches per epoch)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(minidl.optim.Adam, "step", step_then_ctrl_c)
    example.main(QUICK + ["--epochs", "2", "--save", str(interrupted)])
    assert "batch 10" in capsys.readouterr().out
    state = final_state(interrupted)
    assert (int(state["epoch"]), int(state["batch"])) == (1, 10)
    monkeypatch.setattr(minidl.optim.Adam, "step", real_step)
    example.main(
        QUICK + ["--epochs", "2", "--save", str(interrupted), "--resume", str(interrupted)]
    )
    assert_same_run(final_state(straight), final_state(interrupted))


# ---- failures a user can cause: one line on stderr, a non-zero exit -------------------
TINY = [
    "--data-dir",
    str(DATA),
    "--no-progress",
    "--train-limit",
    "600",
    "--test-limit",
    "100",
    "--hidden",
    "16",
    "--batch-size",
    "100",
    "--seed",
    "1",
]


def run_fails(example, capsys, argv, status):
    with pytest.raises(SystemExit) as exit_info:
        example.main(argv)
    assert exit_info.value.code == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert ": error: " in line
    return line


def test_diverging_run_stops_exits_1_and_keeps_the_last_good_checkpoint(example, tmp_path, capsys):
    ckpt = tmp_path / "ckpt.npz"
    example.main(TINY + ["--epochs", "1", "--optimizer", "sgd", "--save", str(ckpt)])
    good = ckpt.read_bytes()
    line = run_fails(
        example,
        capsys,
        TINY + ["--epochs", "2", "--optimizer", "sgd", "--lr", "1e30", "--save", str(ckpt)],
        1,
    )
    assert "training diverged at epoch 1, step " in line and "loss is " in line
    assert f"{ckpt} is left as it was" in line
    assert ckpt.read_bytes() == good  # never overwritten with NaN weights
    assert "best test accuracy" not in capsys.readouterr().out


def test_checkpoint_refuses_non_finite_weights_at_ctrl_c(example, tmp_path, capsys, monkeypatch):
    # the loss of step n is finite, but step n's update makes a weight NaN and Ctrl-C comes:
    # the save at the stop must not write it
    ckpt = tmp_path / "ckpt.npz"
    example.main(TINY + ["--epochs", "1", "--save", str(ckpt)])
    good = ckpt.read_bytes()
    real_step = minidl.optim.Adam.step

    def poisoned_step(self, *args, **kwargs):
        real_step(self, *args, **kwargs)
        self.param_groups[0]["params"][0].data[0, 0] = np.nan
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(minidl.optim.Adam, "step", poisoned_step)
    line = run_fails(example, capsys, TINY + ["--epochs", "1", "--save", str(ckpt)], 1)
    assert "training diverged at epoch 1, step 1: model.1.weight is nan" in line
    assert ckpt.read_bytes() == good


def test_divergence_in_a_later_epoch_keeps_that_runs_last_epoch_checkpoint(
    example, tmp_path, capsys, monkeypatch
):
    ckpt = tmp_path / "ckpt.npz"
    real_step, steps = minidl.optim.Adam.step, {"n": 0}

    def step_then_poison(self, *args, **kwargs):  # 6 steps per epoch: poison step 2 of epoch 2
        real_step(self, *args, **kwargs)
        steps["n"] += 1
        if steps["n"] == 8:
            self.param_groups[0]["params"][0].data[...] = np.inf

    monkeypatch.setattr(minidl.optim.Adam, "step", step_then_poison)
    line = run_fails(example, capsys, TINY + ["--epochs", "3", "--save", str(ckpt)], 1)
    assert "training diverged at epoch 2, step 3: loss is nan" in line
    assert f"{ckpt} keeps the checkpoint of the end of epoch 1" in line
    state = minidl.load(ckpt)
    assert (int(state["epoch"]), int(state["batch"])) == (1, 0)
    assert all(np.isfinite(w).all() for w in state["model"].values())


@pytest.mark.parametrize(
    "flag, value, match",
    [
        ("--epochs", "-3", "argument --epochs: -3 is not a positive integer"),
        ("--epochs", "0", "argument --epochs: 0 is not a positive integer"),
        ("--epochs", "1.5", "argument --epochs: '1.5' is not a positive integer"),
        ("--batch-size", "0", "argument --batch-size: 0 is not a positive integer"),
        ("--lr", "-1", "argument --lr: -1 is not a positive finite number"),
        ("--lr", "0", "argument --lr: 0 is not a positive finite number"),
        ("--lr", "nan", "argument --lr: nan is not a positive finite number"),
        ("--lr", "inf", "argument --lr: inf is not a positive finite number"),
        ("--seed", "-1", "argument --seed: -1 is not a non-negative integer"),
        ("--train-limit", "0", "argument --train-limit: 0 is not a positive integer"),
        ("--test-limit", "-5", "argument --test-limit: -5 is not a positive integer"),
        ("--dropout", "1", "argument --dropout: 1 is not a probability in [0, 1)"),
        ("--dropout", "-0.1", "argument --dropout: -0.1 is not a probability"),
        ("--hidden", "0", "argument --hidden: 0 is not a positive integer"),
        ("--dataset", "cifar", "argument --dataset: invalid choice: 'cifar'"),
    ],
)
def test_bad_numbers_exit_2_with_one_line(example, capsys, flag, value, match):
    line = run_fails(example, capsys, [flag, value], 2)
    assert match in line


def test_unusable_save_path_or_backend_fails_before_training(example, tmp_path, capsys):
    missing = tmp_path / "missing" / "ckpt.npz"
    line = run_fails(example, capsys, TINY + ["--save", str(missing)], 2)
    assert f"--save {missing}: the folder {missing.parent} does not exist" in line
    line = run_fails(example, capsys, TINY + ["--save", str(tmp_path)], 2)
    assert "is a folder" in line
    assert "epoch 1" not in capsys.readouterr().out
    try:
        import cupy  # noqa: F401
    except ImportError:
        line = run_fails(example, capsys, TINY + ["--backend", "cupy"], 2)
        assert "--backend cupy: CuPy is not installed" in line


def test_resume_of_a_model_only_file_is_one_clear_line(example, tmp_path, capsys):
    weights = tmp_path / "weights.npz"
    minidl.save(
        example.build_model(SimpleNamespace(hidden=[16], dropout=0.1)).state_dict(), weights
    )
    line = run_fails(example, capsys, TINY + ["--resume", str(weights)], 2)
    assert f"--resume {weights}: the file holds a model's weights (a state_dict)" in line


def test_resume_of_a_missing_or_foreign_file_is_one_clear_line(example, tmp_path, capsys):
    missing = tmp_path / "missing.npz"
    assert run_fails(example, capsys, TINY + ["--resume", str(missing)], 2).endswith(
        f"--resume {missing}: no such file"
    )
    assert run_fails(example, capsys, TINY + ["--resume", str(tmp_path)], 2).endswith(
        "is a folder, not a checkpoint file"
    )
    other = tmp_path / "other.npz"
    minidl.save({"epoch": 3}, other)
    assert "not a training checkpoint" in run_fails(
        example, capsys, TINY + ["--resume", str(other)], 2
    )
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 definitely not a zip")
    assert "garbage.npz" in run_fails(example, capsys, TINY + ["--resume", str(garbage)], 1)


@pytest.fixture(scope="module")
def finished_run(load_example, tmp_path_factory):
    """A checkpoint of TINY after 1 of 1 epochs, Adam, cosine (written once, read only)."""
    ckpt = tmp_path_factory.mktemp("finished") / "run.npz"
    load_example("train_mnist").main(TINY + ["--epochs", "1", "--save", str(ckpt)])
    return ckpt


@pytest.fixture
def one_epoch_checkpoint(finished_run, tmp_path):
    """A fresh copy of ``finished_run`` for one test."""
    ckpt = tmp_path / "run.npz"
    ckpt.write_bytes(finished_run.read_bytes())
    return ckpt


@pytest.mark.parametrize(
    "flags, differences",
    [
        (
            ["--optimizer", "sgd"],
            ["--optimizer is adam there, sgd here", "--lr is 0.001 there, 0.1 here"],
        ),
        (["--schedule", "constant"], ["--schedule is cosine there, constant here"]),
        (["--lr", "0.01"], ["--lr is 0.001 there, 0.01 here"]),
        (["--batch-size", "50"], ["--batch-size is 100 there, 50 here"]),
        (["--hidden", "32"], ["--hidden is 16 there, 32 here"]),
        (["--dropout", "0"], ["--dropout is 0.2 there, 0.0 here"]),
        (["--dataset", "fashion-mnist"], ["--dataset is mnist there, fashion-mnist here"]),
    ],
)
def test_resume_of_a_different_run_says_what_differs(
    example, one_epoch_checkpoint, capsys, flags, differences
):
    line = run_fails(
        example, capsys, TINY + ["--epochs", "2", "--resume", str(one_epoch_checkpoint)] + flags, 2
    )
    assert "the checkpoint comes from a different run: " in line
    for difference in differences:
        assert difference in line


def test_resume_of_an_older_checkpoint_without_flags_still_checks_the_schedule(
    example, one_epoch_checkpoint, capsys
):
    state = minidl.load(one_epoch_checkpoint)
    del state["run"]  # as written before checkpoints recorded their flags
    minidl.save(state, one_epoch_checkpoint)
    line = run_fails(
        example,
        capsys,
        TINY + ["--epochs", "2", "--schedule", "constant", "--resume", str(one_epoch_checkpoint)],
        2,
    )
    assert "--schedule is cosine there, constant here" in line  # was: 'NoneType' not iterable
    line = run_fails(
        example,
        capsys,
        TINY
        + [
            "--epochs",
            "2",
            "--optimizer",
            "momentum",
            "--lr",
            "0.001",
            "--resume",
            str(one_epoch_checkpoint),
        ],
        2,
    )
    assert "--optimizer is another optimizer there, momentum here" in line


def test_resume_with_more_epochs_goes_on_along_the_longer_cosine(
    example, one_epoch_checkpoint, monkeypatch, capsys
):
    # the finished 1-epoch run ends at lr 0; its 2-epoch continuation must not train at 0
    # but at the rate a 2-epoch run has in epoch 2: 1e-3 * (1 + cos(pi / 2)) / 2
    rates = []
    real_step = minidl.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(minidl.optim.Adam, "step", recording_step)
    history = example.main(TINY + ["--epochs", "2", "--resume", str(one_epoch_checkpoint)])
    assert [h["epoch"] for h in history] == [1, 2]
    assert rates == [pytest.approx(0.5e-3, rel=1e-12)] * 6
    assert "cosine schedule re-planned from 1 to 2 epochs" in capsys.readouterr().out


def test_resume_at_or_past_the_last_epoch_trains_nothing(example, one_epoch_checkpoint, capsys):
    before = one_epoch_checkpoint.read_bytes()
    history = example.main(
        TINY
        + [
            "--epochs",
            "1",
            "--resume",
            str(one_epoch_checkpoint),
            "--save",
            str(one_epoch_checkpoint),
        ]
    )
    assert len(history) == 1 and "nothing to train" in capsys.readouterr().out
    assert one_epoch_checkpoint.read_bytes() == before


def test_failed_download_is_one_line_and_exit_1(example, tmp_path, capsys, monkeypatch):
    from minidl.data import mnist as mnist_module

    def offline(url, timeout=60):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(mnist_module, "urlopen", offline)
    line = run_fails(example, capsys, ["--data-dir", str(tmp_path), "--no-progress"], 1)
    assert "could not download train-images-idx3-ubyte.gz into" in line
    assert "network disabled in tests" in line and "--data-dir" in line


@pytest.mark.skipif(
    not DATA or not (Path(DATA) / "fashion-mnist").is_dir(),
    reason="Fashion-MNIST not found under $MINIDL_DATA",
)
def test_dataset_flag_trains_on_fashion_mnist(example, capsys):
    history = example.main(
        [
            "--data-dir",
            str(DATA),
            "--no-progress",
            "--dataset",
            "fashion-mnist",
            "--epochs",
            "1",
            "--train-limit",
            "3000",
            "--test-limit",
            "500",
            "--hidden",
            "64",
        ]
    )
    assert history[-1]["test_acc"] > 0.65  # 10 clothing classes: chance is 0.1
    assert "fashion-mnist: 3,000 training and 500 test images" in capsys.readouterr().out
