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
    with pytest.raises(RuntimeError, match="BatchNorm2d: fastgrad runs on CPUs only"):
        nn.BatchNorm2d(3, device="cuda")


# --- h11-bn: the fused batch_norm_train primitive (training path of F.batch_norm) -------------
def _bn_case(shape: tuple, affine: bool, rng: np.random.Generator, dtype: Any = f64,
             backend: str | None = None) -> dict:
    """y, mean, invstd and the gradients of sum(y * u) from the primitive on one backend."""
    if backend is not None:
        fastgrad.set_backend(backend)
    c = shape[1]
    x = fastgrad.tensor(rng.standard_normal(shape) * 2 + 0.5, dtype=dtype, requires_grad=True)
    w = fastgrad.tensor(rng.standard_normal(c), dtype=dtype, requires_grad=True) if affine \
        else None
    b = fastgrad.tensor(rng.standard_normal(c), dtype=dtype, requires_grad=True) if affine \
        else None
    bk = x._b
    y, mean, invstd = bk.batch_norm_train(x._impl, None if w is None else w._impl,
                                          None if b is None else b._impl, 1e-5)
    y = _wrap(y, bk)
    u = fastgrad.tensor(rng.standard_normal(shape), dtype=dtype)
    (y * u).sum().backward()
    out = {"y": y.detach().numpy(), "mean": _wrap(mean, bk).numpy(),
           "invstd": _wrap(invstd, bk).numpy(), "dx": x.grad.numpy()}
    if affine:
        out["dw"], out["db"] = w.grad.numpy(), b.grad.numpy()
    return out


def _wrap(impl: Any, bk: Any) -> Any:
    from fastgrad.tensor import _wrap as w

    return w(impl, bk)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5), (3, 2, 4, 5), (2, 3, 17, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_backends_and_composite(shape: tuple, affine: bool) -> None:
    """The fused C++ primitive against the reference backend and against the composite."""
    from fastgrad import _backend
    from fastgrad.nn import _functional_conv as FC

    if "cpp" not in _backend.available():
        pytest.skip("no C++ backend")
    prev = fastgrad.get_backend()
    try:
        cpp = _bn_case(shape, affine, np.random.default_rng(7), backend="cpp")
        ref = _bn_case(shape, affine, np.random.default_rng(7), backend="python")
        for k in cpp:
            np.testing.assert_allclose(cpp[k], ref[k], rtol=1e-11, atol=1e-12, err_msg=k)
        # the composite path of F.batch_norm (the fused one switched off) gives the same
        for name in ("cpp", "python"):
            fastgrad.set_backend(name)
            r = np.random.default_rng(3)
            outs = []
            for fused in (True, False):
                a = r.standard_normal(shape)
                x = fastgrad.tensor(a, dtype=f64, requires_grad=True)
                w = fastgrad.tensor(np.arange(1.0, shape[1] + 1), dtype=f64, requires_grad=True)
                rm, rv = fastgrad.zeros(shape[1], dtype=f64), fastgrad.ones(shape[1], dtype=f64)
                keep = FC._fused_bn_ok
                if not fused:
                    FC._fused_bn_ok = lambda *args: False
                try:
                    y = nn.functional.batch_norm(x, rm, rv, w if affine else None,
                                                 w * 0.5 if affine else None, True, 0.3, 1e-3)
                finally:
                    FC._fused_bn_ok = keep
                (y * y * y).sum().backward()
                outs.append((y.detach().numpy(), x.grad.numpy(), rm.numpy(), rv.numpy(),
                             w.grad.numpy() if affine else 0))
                r = np.random.default_rng(3)
            for got, want in zip(*outs):
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    finally:
        fastgrad.set_backend(prev)


def test_batch_norm_train_threads_bitwise() -> None:
    """Statistics, y and every gradient bitwise identical at 1 and 2 threads (above the parallel
    threshold of 2**20 elements)."""
    from fastgrad import _backend

    if "cpp" not in _backend.available():
        pytest.skip("no C++ backend")
    prev, threads = fastgrad.get_backend(), fastgrad.get_num_threads()
    fastgrad.set_backend("cpp")
    try:
        res = []
        for n in (1, 2):
            fastgrad.set_num_threads(n)
            res.append(_bn_case((16, 4, 128, 128), True, np.random.default_rng(5),
                                dtype=fastgrad.float32))
        for k in res[0]:
            assert np.array_equal(res[0][k], res[1][k]), k
    finally:
        fastgrad.set_num_threads(threads)
        fastgrad.set_backend(prev)


@pytest.mark.parametrize("shape", [(4, 2), (3, 2, 3), (2, 2, 2, 3)])
def test_batch_norm_train_gradgradcheck(backend: str, shape: tuple,
                                        rng: np.random.Generator) -> None:
    x = fastgrad.tensor(rng.standard_normal(shape), dtype=f64, requires_grad=True)
    w = fastgrad.tensor(rng.standard_normal(shape[1]), dtype=f64, requires_grad=True)
    b = fastgrad.tensor(rng.standard_normal(shape[1]), dtype=f64, requires_grad=True)
    F = nn.functional

    def fn(x: Any, w: Any, b: Any) -> Any:
        return F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5)

    assert fastgrad.gradcheck(fn, (x, w, b))
    assert fastgrad.gradgradcheck(fn, (x, w, b))
    fn1 = lambda x: F.batch_norm(x, None, None, None, None, True)
    assert fastgrad.gradcheck(fn1, (x,))
    assert fastgrad.gradgradcheck(fn1, (x,))


def test_batch_norm_train_strided_input_and_expanded_grad(backend: str,
                                                          rng: np.random.Generator) -> None:
    """A permuted (non-contiguous) input, and the stride-0 gradient of y.sum(), against PyTorch."""
    torch = torch_or_skip()
    a = rng.standard_normal((3, 4, 5, 2))
    x = fastgrad.tensor(a, dtype=f64, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    w = fastgrad.tensor(np.linspace(0.5, 2, 5), dtype=f64, requires_grad=True)
    tw = torch.tensor(np.linspace(0.5, 2, 5), requires_grad=True)
    y = nn.functional.batch_norm(x.permute(0, 2, 1, 3), None, None, w, None, True)
    ty = torch.nn.functional.batch_norm(tx.permute(0, 2, 1, 3), None, None, tw, None, True)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 2, 2), (2, 3, 0, 2)])
def test_batch_norm_train_zero_size(backend: str, shape: tuple) -> None:
    """A zero-size batch: an empty y, running statistics untouched, num_batches_tracked counted,
    zero parameter gradients (as PyTorch)."""
    torch = torch_or_skip()
    layer = (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(3, dtype=f64)
    tlayer = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(
        3, dtype=torch.float64)
    x = fastgrad.zeros(*shape, dtype=f64, requires_grad=True)
    tx = torch.zeros(*shape, dtype=torch.float64, requires_grad=True)
    y, ty = layer(x), tlayer(tx)
    assert y.shape == tuple(ty.shape)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy(), tlayer.weight.grad.numpy())
    np.testing.assert_array_equal(layer.bias.grad.numpy(), tlayer.bias.grad.numpy())
    for (n, b), (_, tb) in zip(layer.named_buffers(), tlayer.named_buffers()):
        np.testing.assert_array_equal(b.numpy(), tb.numpy(), err_msg=n)


def test_batch_norm_train_bad_arguments(backend: str) -> None:
    x = fastgrad.zeros(2, 3, 4, dtype=f64)
    bk = x._b
    with pytest.raises(ValueError, match=r"batch_norm_train: weight of shape \(4,\) does not "
                                         r"match 3 channels of input of shape \(2, 3, 4\)"):
        bk.batch_norm_train(x._impl, fastgrad.zeros(4, dtype=f64)._impl, None, 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm_train: bias of shape \(3, 1\)"):
        bk.batch_norm_train(x._impl, None, fastgrad.zeros(3, 1, dtype=f64)._impl, 1e-5)
    with pytest.raises(TypeError, match="batch_norm_train: weight is float32, expected float64"):
        bk.batch_norm_train(x._impl, fastgrad.zeros(3)._impl, None, 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm_train: expected an input of at least 2 "
                                         r"dims \(N, C, \*\), got shape \(3,\)"):
        bk.batch_norm_train(fastgrad.zeros(3, dtype=f64)._impl, None, None, 1e-5)
    with pytest.raises(TypeError, match="batch_norm_train: expected a floating-point input"):
        bk.batch_norm_train(fastgrad.zeros(2, 3, dtype=fastgrad.int64)._impl, None, None, 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm: weight of shape \(2,\) does not match 3"):
        nn.functional.batch_norm(x, None, None, fastgrad.zeros(2, dtype=f64), None, True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.functional.batch_norm(fastgrad.zeros(1, 3, 1), None, None, None, None, True)
