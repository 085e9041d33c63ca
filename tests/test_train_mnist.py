"""End to end: examples/train_mnist.py on slices of the real MNIST files.

The files come from $MINIDL_DATA (CI points it at the shared copy); without them these
tests are skipped, and say so.
"""
import os
import signal
from pathlib import Path

import numpy as np
import pytest

import minidl

DATA = os.environ.get("MINIDL_DATA")
MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
pytestmark = pytest.mark.skipif(
    not DATA or not all((Path(DATA) / "mnist" / f).is_file() for f in MNIST_FILES),
    reason="real MNIST not found: set MINIDL_DATA to a folder holding mnist/*.gz")


@pytest.fixture
def example(load_example):
    return load_example("train_mnist")


QUICK = ["--data-dir", str(DATA), "--no-progress", "--train-limit", "3000",
         "--test-limit", "500", "--hidden", "64", "--batch-size", "100", "--seed", "3",
         "--dropout", "0.1"]


def test_one_short_epoch_reaches_90_percent_on_held_out_images(example, capsys):
    history = example.main(["--data-dir", str(DATA), "--no-progress", "--epochs", "1",
                                   "--train-limit", "20000", "--test-limit", "2000",
                                   "--batch-size", "64"])
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


def test_ctrl_c_mid_epoch_saves_and_resume_equals_uninterrupted_run(example, tmp_path,
                                                                      monkeypatch, capsys):
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
    example.main(QUICK + ["--epochs", "2", "--save", str(interrupted), "--resume",
                          str(interrupted)])
    assert_same_run(final_state(straight), final_state(interrupted))
