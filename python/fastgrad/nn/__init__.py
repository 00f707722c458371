"""fastgrad.nn: Module, Parameter, layers, losses, ``functional`` (F) and ``init``.

Names and behaviour follow torch.nn, so a model written for PyTorch runs with its import changed.
"""

from __future__ import annotations

from fastgrad.nn import functional, init, parallel  # parallel: h8-dist (DistributedDataParallel)
from fastgrad.nn.layers import (
    ELU,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from fastgrad.nn.losses import CrossEntropyLoss, L1Loss, MSELoss, MultiMarginLoss, NLLLoss
from fastgrad.nn.module import Module, Parameter, StateDictShapeError

__all__ = [
    "ELU",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "Identity",
    "L1Loss",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleList",
    "MultiMarginLoss",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "StateDictShapeError",
    "Tanh",
    "functional",
    "init",
    "parallel",
]
