"""Pooling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, AdaptiveMaxPool1d/2d
(torch.nn's names and arguments; no parameters). Each forward is one call into nn.functional.
"""

from __future__ import annotations

from typing import Any

from fastgrad.nn import _functional_conv as FC
from fastgrad.nn.module import Module
from fastgrad.tensor import Tensor


class _MaxPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        FC._pool_args(type(self).__name__, self._nd, kernel_size, stride, padding, dilation)

    def forward(self, input: Tensor) -> Any:
        return FC._max_pool(type(self).__name__, self._nd, input, self.kernel_size, self.stride,
                            self.padding, self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPoolNd):
    """Max over kH x kW windows of (N, C, H, W). Example: ``nn.MaxPool2d(2)``."""


class MaxPool1d(_MaxPoolNd):
    """Max over windows of length k of (N, C, L)."""

    _nd = 1


class _AvgPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        FC._pool_args(type(self).__name__, self._nd, kernel_size, stride, padding, 1)

    def forward(self, input: Tensor) -> Tensor:
        return FC._avg_pool(type(self).__name__, self._nd, input, self.kernel_size, self.stride,
                            self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """Mean over kH x kW windows of (N, C, H, W). Example: ``nn.AvgPool2d(2)``."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override)


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of length k of (N, C, L)."""

    _nd = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, None)


class _AdaptiveNd(Module):
    _nd = 2
    _max = False

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        if self._max:
            return FC._adaptive_max(type(self).__name__, self._nd, input, self.output_size,
                                    self.return_indices)
        return FC._adaptive_avg(type(self).__name__, self._nd, input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptiveNd):
    """Average pooling of (N, C, H, W) to output_size (int, pair, None keeps a dim)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__(output_size)


class AdaptiveAvgPool1d(_AdaptiveNd):
    """Average pooling of (N, C, L) to output_size."""

    _nd = 1

    def __init__(self, output_size: Any) -> None:
        super().__init__(output_size)


class AdaptiveMaxPool2d(_AdaptiveNd):
    """Max pooling of (N, C, H, W) to output_size."""

    _max = True


class AdaptiveMaxPool1d(_AdaptiveNd):
    """Max pooling of (N, C, L) to output_size."""

    _nd = 1
    _max = True
