"""Train a small convolutional network on MNIST or Fashion-MNIST with minidl.

    python examples/train_cnn.py                            # MNIST: >= 99.2% test accuracy
    python examples/train_cnn.py --dataset fashion-mnist    # Fashion-MNIST: >= 91%
    python examples/train_cnn.py --backend cupy             # the same run on a GPU
    python examples/train_cnn.py --save ckpt.npz            # Ctrl-C saves; --resume goes on

The model: two blocks of 3x3 convolution (padding 1) -> batch norm -> ReLU -> 2x2 max
pooling (28x28 -> 14x14 -> 7x7), then dropout -> Linear -> ReLU -> dropout -> Linear to
10 classes; Adam with a cosine learning-rate schedule.

The training loop (flags, data, progress bars, checkpoints with exact resume, Ctrl-C,
the stop on NaN) is examples/training.py, shared with train_mnist.py; this file is the
model.
"""

import training

from minidl import nn


def build_model(args):
    """[Conv 3x3 -> BatchNorm -> ReLU -> MaxPool 2] per --channels, then the classifier."""
    layers, width = [], 1
    for channels in args.channels:
        layers += [
            nn.Conv2d(width, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        width = channels
    side = 28 >> len(args.channels)  # each pooling halves the side (rounding down)
    layers += [
        nn.Flatten(),
        nn.Dropout(args.dropout),
        nn.Linear(width * side * side, args.hidden),
        nn.ReLU(),
        nn.Dropout(args.dropout),
        nn.Linear(args.hidden, 10),
    ]
    return nn.Sequential(*layers)


def main(argv=None):
    parser = training.argument_parser(__doc__)
    parser.add_argument(
        "--channels",
        type=training.positive_int,
        nargs="+",
        default=[32, 64],
        help="output channels of each convolution block",
    )
    parser.add_argument(
        "--hidden", type=training.positive_int, default=128, help="width of the hidden linear layer"
    )
    parser.add_argument(
        "--dropout",
        type=training.probability,
        default=0.25,
        help="dropout before each linear layer",
    )
    parser.set_defaults(epochs=8)
    args = training.parse_args(parser, argv)
    if 28 >> len(args.channels) == 0:
        training.fail(
            args,
            f"--channels: {len(args.channels)} blocks pool 28x28 images to nothing; use at most 4",
            2,
        )
    return training.run(args, build_model, model_flags=["channels", "hidden", "dropout"])


if __name__ == "__main__":
    main()
