"""minidl.optim: optimizers whose update is written once and runs on NumPy or CuPy.

Optimizer (the base: param groups, state, zero_grad, step, state_dict), SGD, Momentum,
RMSprop, Adam, AdamW, Adagrad, RAdam, and the ``lr_scheduler`` submodule. How to add an
optimizer: see the docstring of :mod:`minidl.optim.optimizer` and README.md beside this file.
"""
from minidl.optim import lr_scheduler
from minidl.optim.adagrad import Adagrad
from minidl.optim.adam import Adam, AdamW
from minidl.optim.momentum import Momentum
from minidl.optim.optimizer import Optimizer, required
from minidl.optim.radam import RAdam
from minidl.optim.rmsprop import RMSprop
from minidl.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Momentum", "RMSprop", "Adam", "AdamW", "Adagrad", "RAdam",
           "lr_scheduler", "required"]
