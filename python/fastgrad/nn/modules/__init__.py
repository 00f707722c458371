"""``fastgrad.nn.modules.<file>``: torch.nn.modules' module paths (``torch.nn.modules.linear.Linear``
and so on), which scripts name when they allow classes for loading
(``torch.serialization.safe_globals([torch.nn.modules.linear.Linear, ...])``). Each is a module
object holding the same classes as ``fastgrad.nn``; the classes themselves live in nn/*.py."""

from __future__ import annotations

import sys
import types

from fastgrad.nn import (
    activation_more,
    conv,
    layers,
    losses,
    module,
    normalization,
    pooling,
    rnn,
    sparse,
    transformer,
)

_SOURCES = (layers, activation_more, conv, pooling, normalization, losses, rnn, sparse,
            transformer, module)

_LAYOUT = {
    "activation": "ReLU LeakyReLU ELU Sigmoid Tanh Softmax LogSoftmax GELU SiLU Mish Softplus "
                  "Hardtanh Hardswish Softsign MultiheadAttention",
    "container": "Sequential ModuleList ModuleDict",
    "dropout": "Dropout Dropout1d Dropout2d",
    "linear": "Linear Identity",
    "flatten": "Flatten Unflatten",
    "normalization": "LayerNorm GroupNorm",
    "batchnorm": "BatchNorm1d BatchNorm2d",
    "instancenorm": "InstanceNorm1d InstanceNorm2d",
    "sparse": "Embedding EmbeddingBag",
    "rnn": "RNNBase RNN LSTM GRU RNNCellBase RNNCell LSTMCell GRUCell",
    "transformer": "Transformer TransformerEncoder TransformerDecoder TransformerEncoderLayer "
                   "TransformerDecoderLayer",
    "conv": "Conv1d Conv2d ConvTranspose1d ConvTranspose2d",
    "pooling": "MaxPool1d MaxPool2d AvgPool1d AvgPool2d AdaptiveAvgPool1d AdaptiveAvgPool2d "
               "AdaptiveMaxPool1d AdaptiveMaxPool2d",
    "upsampling": "Upsample",
    "fold": "Fold Unfold",
    "distance": "CosineSimilarity PairwiseDistance",
    "loss": "CrossEntropyLoss NLLLoss MSELoss L1Loss MultiMarginLoss BCELoss BCEWithLogitsLoss "
            "SmoothL1Loss HuberLoss KLDivLoss SoftMarginLoss CosineEmbeddingLoss "
            "MarginRankingLoss TripletMarginLoss",
    "module": "Module",
}


def _make(file: str, names: str) -> types.ModuleType:
    mod = types.ModuleType(f"{__name__}.{file}", f"torch.nn.modules.{file}'s classes")
    for n in names.split():
        cls = next((getattr(m, n) for m in _SOURCES if hasattr(m, n)), None)
        if cls is not None:
            setattr(mod, n, cls)
    if file == "linear":  # MultiheadAttention's out_proj class
        mod.NonDynamicallyQuantizableLinear = next(
            m.NonDynamicallyQuantizableLinear for m in _SOURCES
            if hasattr(m, "NonDynamicallyQuantizableLinear"))
    sys.modules[mod.__name__] = mod
    return mod


for _file, _names in _LAYOUT.items():
    globals()[_file] = _make(_file, _names)

__all__ = list(_LAYOUT)
