"""The seed's pictures, computed by minidl's own optimizers.

    python examples/optimizer_paths.py --out figures/

On the oblong bowl f(x, y) = x^2/20 + y^2 (twenty times steeper in y than in x), starting
at (-7, 2), it draws the path of each optimizer over the contour lines and saves:

    gd_learning_rates.png   plain gradient descent with a too-large and a too-small lr
    momentum_vs_sgd.png     Momentum against plain SGD at the same lr
    rmsprop_adam.png        RMSprop and Adam against plain SGD

and prints, per optimizer, the number of steps to reach f < 1e-3. Needs matplotlib
(``pip install -e ".[plot]"``).
"""

import argparse
from pathlib import Path

import numpy as np

import minidl
from minidl import nn, optim

START = (-7.0, 2.0)
TARGET = 1e-3


def bowl(w):
    """f(x, y) = x^2 / 20 + y^2 on a tensor w = (x, y)."""
    return w[0] ** 2 / 20 + w[1] ** 2


def path(make_optimizer, steps):
    """Positions visited by an optimizer from START, on minidl tensors (float64)."""
    w = nn.Parameter(minidl.tensor(START, dtype="float64"))
    opt = make_optimizer([w])
    points = [w.numpy()]
    for _ in range(steps):
        opt.zero_grad()
        bowl(w).backward()
        opt.step()
        points.append(w.numpy())
    return np.array(points)


def steps_to_target(points):
    """First step at which f < TARGET, or None."""
    values = points[:, 0] ** 2 / 20 + points[:, 1] ** 2
    below = np.nonzero(values < TARGET)[0]
    return int(below[0]) if below.size else None


FIGURES = {
    "gd_learning_rates.png": (
        "Gradient descent: too large and too small a learning rate",
        {
            "SGD lr=0.99 (too large)": lambda p: optim.SGD(p, lr=0.99),
            "SGD lr=0.05 (too small)": lambda p: optim.SGD(p, lr=0.05),
        },
    ),
    # At lr=0.99 plain SGD flips y from side to side, shrinking it by only 0.98 a step;
    # Momentum's average of successive gradients cancels those flips.
    "momentum_vs_sgd.png": (
        "Momentum against plain SGD at the same learning rate",
        {
            "SGD lr=0.99": lambda p: optim.SGD(p, lr=0.99),
            "Momentum lr=0.99, beta=0.9": lambda p: optim.Momentum(p, lr=0.99, beta=0.9),
        },
    ),
    # lr=0.9 is about the best plain SGD can do here: at lr=1 the y direction stops
    # converging, and x still shrinks by only (1 - lr/10) per step.
    "rmsprop_adam.png": (
        "RMSprop and Adam against plain SGD",
        {
            "SGD lr=0.9": lambda p: optim.SGD(p, lr=0.9),
            "RMSprop lr=0.3, alpha=0.99": lambda p: optim.RMSprop(p, lr=0.3, alpha=0.99),
            "Adam lr=1, betas=(0.8, 0.999)": lambda p: optim.Adam(p, lr=1.0, betas=(0.8, 0.999)),
        },
    ),
}


def draw(title, paths, filename):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys = np.meshgrid(np.linspace(-8, 8, 400), np.linspace(-3, 3, 300))
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    ax.contour(
        xs, ys, xs**2 / 20 + ys**2, levels=np.geomspace(0.01, 12, 14), colors="0.75", linewidths=0.7
    )
    for label, points in paths.items():
        ax.plot(points[:, 0], points[:, 1], "o-", ms=2.5, lw=1.2, label=label)
    ax.plot(0, 0, "k*", ms=10)
    ax.set(title=title, xlabel="x", ylabel="y", xlim=(-8, 8), ylim=(-3, 3))
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(filename)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="figures", help="folder for the PNG files")
    p.add_argument("--steps", type=int, default=60, help="steps drawn per optimizer")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    reached = {}
    for filename, (title, optimizers) in FIGURES.items():
        paths = {label: path(make, args.steps) for label, make in optimizers.items()}
        draw(title, paths, out / filename)
        for label, make in optimizers.items():
            reached[label] = steps_to_target(path(make, 1000))
        print(f"wrote {out / filename}")
    print(f"\nsteps to reach f < {TARGET:g} from {START} (at most 1000):")
    for label, steps in reached.items():
        print(f"  {label:28s} {steps if steps is not None else 'not within 1000'}")
    return reached


if __name__ == "__main__":
    main()
