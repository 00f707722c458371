"""Normalization layers on both backends against PyTorch in float64: BatchNorm1d/2d (train and
eval, running statistics, momentum None, affine, track_running_stats, num_batches_tracked),
LayerNorm, GroupNorm, InstanceNorm1d/2d; outputs, input and parameter gradients, buffers and
state_dict keys; gradgradcheck, zero-size inputs and bad arguments."""

from __future__ import annotations

from typing import Any

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn

f64 = fastgrad.float64


def _run(layer: Any, tlayer: Any, a: np.ndarray, rng: np.random.Generator, steps: int = 2) -> None:
    """Copies tlayer's parameters into layer, then steps forward+backward on both and compares."""
    torch = torch_or_skip()
    assert list(layer.state_dict()) == list(tlayer.state_dict())
    for (_, p), (_, tp) in zip(layer.named_parameters(), tlayer.named_parameters()):
        with torch.no_grad():
            tp.copy_(torch.tensor(rng.standard_normal(tuple(tp.shape))))
        with fastgrad.no_grad():
            p.copy_(fastgrad.tensor(tp.detach().numpy()))
    for _ in range(steps):
        x, tx = fastgrad.tensor(a, dtype=f64, requires_grad=True), torch.tensor(a,
                                                                                requires_grad=True)
        y, ty = layer(x), tlayer(tx)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10,
                                   atol=1e-10)
        u = rng.standard_normal(y.shape)
        (y * fastgrad.tensor(u, dtype=f64)).sum().backward()
        (ty * torch.tensor(u)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-10)
        a = a * 1.5 + 0.25
    for (n, p), (_, tp) in zip(layer.named_parameters(), tlayer.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-10)
    for (n, b), (_, tb) in zip(layer.named_buffers(), tlayer.named_buffers()):
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-12, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("kw", [{}, {"momentum": None}, {"affine": False},
                                {"track_running_stats": False}, {"momentum": 0.3, "eps": 1e-3}])
def test_batchnorm2d(backend: str, kw: dict, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    layer = nn.BatchNorm2d(3, dtype=f64, **kw)
    tlayer = torch.nn.BatchNorm2d(3, dtype=torch.float64, **kw)
    a = rng.standard_normal((4, 3, 3, 2))
    _run(layer, tlayer, a, rng, steps=3)
    layer.eval()
    tlayer.eval()
    _run(layer, tlayer, a, rng, steps=1)


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 5)])
def test_batchnorm1d(backend: str, shape: tuple, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    layer, tlayer = nn.BatchNorm1d(4, dtype=f64), torch.nn.BatchNorm1d(4, dtype=torch.float64)
    _run(layer, tlayer, rng.standard_normal(shape), rng)
    layer.eval()
    tlayer.eval()
    _run(layer, tlayer, rng.standard_normal(shape), rng, steps=1)
    assert int(layer.num_batches_tracked.item()) == 2


@pytest.mark.parametrize("kw", [{}, {"elementwise_affine": False}, {"bias": False}])
def test_layernorm(backend: str, kw: dict, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    _run(nn.LayerNorm((3, 4), dtype=f64, **kw),
         torch.nn.LayerNorm((3, 4), dtype=torch.float64, **kw),
         rng.standard_normal((2, 5, 3, 4)), rng)


@pytest.mark.parametrize("kw", [{}, {"affine": False}])
def test_groupnorm(backend: str, kw: dict, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    _run(nn.GroupNorm(2, 6, dtype=f64, **kw), torch.nn.GroupNorm(2, 6, dtype=torch.float64, **kw),
         rng.standard_normal((3, 6, 2, 3)), rng)


@pytest.mark.parametrize("kw", [{}, {"affine": True}, {"track_running_stats": True}])
def test_instancenorm(backend: str, kw: dict, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    layer = nn.InstanceNorm2d(3, dtype=f64, **kw)
    tlayer = torch.nn.InstanceNorm2d(3, dtype=torch.float64, **kw)
    a = rng.standard_normal((2, 3, 4, 3))
    _run(layer, tlayer, a, rng)
    layer.eval()
    tlayer.eval()
    _run(layer, tlayer, a, rng, steps=1)
    _run(nn.InstanceNorm1d(3, dtype=f64, **kw),
         torch.nn.InstanceNorm1d(3, dtype=torch.float64, **kw), rng.standard_normal((2, 3, 5)), rng)


def test_gradgradcheck(backend: str, rng: np.random.Generator) -> None:
    x = fastgrad.tensor(rng.standard_normal((3, 2, 2, 2)), dtype=f64, requires_grad=True)
    for layer in (nn.BatchNorm2d(2, dtype=f64), nn.GroupNorm(1, 2, dtype=f64),
                  nn.LayerNorm(2, dtype=f64)):
        fn = lambda x, layer=layer: layer(x)
        assert fastgrad.gradcheck(fn, (x,))
        assert fastgrad.gradgradcheck(fn, (x,))


def test_zero_size_and_bad_arguments(backend: str) -> None:
    ln = nn.LayerNorm(4)
    assert ln(fastgrad.zeros(0, 4)).shape == (0, 4)
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4-D .* got shape \(2, 3\)"):
        bn(fastgrad.zeros(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm2d: input of shape \(2, 4, 1, 1\) has 4"):
        bn(fastgrad.zeros(2, 4, 1, 1))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(fastgrad.zeros(1, 3))
    with pytest.raises(ValueError, match="GroupNorm: num_channels 5 must be divisible"):
        nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match="LayerNorm: input of shape"):
        ln(fastgrad.zeros(2, 3))
    with pytest.raises(ValueError, match="CPU only"):
        nn.BatchNorm2d(3, device="cuda")
