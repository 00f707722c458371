"""Normalization layers: BatchNorm1d/2d, InstanceNorm1d/2d, LayerNorm, GroupNorm (torch.nn's names,
arguments, parameters, buffers and state_dict keys). Composites of Tensor ops (mean and variance
over dims), so both backends differentiate them to any order; BatchNorm's training mode runs the
fused batch_norm_train primitive (F.batch_norm), itself differentiable to any order.
"""

from __future__ import annotations

from typing import Any

from fastgrad import _creation
from fastgrad._device import check_device
from fastgrad._dtype import as_dtype, float32, int64
from fastgrad.autograd.grad_mode import no_grad
from fastgrad.nn import _functional_conv as FC
from fastgrad.nn import init
from fastgrad.nn.module import Module, Parameter
from fastgrad.tensor import Tensor


class _NormBase(Module):
    _dims: tuple[int, ...] = (2, 3)
    _what = "(N, C) or (N, C, L)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        d = as_dtype(dtype or float32)
        if affine:
            self.weight = Parameter(_creation.empty(num_features, dtype=d))
            self.bias = Parameter(_creation.empty(num_features, dtype=d))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _creation.zeros(num_features, dtype=d))
            self.register_buffer("running_var", _creation.ones(num_features, dtype=d))
            self.register_buffer("num_batches_tracked", _creation.zeros((), dtype=int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input(self, input: Tensor) -> None:
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: expected a Tensor, got "
                            f"{type(input).__name__}")
        if input.ndim not in self._dims:
            raise ValueError(f"{type(self).__name__}: expected a {self._what} input, got shape "
                             f"{input.shape}")
        c = input.shape[1] if input.ndim in self._dims else -1
        if c != self.num_features:
            raise ValueError(f"{type(self).__name__}: input of shape {input.shape} has {c} "
                             f"channels, expected num_features={self.num_features}")

    def _factor(self, count: bool = True) -> float:
        """The running-average factor of this step (counts the step when tracking and count)."""
        factor = 0.0 if self.momentum is None else float(self.momentum)
        if count and self.training and self.track_running_stats and \
                self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        return factor

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        factor = self._factor()
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_stats = not self.training or self.track_running_stats
        return FC.batch_norm(input, self.running_mean if use_stats else None,
                             self.running_var if use_stats else None, self.weight, self.bias,
                             bn_training, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) per channel.

    Parameters weight (ones) and bias (zeros) when affine; buffers running_mean, running_var and
    num_batches_tracked when track_running_stats. momentum=None: cumulative average. Example:
    ``nn.BatchNorm1d(16)(fastgrad.randn(8, 16))``.
    """

    _dims = (2, 3)
    _what = "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) per channel (see BatchNorm1d)."""

    _dims = (4,)
    _what = "4-D (N, C, H, W)"


class _InstanceNorm(_NormBase):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        unbatched = isinstance(input, Tensor) and input.ndim == self._dims[0] - 1
        if unbatched:
            input = input.unsqueeze(0)
        self._check_input(input)
        # PyTorch's instance norm never counts batches; momentum=None then means no update.
        factor = self._factor(count=False)
        use_input = self.training or not self.track_running_stats
        y = FC.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                             use_input, factor, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of (N, C, L) or (C, L) over L, per sample and channel."""

    _dims = (3,)
    _what = "3-D (N, C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of (N, C, H, W) or (C, H, W) over (H, W), per sample and channel.
    affine and track_running_stats default to False, as PyTorch."""

    _dims = (4,)
    _what = "4-D (N, C, H, W)"


class LayerNorm(Module):
    """Normalizes over the last dims given by normalized_shape; weight (ones) and bias (zeros) of
    that shape when elementwise_affine (bias=False drops the bias). Example:
    ``nn.LayerNorm(16)(fastgrad.randn(4, 16))``."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        check_device(device, "LayerNorm")
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(v) for v in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        d = as_dtype(dtype or float32)
        if elementwise_affine:
            self.weight = Parameter(_creation.ones(*self.normalized_shape, dtype=d))
            if bias:
                self.bias = Parameter(_creation.zeros(*self.normalized_shape, dtype=d))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        ns = self.normalized_shape
        if not isinstance(input, Tensor) or tuple(input.shape[input.ndim - len(ns):]) != ns:
            shape = getattr(input, "shape", None)
            raise ValueError(f"LayerNorm: input of shape {shape} does not end with "
                             f"normalized_shape {ns}")
        return FC.layer_norm(input, ns, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Normalizes (N, C, *) over groups of C / num_groups channels; per-channel weight (ones) and
    bias (zeros) when affine. Example: ``nn.GroupNorm(2, 8)(fastgrad.randn(4, 8, 5, 5))``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        check_device(device, "GroupNorm")
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels {num_channels} must be divisible by "
                             f"num_groups {num_groups}")
        self.num_groups = int(num_groups)
        self.num_channels = int(num_channels)
        self.eps = eps
        self.affine = affine
        d = as_dtype(dtype or float32)
        if affine:
            self.weight = Parameter(_creation.ones(num_channels, dtype=d))
            self.bias = Parameter(_creation.zeros(num_channels, dtype=d))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor) or input.ndim < 2 or \
                input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected an input (N, {self.num_channels}, *), got "
                             f"shape {getattr(input, 'shape', None)}")
        return FC.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


