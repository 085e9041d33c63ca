"""minidl.nn: modules, layers, losses, initialisation and gradient utilities."""
from . import functional, init, utils
from .module import Module, Parameter, Sequential, ModuleList
from .layers import Linear, Dropout, Dropout2d, Flatten, Identity
from .activation import (ReLU, ReLU6, LeakyReLU, ELU, SELU, CELU, GELU, SiLU, Mish, Softplus,
                         Softsign, Sigmoid, Tanh, Hardtanh, Hardsigmoid, Hardswish,
                         LogSigmoid, GLU, PReLU, Threshold, Softmax, LogSoftmax)
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .pooling import MaxPool2d, AvgPool2d, AdaptiveAvgPool2d
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .embedding import Embedding
from .losses import (CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, HuberLoss,
                     BCELoss, BCEWithLogitsLoss, KLDivLoss, CosineEmbeddingLoss)
from .sampling import (ZeroPad2d, ConstantPad1d, ConstantPad2d, ReflectionPad1d,
                       ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, CircularPad2d,
                       Upsample)
from .distance import CosineSimilarity
from . import parallel  # DistributedDataParallel; imports mpi4py only when used
