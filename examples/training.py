"""The training loop shared by the example classifiers (train_mnist.py, train_cnn.py).

A script brings its model; this module brings the rest: the command line, the data
(MNIST or Fashion-MNIST), the optimizer and learning-rate schedule, progress bars,
evaluation after each epoch, checkpoints with exact resume, a clean Ctrl-C and a stop
at the first NaN or infinity.

    import training

    def build_model(args):        # an nn.Module: (B, 1, 28, 28) images -> (B, 10) logits
        return nn.Sequential(nn.Flatten(), nn.Linear(784, args.width), nn.ReLU(),
                             nn.Linear(args.width, 10))

    def main(argv=None):
        parser = training.argument_parser(__doc__)     # the shared flags, listed below
        parser.add_argument("--width", type=training.positive_int, default=128)
        parser.set_defaults(epochs=5)                  # the script's own defaults
        args = training.parse_args(parser, argv)
        return training.run(args, build_model, model_flags=["width"])

    if __name__ == "__main__":
        main()

Shared flags: --dataset {mnist,fashion-mnist}, --epochs, --batch-size, --optimizer,
--lr, --schedule {cosine,constant}, --backend {numpy,cupy}, --seed, --data-dir, --save,
--resume, --train-limit, --test-limit, --no-progress, --distributed (``--help`` gives the
defaults).

``run(args, build_model, model_flags=(), build_optimizer=None) -> history``
    build_model(args) -> Module, built on the CPU (run moves it to the device).
    model_flags: the script's own flags that shape the model or its training (e.g.
        "hidden", "dropout"); a checkpoint records them with the shared ones in
        RESUME_FLAGS, and --resume refuses a run whose flags differ, naming them.
    build_optimizer(args, parameters) -> Optimizer; default OPTIMIZERS[args.optimizer]
        at args.lr.
    Returns the history: one dict per finished epoch (epoch, test_loss, test_acc).

Errors a user can cause print one line, ``<prog>: error: <what>``, on stderr and raise
SystemExit, as argparse does: status 2 for a bad flag (a number out of range, a
--resume file that is not a training checkpoint or belongs to a different run), 1 for
a failure while running (a download, a corrupt file, a run that diverges). A script
checking its own flags calls ``fail(args, message, status)`` for the same.

Validators for a script's own flags (argparse ``type=``): positive_int,
non_negative_int, positive_float (finite), probability (in [0, 1)).

Divergence: the loss is checked every step, before backward, and the parameters before
every checkpoint (``minidl.utils.check_finite``). The first NaN or infinity stops the
run with the epoch, step and value; the last checkpoint is left as it was.

Checkpoints (--save PATH, written after every epoch and on Ctrl-C) hold the model, the
optimizer, the schedule, the position (epoch and batch), the shuffling and dropout
random states, the history and the run's flags, so a resumed run computes exactly what
an uninterrupted one computes.

Data-parallel (--distributed, under ``mpiexec -n N``): each rank trains a replica on its
1/N of every global batch of --batch-size (minidl.data.DistributedSampler) and
DistributedDataParallel averages the gradients, so the ranks stay identical; the test set
is split over the ranks too and the sums combined. Only rank 0 prints and writes
checkpoints; --resume reads the checkpoint on every rank (a path all machines see). All
ranks agree on a Ctrl-C stop at the same step. Dropout masks differ between ranks: rank r
draws from the global generator jumped r times, which a resume reproduces.

Schedule: "cosine" anneals the learning rate from --lr at the first epoch to 0 after
the last (torch's CosineAnnealingLR with T_max = --epochs, stepped once per epoch);
"constant" keeps --lr. A run resumed with a different --epochs re-plans the cosine
over the new total: it goes on at the rate a run of that many epochs has at this
epoch, never at the finished run's final rate of 0.
"""

import argparse
import itertools
import math
import os
import signal
import sys
import time

import numpy as np
from tqdm import tqdm

import minidl
import minidl.nn.functional as F
from minidl import optim
from minidl.data import (
    MNIST,
    ChecksumError,
    DataLoader,
    DistributedSampler,
    DownloadError,
    FashionMNIST,
    IDXError,
    Subset,
)
from minidl.nn.parallel import DistributedDataParallel
from minidl.utils import NonFiniteError, check_finite

__all__ = [
    "argument_parser",
    "parse_args",
    "run",
    "fail",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "probability",
    "OPTIMIZERS",
    "DATASETS",
    "RESUME_FLAGS",
]

OPTIMIZERS = {  # name -> (factory(parameters, lr), default lr)
    "sgd": (lambda params, lr: optim.SGD(params, lr=lr), 0.1),
    "momentum": (lambda params, lr: optim.Momentum(params, lr=lr, beta=0.9), 0.1),
    "rmsprop": (lambda params, lr: optim.RMSprop(params, lr=lr), 1e-3),
    "adam": (lambda params, lr: optim.Adam(params, lr=lr), 1e-3),
    "adamw": (lambda params, lr: optim.AdamW(params, lr=lr), 1e-3),
}
DATASETS = {"mnist": MNIST, "fashion-mnist": FashionMNIST}
SCHEDULES = ("cosine", "constant")
# Flags a resumed run must share with the checkpoint's (besides the script's model_flags);
# --epochs may change (see the schedule), --seed/--backend/--test-limit/... may too.
RESUME_FLAGS = ("dataset", "optimizer", "lr", "schedule", "batch_size", "train_limit")
CHECKPOINT_KEYS = (
    "model",
    "optimizer",
    "scheduler",
    "epoch",
    "batch",
    "loader",
    "global_rng",
    "history",
)


# ---- command line -------------------------------------------------------------------
def _number(kind, accept, requirement):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {requirement}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{text} is not {requirement}")
        return value

    parse.__name__ = requirement  # argparse names the type in some messages
    return parse


positive_int = _number(int, lambda v: v > 0, "a positive integer")
non_negative_int = _number(int, lambda v: v >= 0, "a non-negative integer")
positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
probability = _number(float, lambda v: 0 <= v < 1, "a probability in [0, 1)")


def argument_parser(description):
    """An ArgumentParser with the shared flags; the first line of ``description`` is
    the --help title. Add the script's own flags and defaults to it."""
    p = argparse.ArgumentParser(
        description=description.strip().split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    p.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate (default: 1e-3 for adam/adamw/rmsprop, 0.1 for sgd/momentum)",
    )
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="cosine",
        help="learning rate per epoch: cosine annealing to 0, or constant",
    )
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding mnist/ and fashion-mnist/ (default: $MINIDL_DATA, else datasets/)",
    )
    p.add_argument("--save", metavar="PATH", help="checkpoint after every epoch and on Ctrl-C")
    p.add_argument("--resume", metavar="PATH", help="continue from a checkpoint")
    p.add_argument(
        "--train-limit",
        type=positive_int,
        default=None,
        help="use only the first N training images (quick runs)",
    )
    p.add_argument(
        "--test-limit",
        type=positive_int,
        default=None,
        help="use only the first N test images (quick runs)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over the processes of an MPI job "
        "(mpiexec -n N python SCRIPT --distributed); --batch-size is the "
        "global batch, split over them",
    )
    return p


def parse_args(parser, argv=None):
    """``parser.parse_args(argv)`` plus the optimizer's default --lr; bad values exit 2."""
    args = parser.parse_args(argv)
    if args.lr is None:
        args.lr = OPTIMIZERS[args.optimizer][1]
    args.prog = parser.prog
    return args


def fail(args, message, status=1):
    """One line on stderr and SystemExit(status), as argparse's ``parser.error``."""
    print(f"{getattr(args, 'prog', 'train')}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


# ---- data, model, optimizer ---------------------------------------------------------
def limit(dataset, n):
    return dataset if n is None or n >= len(dataset) else Subset(dataset, np.arange(n))


def load_data(args):
    """(train set, test set) of args.dataset, cut to --train-limit / --test-limit."""
    dataset = DATASETS[args.dataset]
    try:
        train_set = dataset(args.data_dir, train=True)
        test_set = dataset(args.data_dir, train=False)
    except DownloadError as exc:
        tried = "; ".join(f"{url}: {reason}" for url, reason in exc.failures)
        fail(
            args,
            f"could not download {exc.name} into {exc.folder} ({tried}); put the "
            f"files there, or pass --data-dir",
        )
    except (ChecksumError, IDXError, OSError) as exc:
        fail(args, str(exc))
    return limit(train_set, args.train_limit), limit(test_set, args.test_limit)


def default_optimizer(args, parameters):
    return OPTIMIZERS[args.optimizer][0](parameters, args.lr)


def cosine_lr(base, epoch, epochs):
    """CosineAnnealingLR's closed form (eta_min 0): the rate for ``epoch`` of ``epochs``."""
    return base * (1 + math.cos(math.pi * epoch / epochs)) / 2


@minidl.no_grad()
def evaluate(model, loader, dist=None):
    """Mean cross-entropy and accuracy over a loader (with ``dist``, minidl.distributed,
    over the loaders of all ranks)."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        logits = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == y).data.sum())
        count += len(y)
    model.train()
    if dist is not None:
        sums = np.array([total_loss, correct, count], dtype=np.float64)
        dist.all_reduce(sums)
        total_loss, correct, count = sums
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


class Diverged(Exception):
    """The run met a NaN or infinity; the message says where."""


# ---- the run ------------------------------------------------------------------------
class Trainer:
    """One training run: the model, optimizer, schedule and loaders, and where it is."""

    def __init__(self, args, model, optimizer, train_loader, test_loader, flags, dist=None):
        self.args, self.model, self.optimizer = args, model, optimizer
        self.dist = dist  # minidl.distributed under --distributed, else None
        self.rank = dist.get_rank() if dist else 0
        # the network itself, for checkpoints and evaluation (model may wrap it in DDP)
        self.net = model.module if isinstance(model, DistributedDataParallel) else model
        self.train_loader, self.test_loader = train_loader, test_loader
        self.flags = flags  # the run's identity, stored in checkpoints
        self.scheduler = (
            optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
            if args.schedule == "cosine"
            else None
        )
        self.epoch, self.batch, self.history = 0, 0, []
        self.saved = None  # "epoch E" / "epoch E, batch B" of the last checkpoint written

    # -- checkpoints --
    def save(self, batch, loader_state, where):
        """Checkpoint at (self.epoch, batch); never writes non-finite weights (Diverged)."""
        self._check(self.net, "model", where)
        if self.rank != 0:  # the ranks' weights are identical: rank 0 writes them
            return
        minidl.save(
            {
                "model": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "epoch": self.epoch,
                "batch": batch,
                "loader": loader_state,  # replays the shuffle of this epoch
                "global_rng": minidl.random.generator().bit_generator.state,  # dropout masks
                "history": self.history,
                "run": self.flags,
            },
            self.args.save,
        )
        self.saved = (
            f"epoch {self.epoch + 1}, batch {batch}" if batch else f"the end of epoch {self.epoch}"
        )

    def resume(self, path):
        """Load a checkpoint written by :meth:`save`; flag or file problems exit 2."""
        args = self.args
        try:
            state = minidl.load(path)
        except FileNotFoundError:
            fail(args, f"--resume {path}: no such file", 2)
        except IsADirectoryError:
            fail(args, f"--resume {path}: is a folder, not a checkpoint file", 2)
        except (minidl.CheckpointError, OSError) as exc:
            fail(args, f"--resume {path}: {exc}", 1)
        if not isinstance(state, dict) or not all(key in state for key in CHECKPOINT_KEYS):
            what = (
                "a model's weights (a state_dict), not a training checkpoint"
                if isinstance(state, dict) and "model" not in state
                else "not a training checkpoint"
            )
            fail(
                args,
                f"--resume {path}: the file holds {what} written by --save "
                f"(expected keys {', '.join(CHECKPOINT_KEYS)})",
                2,
            )
        differences = self._differences(state)
        if differences:
            fail(
                args,
                f"--resume {path}: the checkpoint comes from a different run: "
                + "; ".join(differences)
                + " (resume with the checkpoint's flags, or start a new run)",
                2,
            )
        try:
            self.net.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            fail(args, f"--resume {path}: does not fit this model and optimizer: {exc}", 2)
        if self.scheduler:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self.train_loader.load_state_dict(state["loader"])
        minidl.random.generator().bit_generator.state = state["global_rng"]
        self.history = list(state["history"])
        print(f"resumed from {path} at epoch {self.epoch + 1}, batch {self.batch}")
        if self.scheduler:
            self._replan_cosine()

    def _differences(self, state):
        """What differs between this run's flags and the checkpoint's, as phrases."""
        saved = state.get("run")
        if not isinstance(saved, dict):  # from before flags were stored: what can be seen
            saved = {"schedule": "constant" if state["scheduler"] is None else "cosine"}
            groups = (
                state["optimizer"].get("param_groups")
                if isinstance(state["optimizer"], dict)
                else None
            ) or [{}]
            if set(groups[0]) != set(self.optimizer.state_dict()["param_groups"][0]):
                saved["optimizer"] = "another optimizer"
        different = []
        for key, value in saved.items():
            if key in self.flags and key != "epochs" and _plain(value) != _plain(self.flags[key]):
                flag = "--" + key.replace("_", "-")
                different.append(f"{flag} is {_show(value)} there, {_show(self.flags[key])} here")
        return different

    def _replan_cosine(self):
        """A cosine planned over another --epochs goes on over this run's --epochs."""
        planned = self.scheduler.T_max
        if planned == self.args.epochs:
            return
        self.scheduler.T_max = self.args.epochs
        t = self.scheduler.last_epoch
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = cosine_lr(base, min(t, self.args.epochs), self.args.epochs)
        print(
            f"cosine schedule re-planned from {planned} to {self.args.epochs} epochs: "
            f"learning rate {self.optimizer.param_groups[0]['lr']:.3g} at epoch {t + 1}"
        )

    # -- training --
    def fit(self):
        """Train from (self.epoch, self.batch) to --epochs; returns the history."""
        args = self.args
        if self.epoch >= args.epochs:
            print(
                f"nothing to train: the checkpoint is at the end of epoch {self.epoch} "
                f"and --epochs is {args.epochs}"
            )
            return self.history
        started = time.perf_counter()
        # NumPy's overflow warnings are silenced: the finiteness checks report a divergence
        # once, naming the step, instead of a warning from every op on the way
        try:
            with (
                StopOnCtrlC() as stop,
                np.errstate(over="ignore", invalid="ignore", divide="ignore"),
            ):
                while self.epoch < args.epochs:
                    loader_state = self.train_loader.state_dict()  # replays it on resume
                    done, stats = self.train_epoch(stop)
                    if self._stop_agreed(stop):
                        return self._stopped(done, loader_state)
                    self.end_epoch(stats, started)
        except Diverged as exc:
            fail(args, f"{exc}; {self._kept()}. Try a lower --lr.", 1)
        elapsed = time.perf_counter() - started
        best = max(self.history, key=lambda h: h["test_acc"]) if self.history else None
        print(
            f"done in {elapsed:.1f} s"
            + (
                f"; best test accuracy {best['test_acc']:.4f} (epoch {best['epoch']})"
                if best
                else ""
            )
        )
        return self.history

    def train_epoch(self, stop):
        """Steps through one epoch (from self.batch); returns (steps done, (loss sum,
        correct, count)) of the steps run now."""
        args, loader = self.args, self.train_loader
        if loader.sampler is not None:
            loader.sampler.set_epoch(self.epoch)  # the same order on every rank
        batches, done = iter(loader), self.batch
        if done:
            batches = itertools.islice(batches, done, None)
            self.batch = 0
        bar = tqdm(
            batches,
            total=len(loader),
            initial=done,
            ncols=100,
            desc=f"epoch {self.epoch + 1}/{args.epochs}",
            disable=args.no_progress,
            file=sys.stdout,
            leave=True,
        )
        run_loss, run_correct, run_count = 0.0, 0, 0
        try:
            for x, y in bar:
                logits = self.model(x)
                loss = F.cross_entropy(logits, y)
                loss_value = float(loss.item())
                self._check(loss_value, "loss", f"epoch {self.epoch + 1}, step {done + 1}")
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                done += 1
                run_loss += loss_value * len(y)
                run_correct += int((logits.argmax(dim=1) == y).data.sum())
                run_count += len(y)
                if done % 20 == 0 or done == len(loader):
                    bar.set_postfix(
                        loss=f"{run_loss / run_count:.4f}", acc=f"{run_correct / run_count:.4f}"
                    )
                if self._stop_agreed(stop):
                    break
        finally:
            bar.close()
        return done, (run_loss, run_correct, run_count)

    def end_epoch(self, stats, started):
        """Schedule, evaluate, report and checkpoint after a full epoch."""
        args = self.args
        if self.scheduler:
            self.scheduler.step()
        test_loss, test_acc = evaluate(self.net, self.test_loader, self.dist)
        self._check(test_loss, "test loss", f"the end of epoch {self.epoch + 1}")
        self.epoch += 1
        run_loss, run_correct, run_count = stats
        if self.dist is not None:  # the whole global batch's figures, not rank 0's share
            sums = np.array(stats, dtype=np.float64)
            self.dist.all_reduce(sums)
            run_loss, run_correct, run_count = sums
        train_info = (
            f"train loss {run_loss / run_count:.4f} acc {run_correct / run_count:.4f}, "
            if run_count
            else ""
        )
        self.history.append({"epoch": self.epoch, "test_loss": test_loss, "test_acc": test_acc})
        print(
            f"epoch {self.epoch}: {train_info}test loss {test_loss:.4f} "
            f"acc {test_acc:.4f} ({time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        if args.save:
            self.save(0, self.train_loader.state_dict(), f"the end of epoch {self.epoch}")

    def _stopped(self, done, loader_state):
        if self.args.save:
            self.save(done, loader_state, f"epoch {self.epoch + 1}, step {done}")
            print(
                f"saved {self.args.save} at epoch {self.epoch + 1}, batch {done}; "
                f"continue with --resume {self.args.save}"
            )
        else:
            print("stopped (pass --save PATH to keep a checkpoint)")
        return self.history

    def _stop_agreed(self, stop):
        """Whether to stop after this step; under --distributed, if any rank was told to,
        all stop here (a rank going on alone would wait forever for the others)."""
        if self.dist is not None:
            flag = np.array([float(stop.requested)])
            self.dist.all_reduce(flag, op="max")
            stop.requested = bool(flag[0])
        return stop.requested

    def _kept(self):
        """What a diverged run leaves on disk, in words."""
        path = self.args.save
        if not path:
            return "nothing was saved (no --save)"
        if self.saved:
            return f"{path} keeps the checkpoint of {self.saved}"
        if os.path.exists(path):
            return f"{path} is left as it was"
        return f"nothing was saved to {path}"

    @staticmethod
    def _check(value, name, where):
        try:
            check_finite(value, name)
        except NonFiniteError as exc:
            raise Diverged(f"training diverged at {where}: {exc.name} is {exc.value}") from exc


def _plain(value):
    """Flag values as compared: lists and tuples alike (a checkpoint stores lists)."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _show(value):
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value)) or "(none)"
    return str(value)


def join_job(args):
    """--distributed: join the MPI job (minidl.distributed); returns the module."""
    import minidl.distributed as dist

    try:
        dist.init()
    except ImportError as exc:
        fail(args, str(exc))
    if args.batch_size % dist.get_world_size():
        fail(
            args,
            f"--batch-size {args.batch_size} does not split evenly over "
            f"{dist.get_world_size()} ranks",
            2,
        )
    if dist.get_rank() != 0:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the process's life) rank 0 reports
        args.no_progress = True
    return dist


def _check_writable(args, path):
    """Fail now, not after an epoch of training, when --save cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        fail(args, f"--save {path}: is a folder; give a file name", 2)
    if not os.path.isdir(folder):
        fail(args, f"--save {path}: the folder {folder} does not exist", 2)
    if not os.access(folder, os.W_OK):
        fail(args, f"--save {path}: the folder {folder} is not writable", 2)


def run(args, build_model, model_flags=(), build_optimizer=None):
    """Build everything from ``args`` and train; see the module docstring."""
    if args.save:
        _check_writable(args, args.save)
    try:
        minidl.backend.use(args.backend)
    except minidl.backend.BackendError as exc:
        fail(args, f"--backend {args.backend}: {exc}", 2)
    dist = join_job(args) if getattr(args, "distributed", False) else None
    try:
        return _run(args, build_model, model_flags, build_optimizer, dist)
    except SystemExit as exc:
        if dist is not None and exc.code:  # the other ranks may be waiting for this one
            dist.abort(exc.code)
        raise


def _run(args, build_model, model_flags, build_optimizer, dist):
    device = minidl.backend.default_device()
    minidl.manual_seed(args.seed)
    train_set, test_set = load_data(args)
    if dist is None:
        train_loader = DataLoader(
            train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed, device=device
        )
        test_shard = test_set
    else:
        rank, world = dist.get_rank(), dist.get_world_size()
        train_loader = DataLoader(
            train_set,
            batch_size=args.batch_size // world,
            sampler=DistributedSampler(train_set, world, rank, seed=args.seed),
            device=device,
        )
        test_shard = Subset(test_set, np.arange(rank, len(test_set), world))
    test_loader = DataLoader(test_shard, batch_size=1000, device=device)

    model = build_model(args).to(device)
    if dist is not None:
        model = DistributedDataParallel(model)  # rank 0's initial weights everywhere
    optimizer = (build_optimizer or default_optimizer)(args, model.parameters())
    flags = {key: getattr(args, key) for key in (*RESUME_FLAGS, *model_flags, "epochs")}
    trainer = Trainer(args, model, optimizer, train_loader, test_loader, flags, dist)
    print(trainer.net)
    print(
        f"{sum(p.numel() for p in model.parameters()):,} parameters, "
        f"optimizer {args.optimizer} (lr {args.lr}), {args.dataset}: "
        f"{len(train_set):,} training and {len(test_set):,} test images, device {device}"
        + (
            f", {dist.get_world_size()} ranks of {args.batch_size // dist.get_world_size()}"
            " images per batch"
            if dist
            else ""
        )
    )
    if args.resume:
        trainer.resume(args.resume)
    if dist is not None:  # rank r's own dropout masks, reproducible from rank 0's state
        rng = minidl.random.generator().bit_generator
        rng.state = rng.jumped(dist.get_rank()).state
    return trainer.fit()
