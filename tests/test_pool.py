"""Pooling on both backends against PyTorch in float64 (values, indices, input gradients):
MaxPool1d/2d (padding, dilation, ceil_mode, return_indices), AvgPool1d/2d (count_include_pad,
ceil_mode, divisor_override), AdaptiveAvgPool1d/2d, AdaptiveMaxPool1d/2d; gradgradcheck, zero-size
batches and bad arguments."""

from __future__ import annotations

from typing import Any

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn
from fastgrad.nn import functional as F

f64 = fastgrad.float64


def _compare(ours: Any, theirs: Any, a: np.ndarray, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    x, tx = fastgrad.tensor(a, dtype=f64, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    if isinstance(ty, tuple):
        np.testing.assert_array_equal(y[1].numpy(), ty[1].numpy())
        assert y[1].dtype == fastgrad.int64
        y, ty = y[0], ty[0]
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    u = rng.standard_normal(y.shape)
    (y * fastgrad.tensor(u, dtype=f64)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


MAX2D = [
    {"kernel_size": 2},
    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1)},
    {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True},
    {"kernel_size": 2, "stride": 2, "ceil_mode": True, "return_indices": True},
    {"kernel_size": 3, "stride": 1, "padding": 1, "return_indices": True},
]


@pytest.mark.parametrize("kw", MAX2D)
def test_max_pool2d(backend: str, kw: dict, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    for shape in ((2, 3, 7, 6), (3, 5, 5)):
        _compare(nn.MaxPool2d(**kw), torch.nn.MaxPool2d(**kw), rng.standard_normal(shape), rng)


@pytest.mark.parametrize("kw", [{"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                 "return_indices": True}, {"kernel_size": 2, "dilation": 2}])
def test_max_pool1d(backend: str, kw: dict, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    _compare(nn.MaxPool1d(**kw), torch.nn.MaxPool1d(**kw), rng.standard_normal((2, 3, 8)), rng)


AVG2D = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False, "ceil_mode": True},
    {"kernel_size": (2, 3), "stride": 2, "padding": (1, 1), "ceil_mode": True},
    {"kernel_size": 2, "divisor_override": 3},
]


@pytest.mark.parametrize("kw", AVG2D)
def test_avg_pool2d(backend: str, kw: dict, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    _compare(nn.AvgPool2d(**kw), torch.nn.AvgPool2d(**kw), rng.standard_normal((2, 3, 7, 6)), rng)


def test_avg_pool1d(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    kw = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
          "count_include_pad": False}
    _compare(nn.AvgPool1d(**kw), torch.nn.AvgPool1d(**kw), rng.standard_normal((2, 3, 8)), rng)


@pytest.mark.parametrize("size", [1, (3, 2), (None, 4), 5])
def test_adaptive_2d(backend: str, size: Any, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    a = rng.standard_normal((2, 3, 7, 5))
    _compare(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), a, rng)
    _compare(nn.AdaptiveMaxPool2d(size, return_indices=True),
             torch.nn.AdaptiveMaxPool2d(size, return_indices=True), a, rng)


def test_adaptive_1d(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    a = rng.standard_normal((2, 3, 7))
    _compare(nn.AdaptiveAvgPool1d(3), torch.nn.AdaptiveAvgPool1d(3), a, rng)
    _compare(nn.AdaptiveMaxPool1d(4), torch.nn.AdaptiveMaxPool1d(4), a, rng)


def test_gradgradcheck(backend: str, rng: np.random.Generator) -> None:
    x = fastgrad.tensor(rng.standard_normal((1, 2, 5, 4)), dtype=f64, requires_grad=True)
    for layer in (nn.MaxPool2d(2, 1, padding=1), nn.AvgPool2d(3, 2, padding=1),
                  nn.AdaptiveAvgPool2d((2, 3))):
        assert fastgrad.gradcheck(layer, (x,))
        assert fastgrad.gradgradcheck(layer, (x,))


def test_zero_size_batch(backend: str) -> None:
    x = fastgrad.zeros(0, 3, 6, 6, dtype=f64, requires_grad=True)
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(2)):
        y = layer(x)
        assert y.shape == (0, 3, 3, 3) if not isinstance(layer, nn.AdaptiveAvgPool2d) else \
            y.shape == (0, 3, 2, 2)
        y.sum().backward()
        assert x.grad.shape == (0, 3, 6, 6)


def test_bad_arguments(backend: str) -> None:
    with pytest.raises(ValueError, match="MaxPool2d: padding"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match=r"MaxPool2d: expected a 3-D .* got shape \(4, 4\)"):
        nn.MaxPool2d(2)(fastgrad.zeros(4, 4))
    with pytest.raises(ValueError, match=r"AvgPool2d: input of shape \(1, 1, 2, 2\) is too small"):
        nn.AvgPool2d(3)(fastgrad.zeros(1, 1, 2, 2))
    with pytest.raises(TypeError, match="MaxPool1d: expected a floating-point"):
        nn.MaxPool1d(2)(fastgrad.zeros(1, 2, 4, dtype=fastgrad.int64))


def _pool_on_both_backends(a: np.ndarray, pool: Any) -> list:
    """(values, indices, input gradient of the sum) from each backend, checked equal."""
    outs = []
    for name in ("cpp", "python"):
        fastgrad.set_backend(name)
        try:
            x = fastgrad.tensor(a, requires_grad=True)
            y, i = pool(x)
            y.sum().backward()
            outs.append((y.detach().numpy(), i.numpy(), x.grad.numpy()))
        finally:
            fastgrad.set_backend("cpp")
    for u, v in zip(*outs):
        np.testing.assert_array_equal(u, v)
    return outs


def test_max_pool_ties_nan_and_backends(rng: np.random.Generator) -> None:
    # ties (a ReLU's zeros): the first maximum of each window takes the gradient, as PyTorch;
    # a NaN in a window gives NaN. Both backends agree on values, indices and gradients.
    a = np.maximum(rng.standard_normal((2, 3, 6, 7)), 0.0)
    a[0, 0, 1, 1] = np.nan
    outs = _pool_on_both_backends(
        a, lambda x: nn.MaxPool2d(3, 2, padding=1, return_indices=True, ceil_mode=True)(x))
    assert np.isnan(outs[0][0][0, 0, 0, 0]) and outs[0][1][0, 0, 0, 0] == 1 * 7 + 1
    torch = pytest.importorskip("torch")
    b = np.nan_to_num(a)
    tx = torch.tensor(b, requires_grad=True)
    ty, ti = torch.nn.functional.max_pool2d(tx, 3, 2, 1, ceil_mode=True, return_indices=True)
    ty.sum().backward()
    x = fastgrad.tensor(b, dtype=f64, requires_grad=True)
    y, i = F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
    y.sum().backward()
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1},
                                {"kernel_size": 3, "stride": 2}, {"kernel_size": 2, "stride": 3}])
def test_max_pool_unpadded_windows_ties_nan(dtype: str, kw: dict, rng: np.random.Generator) -> None:
    # Unpadded 2x2 and 3x3 windows take the C++ kernel's unrolled path: first maximum on ties,
    # NaN wins (a second NaN in the window does not move the index), as the reference does.
    a = np.maximum(rng.standard_normal((2, 3, 9, 8)), 0.0).astype(dtype)
    a[0, 0, 1, 1] = a[0, 0, 0, 1] = np.nan
    a[1, 2, 4, :] = -np.inf
    outs = _pool_on_both_backends(a, lambda x: F.max_pool2d(x, return_indices=True, **kw))
    assert np.isnan(outs[0][0][0, 0, 0, 0]) and outs[0][1][0, 0, 0, 0] == 1  # the first NaN
    torch = pytest.importorskip("torch")
    b = np.nan_to_num(a, posinf=np.inf, neginf=-np.inf)
    ty, ti = torch.nn.functional.max_pool2d(torch.tensor(b), return_indices=True, **kw)
    y, i = F.max_pool2d(fastgrad.tensor(b), return_indices=True, **kw)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
