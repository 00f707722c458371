"""The fused convolution epilogue: conv2d_fused (bias and ReLU applied as the GEMM stores each
output tile), F.conv2d with a bias and nn.intrinsic.ConvReLU1d/2d, against the unfused composition
(bitwise on the C++ backend), PyTorch in float64, the reference backend, gradcheck and
gradgradcheck; the implicit-GEMM convolution kernels against the reference backend and across
thread counts."""

from __future__ import annotations

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn
from fastgrad.nn import _functional_conv as FC
from fastgrad.nn import functional as F
from fastgrad.nn.intrinsic import ConvReLU1d, ConvReLU2d

f64 = fastgrad.float64

# (x shape, weight shape, kwargs): K = C/groups*KH*KW above one k block (288), edge tiles,
# strides, dilation, groups, depthwise, 1x1, padding wider than the kernel's reach
CASES = [
    ((2, 32, 7, 9), (7, 32, 3, 3), {"padding": 1}),
    ((2, 4, 9, 8), (6, 2, 3, 3), {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1),
                                  "groups": 2}),
    ((2, 5, 6, 5), (5, 1, 3, 3), {"padding": 1, "groups": 5}),
    ((3, 6, 4, 5), (20, 6, 1, 1), {}),
    ((1, 3, 5, 4), (4, 3, 2, 3), {"stride": 2, "padding": 3}),
]


def _unfused(x, w, b, kw, relu=True):  # type: ignore[no-untyped-def]
    y = F.conv2d(x, w, None, **kw)
    if b is not None:
        y = y + b.reshape(-1, 1, 1)
    return F.relu(y) if relu else y


def _fused(x, w, b, kw):  # type: ignore[no-untyped-def]
    """relu(conv2d(x, w, b)) as one conv2d_fused (the path of nn.intrinsic.ConvReLU2d)."""
    return FC._conv("conv2d", 2, x, w, b, kw.get("stride", 1), kw.get("padding", 0),
                    kw.get("dilation", 1), kw.get("groups", 1), _relu=True)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("bias", [False, True])
def test_fused_equals_unfused_bitwise_float32(backend: str, case: int, bias: bool,
                                              rng: np.random.Generator) -> None:
    xs, ws, kw = CASES[case]
    x = fastgrad.tensor(rng.standard_normal(xs).astype(np.float32), requires_grad=True)
    w = fastgrad.tensor(rng.standard_normal(ws).astype(np.float32), requires_grad=True)
    b = fastgrad.tensor(rng.standard_normal(ws[0]).astype(np.float32), requires_grad=True) \
        if bias else None
    y = _fused(x, w, b, kw)
    y0 = _unfused(x, w, b, kw)
    # the same additions in the same order: bitwise equal (bias, then relu, on the conv's sum)
    np.testing.assert_array_equal(y.detach().numpy(), y0.detach().numpy())
    yb = F.conv2d(x, w, b, **kw)  # bias only, in the epilogue
    np.testing.assert_array_equal(yb.detach().numpy(), _unfused(x, w, b, kw, False).detach().numpy())
    u = fastgrad.tensor(rng.standard_normal(y.shape).astype(np.float32))
    params = [x, w] + ([b] if bias else [])
    g1 = fastgrad.autograd.grad((y * u).sum(), params)
    g0 = fastgrad.autograd.grad((y0 * u).sum(), params)
    for a, c in zip(g1, g0):
        np.testing.assert_array_equal(a.numpy(), c.numpy())


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fused_against_torch_and_reference(case: int, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    xs, ws, kw = CASES[case]
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])]
    u = rng.standard_normal((1,))
    results = {}
    for be in ("cpp", "python"):
        if be not in fastgrad._backend.available():
            continue
        prev = fastgrad.get_backend()
        fastgrad.set_backend(be)
        try:
            ts = [fastgrad.tensor(a, dtype=f64, requires_grad=True) for a in arrays]
            y = _fused(*ts, kw)
            u = rng.standard_normal(y.shape) if u.shape != y.shape else u
            (y * fastgrad.tensor(u, dtype=f64)).sum().backward()
            results[be] = [y.detach().numpy()] + [t.grad.numpy() for t in ts]
        finally:
            fastgrad.set_backend(prev)
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ty = torch.relu(torch.nn.functional.conv2d(tt[0], tt[1], tt[2], **kw))
    (ty * torch.tensor(u)).sum().backward()
    want = [ty.detach().numpy()] + [t.grad.numpy() for t in tt]
    for got in results.values():
        for a, c in zip(got, want):
            np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("bias", [False, True])
def test_fused_gradcheck_gradgradcheck(backend: str, bias: bool, rng: np.random.Generator) -> None:
    kw = {"stride": 2, "padding": 1}
    x = fastgrad.tensor(rng.standard_normal((1, 2, 5, 4)), dtype=f64, requires_grad=True)
    w = fastgrad.tensor(rng.standard_normal((3, 2, 2, 2)), dtype=f64, requires_grad=True)
    args = (x, w)
    if bias:
        args += (fastgrad.tensor(rng.standard_normal(3), dtype=f64, requires_grad=True),)
    fn = lambda x, w, b=None: _fused(x, w, b, kw)
    assert fastgrad.gradcheck(fn, args)
    assert fastgrad.gradgradcheck(fn, args)


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_conv_relu2d_module_against_torch(backend: str, mode: str,
                                          rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode).double()
    m = ConvReLU2d(conv, nn.ReLU())
    assert list(m.state_dict()) == ["0.weight", "0.bias"]
    tm = torch.ao.nn.intrinsic.ConvReLU2d(
        torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode).double(), torch.nn.ReLU())
    tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    a = rng.standard_normal((2, 3, 5, 6))
    x = fastgrad.tensor(a, dtype=f64, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = m(x), tm(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    for p, tp in zip(m.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_conv_relu1d_and_hooks(backend: str, rng: np.random.Generator) -> None:
    conv = nn.Conv1d(2, 3, 3, padding="same").double()
    m = ConvReLU1d(conv, nn.ReLU())
    x = fastgrad.tensor(rng.standard_normal((2, 2, 7)), dtype=f64)
    want = F.relu(conv(x)).detach().numpy()
    np.testing.assert_allclose(m(x).detach().numpy(), want, rtol=1e-12, atol=1e-12)
    seen = []
    conv.register_forward_hook(lambda mod, i, o: seen.append(o.shape))
    np.testing.assert_allclose(m(x).detach().numpy(), want, rtol=1e-12, atol=1e-12)
    assert seen == [(2, 3, 7)]  # a hooked conv runs unfused, so its hook sees its output


def test_bad_arguments(backend: str) -> None:
    with pytest.raises(TypeError, match="ConvReLU2d"):
        ConvReLU2d(nn.Linear(2, 2), nn.ReLU())
    with pytest.raises(TypeError, match="ConvReLU2d"):
        ConvReLU2d(nn.Conv2d(2, 2, 1), nn.Tanh())
    x, w = fastgrad.randn(1, 2, 4, 4), fastgrad.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match=r"conv2d: bias of shape \(2,\)"):
        F.conv2d(x, w, fastgrad.randn(2))
    with pytest.raises(TypeError, match="conv2d"):
        F.conv2d(x, w, fastgrad.randn(3, dtype=f64))
    b = fastgrad.randn(3)
    with pytest.raises(ValueError, match="conv2d_fused"):  # the primitive checks too
        x._b.conv2d_fused(x._impl, w._impl, fastgrad.randn(2)._impl, [1, 1], [0, 0], [1, 1], 1,
                          True)
    assert F.conv2d(x, w, b).shape == (1, 3, 2, 2)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_kernels_thread_count_and_reference(case: int, rng: np.random.Generator) -> None:
    """Forward (fused), weight and input gradient: bitwise the same on 1 and 2 threads, and close
    to the reference backend (float32, its own summation order)."""
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("no C++ backend")
    xs, ws, kw = CASES[case]
    xs = (8,) + xs[1:]  # enough images for the threaded paths
    arrays = [rng.standard_normal(xs).astype(np.float32),
              rng.standard_normal(ws).astype(np.float32),
              rng.standard_normal(ws[0]).astype(np.float32)]
    prev_b, prev_t = fastgrad.get_backend(), fastgrad.get_num_threads()
    out = {}
    try:
        for be, threads in (("cpp", 1), ("cpp", 2), ("python", 1)):
            fastgrad.set_backend(be)
            fastgrad.set_num_threads(threads)
            ts = [fastgrad.tensor(a, requires_grad=True) for a in arrays]
            y = _fused(*ts, kw)
            (y * y).sum().backward()
            out[(be, threads)] = [y.detach().numpy()] + [t.grad.numpy() for t in ts]
    finally:
        fastgrad.set_backend(prev_b)
        fastgrad.set_num_threads(prev_t)
    for a, c in zip(out[("cpp", 1)], out[("cpp", 2)]):
        np.testing.assert_array_equal(a, c)
    for a, c in zip(out[("cpp", 1)], out[("python", 1)]):
        np.testing.assert_allclose(a, c, rtol=2e-4, atol=2e-3 * max(1.0, np.abs(c).max()))
