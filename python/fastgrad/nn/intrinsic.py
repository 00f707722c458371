"""Fused modules, PyTorch's ``torch.ao.nn.intrinsic`` (formerly ``torch.nn.intrinsic``) names.

``ConvReLU1d`` / ``ConvReLU2d`` (conv, relu): sequential containers of a convolution and a ReLU,
state_dict keys ``0.weight``, ``0.bias`` as PyTorch's; here the forward is one ``conv2d_fused``
primitive (bias and ReLU applied as the GEMM stores each output tile, backward masked by the
output). Not here: the quantized and QAT variants, ConvBn*, LinearReLU.
"""

from __future__ import annotations

from typing import Any

from fastgrad.nn import _functional_conv as FC
from fastgrad.nn.conv import Conv1d, Conv2d
from fastgrad.nn.layers import ReLU, Sequential
from fastgrad.tensor import Tensor

__all__ = ["ConvReLU1d", "ConvReLU2d"]


class _ConvReLUNd(Sequential):
    _conv_type: type = Conv2d
    _nd = 2

    def __init__(self, conv: Any, relu: Any) -> None:
        name = type(self).__name__
        if type(conv) is not self._conv_type or not isinstance(relu, ReLU):
            raise TypeError(f"{name}: expected a {self._conv_type.__name__} and a ReLU, got "
                            f"{type(conv).__name__} and {type(relu).__name__}")
        super().__init__(conv, relu)

    def forward(self, input: Tensor) -> Tensor:
        conv = self[0]
        d = conv.__dict__
        if d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks") \
                or type(self[1]) is not ReLU:
            return super().forward(input)  # hooks see the unfused modules
        op = f"conv{self._nd}d"
        x = input
        padding = conv.padding
        if conv.padding_mode != "zeros":
            x = FC.pad(input, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
            padding = 0
        return FC._conv(op, self._nd, x, conv.weight, conv.bias, conv.stride, padding,
                        conv.dilation, conv.groups, _relu=True)


class ConvReLU2d(_ConvReLUNd):
    """Conv2d followed by ReLU, fused: ``ConvReLU2d(nn.Conv2d(1, 32, 3), nn.ReLU())(x)`` equals
    ``F.relu(conv(x))``; input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out)."""

    _conv_type = Conv2d
    _nd = 2


class ConvReLU1d(_ConvReLUNd):
    """Conv1d followed by ReLU, fused: input (N, C_in, L) -> (N, C_out, L_out)."""

    _conv_type = Conv1d
    _nd = 1
