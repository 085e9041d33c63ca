"""examples/newton.py: Newton's method on Hessians from double backward."""

import numpy as np
import pytest

import minidl


@pytest.fixture(scope="module")
def example(load_example):
    return load_example("newton")


def test_hessians_match_the_hand_formulas(example):
    w = minidl.tensor([0.3, -0.4], dtype="float64", requires_grad=True)
    g, h = example.gradient_and_hessian(example.bowl, w)
    np.testing.assert_allclose(g, [0.3 / 10, -0.8], rtol=1e-14)
    np.testing.assert_allclose(h, [[1 / 10, 0], [0, 2]], rtol=1e-14)
    x, y = 0.3, -0.4
    g, h = example.gradient_and_hessian(example.rosenbrock, w)
    np.testing.assert_allclose(
        g, [-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], rtol=1e-13
    )
    np.testing.assert_allclose(
        h, [[1200 * x * x - 400 * y + 2, -400 * x], [-400 * x, 200]], rtol=1e-13
    )


def test_one_newton_step_solves_the_bowl_and_a_few_solve_rosenbrock(example):
    bowl = example.newton_path(example.bowl, (-7.0, 2.0))
    assert len(bowl) == 2
    np.testing.assert_allclose(bowl[-1], [0, 0], atol=1e-15)
    rosen = example.newton_path(example.rosenbrock, (-1.5, 2.0))
    assert len(rosen) - 1 < 15
    np.testing.assert_allclose(rosen[-1], [1, 1], atol=1e-5)


def test_main_prints_both_methods_and_draws_the_png(example, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    import matplotlib.image

    paths = example.main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("Newton") == 2 and out.count("Adam") == 2
    assert len(paths["Rosenbrock"]["Adam"]) > 100 * len(paths["Rosenbrock"]["Newton"])
    image = matplotlib.image.imread(tmp_path / "newton_paths.png")
    assert image.ndim == 3 and image[..., :3].std() > 0.05
