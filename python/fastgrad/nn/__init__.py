"""fastgrad.nn: Module, Parameter, layers, losses, ``functional`` (F) and ``init``.

Names and behaviour follow torch.nn, so a model written for PyTorch runs with its import changed.
"""

from __future__ import annotations

from fastgrad.nn import functional, init, utils
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
from fastgrad.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CosineSimilarity,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    MultiMarginLoss,
    NLLLoss,
    PairwiseDistance,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
)
from fastgrad.nn.module import Module, Parameter, StateDictShapeError

__all__ = [
    "ELU",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CosineEmbeddingLoss",
    "CosineSimilarity",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "HuberLoss",
    "Identity",
    "KLDivLoss",
    "L1Loss",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MarginRankingLoss",
    "Module",
    "ModuleList",
    "MultiMarginLoss",
    "NLLLoss",
    "PairwiseDistance",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "Softmax",
    "StateDictShapeError",
    "Tanh",
    "TripletMarginLoss",
    "functional",
    "init",
    "utils",
]
