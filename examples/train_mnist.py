"""Train a multi-layer perceptron on MNIST with minidl.

    python examples/train_mnist.py                      # 784-512-256-10, Adam: >= 98% test accuracy
    python examples/train_mnist.py --optimizer momentum --lr 0.1
    python examples/train_mnist.py --backend cupy       # the same run on a GPU (pip install cupy-cudaXXx)
    python examples/train_mnist.py --save ckpt.npz      # Ctrl-C saves and stops; --resume ckpt.npz goes on

The MNIST files are read from --data-dir, else $MINIDL_DATA, else the project's
datasets/ folder, and downloaded (with checksums) when missing.

A checkpoint holds the model, the optimizer, the position in the run (epoch and batch)
and the random states, so a resumed run computes exactly what an uninterrupted one
with the same seed computes.
"""
import argparse
import itertools
import signal
import sys
import time

import numpy as np
from tqdm import tqdm

import minidl
import minidl.nn.functional as F
from minidl import nn, optim
from minidl.data import MNIST, DataLoader, Subset

OPTIMIZERS = {
    "sgd": (lambda params, lr: optim.SGD(params, lr=lr), 0.1),
    "momentum": (lambda params, lr: optim.Momentum(params, lr=lr, beta=0.9), 0.1),
    "rmsprop": (lambda params, lr: optim.RMSprop(params, lr=lr), 1e-3),
    "adam": (lambda params, lr: optim.Adam(params, lr=lr), 1e-3),
    "adamw": (lambda params, lr: optim.AdamW(params, lr=lr), 1e-3),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 1e-3 for adam/adamw/rmsprop, 0.1 for sgd/momentum)")
    p.add_argument("--hidden", type=int, nargs="*", default=[512, 256],
                   help="hidden layer sizes")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout after each hidden layer")
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                   help="learning rate per epoch: cosine annealing to 0, or constant")
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None,
                   help="folder holding mnist/ (default: $MINIDL_DATA, else datasets/)")
    p.add_argument("--save", metavar="PATH", help="checkpoint after every epoch and on Ctrl-C")
    p.add_argument("--resume", metavar="PATH", help="continue from a checkpoint")
    p.add_argument("--train-limit", type=int, default=None,
                   help="use only the first N training images (quick runs)")
    p.add_argument("--test-limit", type=int, default=None,
                   help="use only the first N test images (quick runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.lr is None:
        args.lr = OPTIMIZERS[args.optimizer][1]
    return args


def build_model(hidden, dropout=0.0):
    """Flatten -> [Linear -> ReLU (-> Dropout)] per hidden size -> Linear to 10 classes."""
    layers, width = [nn.Flatten()], 28 * 28
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def limit(dataset, n):
    return dataset if n is None or n >= len(dataset) else Subset(dataset, np.arange(n))


@minidl.no_grad()
def evaluate(model, loader):
    """Mean cross-entropy and accuracy over a loader."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        logits = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == y).data.sum())
        count += len(y)
    model.train()
    return total_loss / count, correct / count


class StopOnCtrlC:
    """The first Ctrl-C asks the loop to stop after the current step (so nothing is saved
    half-updated); a second one interrupts at once."""

    def __init__(self):
        self.requested = False

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this step (press again to abort)", flush=True)

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)
        return False


def checkpoint(path, model, optimizer, scheduler, epoch, batch, loader_state, history):
    minidl.save({
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler else None,
        "epoch": epoch, "batch": batch,
        "loader": loader_state,                   # replays the shuffle of this epoch
        "global_rng": minidl.random.generator().bit_generator.state,  # dropout masks
        "history": history,
    }, path)


def main(argv=None):
    args = parse_args(argv)
    minidl.backend.use(args.backend)
    device = minidl.backend.default_device()
    minidl.manual_seed(args.seed)

    train_set = limit(MNIST(args.data_dir, train=True), args.train_limit)
    test_set = limit(MNIST(args.data_dir, train=False), args.test_limit)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                              seed=args.seed, device=device)
    test_loader = DataLoader(test_set, batch_size=1000, device=device)

    model = build_model(args.hidden, args.dropout).to(device)
    optimizer = OPTIMIZERS[args.optimizer][0](model.parameters(), args.lr)
    scheduler = (optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
                 if args.schedule == "cosine" else None)
    print(model)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters, "
          f"optimizer {args.optimizer} (lr {args.lr}), {len(train_set):,} training and "
          f"{len(test_set):,} test images, device {device}")

    start_epoch, skip_batches, history = 0, 0, []
    if args.resume:
        state = minidl.load(args.resume)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler:
            scheduler.load_state_dict(state["scheduler"])
        start_epoch, skip_batches = int(state["epoch"]), int(state["batch"])
        train_loader.load_state_dict(state["loader"])
        minidl.random.generator().bit_generator.state = state["global_rng"]
        history = list(state["history"])
        print(f"resumed from {args.resume} at epoch {start_epoch + 1}, batch {skip_batches}")

    started = time.perf_counter()
    with StopOnCtrlC() as stop:
        for epoch in range(start_epoch, args.epochs):
            loader_state = train_loader.state_dict()  # replays this epoch on resume
            batches = iter(train_loader)
            done = skip_batches
            if skip_batches:
                batches = itertools.islice(batches, skip_batches, None)
                skip_batches = 0
            bar = tqdm(batches, total=len(train_loader), initial=done, ncols=100,
                       desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.no_progress,
                       file=sys.stdout, leave=True)
            run_loss, run_correct, run_count = 0.0, 0, 0
            for x, y in bar:
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                done += 1
                run_loss += float(loss.item()) * len(y)
                run_correct += int((logits.argmax(dim=1) == y).data.sum())
                run_count += len(y)
                if done % 20 == 0 or done == len(train_loader):
                    bar.set_postfix(loss=f"{run_loss / run_count:.4f}",
                                    acc=f"{run_correct / run_count:.4f}")
                if stop.requested:
                    break
            bar.close()
            if stop.requested:
                if args.save:
                    checkpoint(args.save, model, optimizer, scheduler, epoch, done, loader_state,
                               history)
                    print(f"saved {args.save} at epoch {epoch + 1}, batch {done}; "
                          f"continue with --resume {args.save}")
                else:
                    print("stopped (pass --save PATH to keep a checkpoint)")
                return history
            if scheduler:
                scheduler.step()
            test_loss, test_acc = evaluate(model, test_loader)
            train_info = (f"train loss {run_loss / run_count:.4f} acc {run_correct / run_count:.4f}, "
                          if run_count else "")
            history.append({"epoch": epoch + 1, "test_loss": test_loss, "test_acc": test_acc})
            print(f"epoch {epoch + 1}: {train_info}test loss {test_loss:.4f} "
                  f"acc {test_acc:.4f} ({time.perf_counter() - started:.1f} s)", flush=True)
            if args.save:
                checkpoint(args.save, model, optimizer, scheduler, epoch + 1, 0,
                           train_loader.state_dict(), history)

    elapsed = time.perf_counter() - started
    best = max(history, key=lambda h: h["test_acc"]) if history else None
    print(f"done in {elapsed:.1f} s" + (
        f"; best test accuracy {best['test_acc']:.4f} (epoch {best['epoch']})" if best else ""))
    return history


if __name__ == "__main__":
    main()
