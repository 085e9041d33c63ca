"""Newton's method with Hessians from double backward, next to Adam's path.

    python examples/newton.py --out figures/

Newton's step solves the local quadratic model of f exactly:

    w <- w - H(w)^-1 grad f(w)

minidl computes grad f with ``create_graph=True``, so the gradient is itself a function
of w on the graph, and each row of the Hessian H is the gradient of one component of
grad f (a second backward). On the seed's oblong bowl f(x, y) = x^2/20 + y^2, a
quadratic, the model is exact and one step lands on the minimum; on the Rosenbrock
function (1 - x)^2 + 100 (y - x^2)^2 Newton follows the curved valley in a few steps
where Adam needs thousands. Prints the steps each method needs to reach f < 1e-8 and,
with matplotlib (``pip install -e ".[plot]"``), saves newton_paths.png.
"""

import argparse
from pathlib import Path

import numpy as np

import minidl
from minidl import nn, optim
from minidl.autograd import grad

TARGET = 1e-8


def bowl(w):
    """The seed's oblong bowl: f(x, y) = x^2 / 20 + y^2, minimum 0 at (0, 0)."""
    return w[0] ** 2 / 20 + w[1] ** 2


def rosenbrock(w):
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1)."""
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def gradient_and_hessian(f, w):
    """grad f(w) and the Hessian of f at w, both as NumPy arrays (float64)."""
    (g,) = grad(f(w), w, create_graph=True)
    rows = [grad(g[i], w, retain_graph=True)[0].numpy() for i in range(w.shape[0])]
    return g.numpy(), np.stack(rows)


def newton_path(f, start, steps=50):
    w = minidl.tensor(start, dtype="float64", requires_grad=True)
    points = [w.numpy()]
    for _ in range(steps):
        if f(w).item() < TARGET:
            break
        g, h = gradient_and_hessian(f, w)
        w = minidl.tensor(w.numpy() - np.linalg.solve(h, g), requires_grad=True)
        points.append(w.numpy())
    return np.array(points)


def adam_path(f, start, lr, steps=20000):
    w = nn.Parameter(minidl.tensor(start, dtype="float64"))
    opt = optim.Adam([w], lr=lr)
    points = [w.numpy()]
    for _ in range(steps):
        opt.zero_grad()
        loss = f(w)
        if loss.item() < TARGET:
            break
        loss.backward()
        opt.step()
        points.append(w.numpy())
    return np.array(points)


PROBLEMS = {
    "oblong bowl x^2/20 + y^2": (bowl, (-7.0, 2.0), 0.3),
    "Rosenbrock": (rosenbrock, (-1.5, 2.0), 0.02),
}


def run():
    """{problem: {method: path}} for every problem."""
    return {
        name: {"Newton": newton_path(f, start), "Adam": adam_path(f, start, lr)}
        for name, (f, start, lr) in PROBLEMS.items()
    }


def report(paths):
    for name, by_method in paths.items():
        f = PROBLEMS[name][0]
        for method, points in by_method.items():
            value = f(minidl.tensor(points[-1])).item()
            print(f"{name:26s} {method:7s} {len(points) - 1:6d} steps to f = {value:.2e}")


def plot(paths, out):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(paths), figsize=(12, 5))
    for ax, (name, by_method) in zip(axes, paths.items()):
        f = PROBLEMS[name][0]
        every = np.concatenate(list(by_method.values()))
        lo, hi = every.min(0) - 0.5, every.max(0) + 0.5
        xs, ys = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
        zs = f(minidl.tensor(np.stack([xs, ys]))).numpy()
        ax.contour(xs, ys, np.log1p(zs), levels=25, cmap="Greys", linewidths=0.6)
        for method, points in by_method.items():
            ax.plot(
                points[:, 0],
                points[:, 1],
                ".-" if method == "Newton" else "-",
                label=f"{method} ({len(points) - 1} steps)",
            )
        ax.set_title(name)
        ax.legend()
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "newton_paths.png", dpi=90)
    plt.close(fig)
    return out / "newton_paths.png"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for newton_paths.png")
    args = parser.parse_args(argv)
    paths = run()
    report(paths)
    if args.out is not None:
        print("wrote", plot(paths, args.out))
    return paths


if __name__ == "__main__":
    main()
