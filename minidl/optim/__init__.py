"""minidl.optim: optimizers whose update is written once and runs on NumPy or CuPy.

Optimizer (the base: param groups, state, zero_grad, step, state_dict), SGD, Momentum,
RMSprop, Adam, AdamW, Adagrad, RAdam, and the ``lr_scheduler`` submodule. How to add an
optimizer: see the docstring of :mod:`minidl.optim.optimizer` and README.md beside this file.
"""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .momentum import Momentum
from .optimizer import Optimizer, required
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Momentum", "RMSprop", "Adam", "AdamW", "Adagrad", "RAdam",
           "lr_scheduler", "required"]
