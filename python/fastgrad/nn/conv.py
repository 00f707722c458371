"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d (torch.nn's names,
arguments, parameter shapes, initialisation and state_dict keys ``weight`` / ``bias``); and the
parameter-free spatial layers Unfold, Fold, Upsample, Dropout1d, Dropout2d.

Each forward is one call into nn.functional (padding modes other than zeros through ``F.pad``).
"""

from __future__ import annotations

import math
from typing import Any

from fastgrad import _creation
from fastgrad._device import check_device
from fastgrad._dtype import as_dtype, float32
from fastgrad.nn import _functional_conv as FC
from fastgrad.nn import init
from fastgrad.nn.module import Module, Parameter
from fastgrad.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _nd = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", output_padding: Any = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        check_device(device, name)
        nd = self._nd
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} must be divisible by groups "
                             f"{groups}")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels {out_channels} must be divisible by groups "
                             f"{groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = FC._ntuple(name, "kernel_size", kernel_size, nd)
        self.stride = FC._ntuple(name, "stride", stride, nd)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a tuple, "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions")
            self.padding: Any = padding
        else:
            self.padding = FC._ntuple(name, "padding", padding, nd)
        self.dilation = FC._ntuple(name, "dilation", dilation, nd)
        self.output_padding = FC._ntuple(name, "output_padding", output_padding, nd)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only 'zeros' padding mode is supported")
        if isinstance(self.padding, str):
            total = [d * (k - 1) if self.padding == "same" else 0
                     for d, k in zip(self.dilation, self.kernel_size)]
            pads: list[int] = []
            for t in reversed(total):
                pads += [t // 2, t - t // 2]
        else:
            pads = []
            for p in reversed(self.padding):
                pads += [p, p]
        self._reversed_padding_repeated_twice = pads
        d = as_dtype(dtype or float32)
        if self._transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(_creation.empty(*shape, dtype=d))
        if bias:
            self.bias = Parameter(_creation.empty(out_channels, dtype=d))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else \
                f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W).

    Parameters: weight (out_channels, in_channels/groups, kH, kW), bias (out_channels,), both
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch (kaiming_uniform_ with a=sqrt(5)).
    Example: ``nn.Conv2d(1, 32, 3)(fastgrad.randn(8, 1, 28, 28)).shape == (8, 32, 26, 26)``.
    """

    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        f = FC.conv2d if self._nd == 2 else FC.conv1d
        if self.padding_mode != "zeros":
            x = FC.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return f(x, weight, bias, self.stride, 0, self.dilation, self.groups)
        return f(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(Conv2d):
    """1-D convolution over (N, C_in, L) or (C_in, L); weight (out_channels, in_channels/groups,
    k). Example: ``nn.Conv1d(4, 8, 3, padding='same')``."""

    _nd = 1


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution over (N, C_in, H, W): weight (in_channels,
    out_channels/groups, kH, kW), H_out = (H - 1)s - 2p + d(kH - 1) + output_padding + 1.
    ``forward(input, output_size=None)``: output_size picks output_padding as PyTorch.
    """

    _nd = 2
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if isinstance(padding, str):
            raise TypeError(f"{type(self).__name__}: padding must be an int or a tuple, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        nd = self._nd
        size = list(output_size)[-nd:]
        if len(size) != nd:
            raise ValueError(f"{type(self).__name__}: output_size must have {nd} or more "
                             f"elements, got {output_size!r}")
        out = []
        for i in range(nd):
            lo = ((input.shape[-nd + i] - 1) * self.stride[i] - 2 * self.padding[i]
                  + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            extra = int(size[i]) - lo
            if not 0 <= extra < self.stride[i]:
                raise ValueError(f"{type(self).__name__}: requested output size {tuple(size)} "
                                 f"is not reachable from input of shape {input.shape}")
            out.append(extra)
        return tuple(out)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        op = self._output_padding(input, output_size)
        f = FC.conv_transpose2d if self._nd == 2 else FC.conv_transpose1d
        return f(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                 self.dilation)


class ConvTranspose1d(ConvTranspose2d):
    """1-D transposed convolution over (N, C_in, L): weight (in_channels, out_channels/groups,
    k)."""

    _nd = 1


class Unfold(Module):
    """Sliding local blocks: (N, C, H, W) -> (N, C * kh * kw, L) (see F.unfold)."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = (kernel_size, dilation,
                                                                      padding, stride)

    def forward(self, input: Tensor) -> Tensor:
        return FC.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Sums sliding local blocks back into (N, C, *output_size) (see F.fold)."""

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size, self.dilation, self.padding, self.stride = (kernel_size, dilation,
                                                                      padding, stride)

    def forward(self, input: Tensor) -> Tensor:
        return FC.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                       self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


class Upsample(Module):
    """Resizes (N, C, L) or (N, C, H, W): nearest, linear or bilinear (see F.interpolate).
    Example: ``nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)``."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return FC.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                              self.recompute_scale_factor)

    def extra_repr(self) -> str:
        s = f"size={self.size}" if self.size is not None else \
            f"scale_factor={float(self.scale_factor)}"
        return s + f", mode='{self.mode}'"


class _ChannelDropout(Module):
    _spatial = 2

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: probability has to be between 0 and 1, "
                             f"but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return FC._channel_dropout(type(self).__name__, input, self.p, self.training,
                                   self._spatial)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_ChannelDropout):
    """Zeroes whole channels of (N, C, L) with probability p in training (scales by 1/(1-p))."""

    _spatial = 1


class Dropout2d(_ChannelDropout):
    """Zeroes whole channels of (N, C, H, W) with probability p in training (scales by
    1/(1-p))."""

    _spatial = 2
