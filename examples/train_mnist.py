"""Train a multi-layer perceptron on MNIST with minidl.

    python examples/train_mnist.py                      # 784-512-256-10, Adam: >= 98% test accuracy
    python examples/train_mnist.py --optimizer momentum --lr 0.1
    python examples/train_mnist.py --dataset fashion-mnist
    python examples/train_mnist.py --backend cupy    # on a GPU (pip install cupy-cudaXXx)
    python examples/train_mnist.py --save ckpt.npz   # Ctrl-C saves; --resume ckpt.npz goes on
    mpiexec -n 2 python examples/train_mnist.py --distributed   # 2 processes (the mpi extra)

The MNIST files are read from --data-dir, else $MINIDL_DATA, else the project's
datasets/ folder, and downloaded (with checksums) when missing.

The training loop (flags, checkpoints with exact resume, Ctrl-C, the stop on NaN, the
schedule on resume) is examples/training.py, shared with train_cnn.py; this file is
the model.
"""

import training

from minidl import nn


def build_model(args):
    """Flatten -> [Linear -> ReLU (-> Dropout)] per hidden size -> Linear to 10 classes."""
    layers, width = [nn.Flatten()], 28 * 28
    for size in args.hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        if args.dropout:
            layers.append(nn.Dropout(args.dropout))
        width = size
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def main(argv=None):
    parser = training.argument_parser(__doc__)
    parser.add_argument(
        "--hidden",
        type=training.positive_int,
        nargs="*",
        default=[512, 256],
        help="hidden layer sizes",
    )
    parser.add_argument(
        "--dropout", type=training.probability, default=0.2, help="dropout after each hidden layer"
    )
    args = training.parse_args(parser, argv)
    return training.run(args, build_model, model_flags=["hidden", "dropout"])


if __name__ == "__main__":
    main()
