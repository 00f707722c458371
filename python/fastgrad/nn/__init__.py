"""fastgrad.nn: Module, Parameter, layers, losses, ``functional`` (F) and ``init``.

Names and behaviour follow torch.nn, so a model written for PyTorch runs with its import changed.
"""

from __future__ import annotations

from fastgrad.nn import functional, init
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
]

# --- sequence layers (issue 16): embeddings, recurrent, attention, Transformer, activations ------
from fastgrad.nn import utils
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
