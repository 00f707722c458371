"""fastgrad.nn: Module, Parameter, layers, losses, ``functional`` (F) and ``init``.

Names and behaviour follow torch.nn, so a model written for PyTorch runs with its import changed.
"""

from __future__ import annotations

from fastgrad.nn import functional, init, parallel, utils

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
    "parallel",
    "utils",
]

# --- sequence layers (issue 16): embeddings, recurrent, attention, Transformer, activations ------
from fastgrad.nn.activation_more import GELU, Hardswish, Hardtanh, Mish, SiLU, Softplus, Softsign
from fastgrad.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from fastgrad.nn.sparse import Embedding, EmbeddingBag
from fastgrad.nn.transformer import (
    MultiheadAttention,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ += [
    "GELU", "GRU", "LSTM", "RNN", "Embedding", "EmbeddingBag", "GRUCell", "Hardswish", "Hardtanh",
    "LSTMCell", "Mish", "MultiheadAttention", "RNNBase", "RNNCell", "RNNCellBase", "SiLU",
    "Softplus", "Softsign", "Transformer", "TransformerDecoder", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerEncoderLayer", "utils",
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

from fastgrad.nn import modules

__all__ += ["modules"]

# --- fused conv + ReLU modules (issue 15, h3-conv): torch.ao.nn.intrinsic's names ---------------
from fastgrad.nn import intrinsic

__all__ += ["intrinsic"]
