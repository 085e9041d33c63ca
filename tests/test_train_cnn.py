"""End to end: examples/train_cnn.py on slices of the real MNIST and Fashion-MNIST files.

The training loop itself (flags, checkpoints, Ctrl-C, divergence) is tested through
train_mnist.py; these tests cover what the CNN adds: its model and flags, learning on
both datasets, and an exact resume with batch norm's running statistics in the checkpoint.
Without the files in $MINIDL_DATA they are skipped, and say so.
"""

import os
from pathlib import Path

import numpy as np
import pytest

import minidl

DATA = os.environ.get("MINIDL_DATA")
pytestmark = pytest.mark.skipif(
    not DATA or not (Path(DATA) / "mnist" / "train-images-idx3-ubyte.gz").is_file(),
    reason="real MNIST not found: set MINIDL_DATA to a folder holding mnist/*.gz",
)

TINY = [
    "--data-dir",
    str(DATA),
    "--no-progress",
    "--train-limit",
    "1024",
    "--test-limit",
    "500",
    "--channels",
    "4",
    "8",
    "--hidden",
    "32",
    "--batch-size",
    "32",
    "--seed",
    "2",
    "--lr",
    "0.003",
    "--dropout",
    "0",
]


@pytest.fixture
def example(load_example):
    return load_example("train_cnn")


def test_a_short_run_learns_and_prints_the_model(example, capsys):
    history = example.main(TINY + ["--epochs", "1"])
    assert history[-1]["test_acc"] > 0.6  # chance is 0.1
    out = capsys.readouterr().out
    assert "Conv2d(1, 4, kernel_size=(3, 3)" in out and "BatchNorm2d(8" in out
    assert "epoch 1: train loss" in out and "best test accuracy" in out


@pytest.mark.skipif(
    not DATA or not (Path(DATA) / "fashion-mnist").is_dir(),
    reason="Fashion-MNIST not found in $MINIDL_DATA",
)
def test_fashion_mnist_runs(example):
    history = example.main(TINY + ["--epochs", "1", "--dataset", "fashion-mnist"])
    assert history[-1]["test_acc"] > 0.5


def test_resume_equals_the_uninterrupted_run_with_batch_norm_state(example, tmp_path):
    quick = TINY + [
        "--schedule",
        "constant",
        "--train-limit",
        "128",
        "--test-limit",
        "100",
        "--dropout",
        "0.2",
    ]
    straight, split = tmp_path / "straight.npz", tmp_path / "split.npz"
    example.main(quick + ["--epochs", "2", "--save", str(straight)])
    example.main(quick + ["--epochs", "1", "--save", str(split)])
    example.main(quick + ["--epochs", "2", "--save", str(split), "--resume", str(split)])
    a, b = minidl.load(straight), minidl.load(split)
    assert "1.running_var" in a["model"] and int(a["model"]["1.num_batches_tracked"]) == 8
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key], err_msg=key)
    assert a["history"] == b["history"]


def test_too_many_blocks_is_a_one_line_error(example, capsys):
    with pytest.raises(SystemExit) as exit_info:
        example.main(TINY + ["--channels", "2", "2", "2", "2", "2"])
    assert exit_info.value.code == 2
    assert "--channels: 5 blocks pool 28x28 images to nothing" in capsys.readouterr().err
