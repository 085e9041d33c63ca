"""examples/optimizer_paths.py draws the seed's three pictures with minidl's optimizers."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def example(load_example):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    return load_example("optimizer_paths")


def test_writes_three_pngs_that_decode(example, tmp_path, capsys):
    import matplotlib.image

    reached = example.main(["--out", str(tmp_path), "--steps", "30"])
    for name in ("gd_learning_rates.png", "momentum_vs_sgd.png", "rmsprop_adam.png"):
        image = matplotlib.image.imread(tmp_path / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
        assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    out = capsys.readouterr().out
    assert "steps to reach f < 0.001" in out
    assert all(label in out for label in reached)


def test_the_seeds_claims_hold_on_the_drawn_settings(example):
    steps = {
        label: example.steps_to_target(example.path(make, 1000))
        for _, optimizers in example.FIGURES.values()
        for label, make in optimizers.items()
    }
    assert steps["Momentum lr=0.99, beta=0.9"] < steps["SGD lr=0.99"]
    assert steps["SGD lr=0.05 (too small)"] > steps["SGD lr=0.9"]
    assert steps["SGD lr=0.99 (too large)"] > steps["SGD lr=0.9"]
    for adaptive in ("RMSprop lr=0.3, alpha=0.99", "Adam lr=1, betas=(0.8, 0.999)"):
        assert steps[adaptive] < steps["SGD lr=0.9"]


def test_paths_start_at_the_start_and_follow_the_gradient(example):
    from minidl import optim

    points = example.path(lambda p: optim.SGD(p, lr=0.1), 3)
    np.testing.assert_allclose(points[0], example.START)
    x, y = example.START
    np.testing.assert_allclose(points[1], [x - 0.1 * x / 10, y - 0.1 * 2 * y], rtol=1e-14)
