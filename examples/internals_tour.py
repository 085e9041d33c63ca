"""The figures of docs/internals.md: the autograd graph of one MNIST training step.

    python examples/internals_tour.py                 # writes docs/images/internals_graph.{dot,svg}
    python examples/internals_tour.py --out figures/

The model and batch are the tour's: Flatten -> Linear(784, 256) -> ReLU -> Linear(256, 10),
cross-entropy, a batch of 128 images. The graph depends only on the layers and the shapes,
so random pixels stand in for MNIST here and the script needs no data. The .dot file is the
figure's source (the tests check it is up to date); the .svg is drawn from it by Graphviz's
``dot`` when installed, else viz tells how to draw it.
"""

import argparse
from pathlib import Path

import minidl
import minidl.nn.functional as F
from minidl import nn, viz

DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
BATCH = 128


def tour_model():
    """The MNIST MLP of the tour."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def step_loss(model):
    """The loss of one batch, its graph recorded (no backward yet)."""
    images = minidl.rand(BATCH, 1, 28, 28)
    labels = minidl.tensor([i % 10 for i in range(BATCH)])
    return F.cross_entropy(model(images), labels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS_IMAGES, help="folder for the figures")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    minidl.manual_seed(0)
    model = tour_model()
    loss = step_loss(model)
    params = dict(model.named_parameters())
    written = [
        viz.draw(loss, args.out / "internals_graph.dot", params=params),
        viz.draw(loss, args.out / "internals_graph.svg", params=params),
    ]
    for path in dict.fromkeys(written):  # without Graphviz both calls write the .dot
        print(f"wrote {path}")
    return written


if __name__ == "__main__":
    main()
