"""minidl.nn: modules, layers, losses, initialisation and gradient utilities."""
from . import functional, init, utils
from .module import Module, Parameter, Sequential, ModuleList
from .layers import (Linear, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax,
                     Dropout, Flatten, Identity)
from .losses import CrossEntropyLoss, NLLLoss, MSELoss, BCEWithLogitsLoss
from . import parallel  # DistributedDataParallel; imports mpi4py only when used
