"""fastgrad.nn: Module, Parameter, layers, losses, ``functional`` (F) and ``init``.

Names and behaviour follow torch.nn, so a model written for PyTorch runs with its import changed.
"""

from __future__ import annotations

from fastgrad.nn import functional, init

# --- vision layers (issue 15): conv.py, pooling.py, normalization.py ---------------------------
from fastgrad.nn.conv import (
    Conv1d,
    Conv2d,
    ConvTranspose1d,
    ConvTranspose2d,
    Dropout1d,
    Dropout2d,
    Fold,
    Unfold,
    Upsample,
)
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
from fastgrad.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
)
from fastgrad.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)

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
]

__all__ += [  # vision layers (issue 15)
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "Dropout1d",
    "Dropout2d",
    "Fold",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "LayerNorm",
    "MaxPool1d",
    "MaxPool2d",
    "Unfold",
    "Upsample",
]
