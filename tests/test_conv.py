"""Convolution on both backends: the conv2d / conv_transpose2d / conv2d_weight primitives, F.conv1d,
F.conv2d, F.conv_transpose1d/2d and the Conv layers against PyTorch in float64 (outputs, input and
parameter gradients), C++ against the reference backend, gradcheck and gradgradcheck on tiny
sizes, padding modes through F.pad, zero-size batches and bad arguments."""

from __future__ import annotations

from typing import Any

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn
from fastgrad.nn import functional as F

f64 = fastgrad.float64
# PyTorch warns that it copies the input for asymmetric 'same' padding (as we do).
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


def _t(a: np.ndarray, grad: bool = True) -> fastgrad.Tensor:
    return fastgrad.tensor(a, dtype=f64, requires_grad=grad)


# (x shape, weight shape, kwargs): odd sizes, strides, dilation, groups, depthwise, 1x1
CASES_2D = [
    ((2, 3, 7, 6), (4, 3, 3, 2), {"stride": 1, "padding": (1, 0)}),
    ((2, 4, 9, 8), (6, 2, 3, 3), {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1),
                                  "groups": 2}),
    ((1, 4, 5, 5), (4, 1, 3, 3), {"padding": 1, "groups": 4}),
    ((2, 3, 4, 4), (5, 3, 1, 1), {}),
    ((2, 2, 6, 5), (3, 2, 2, 3), {"padding": "same", "dilation": (1, 2)}),
    ((2, 2, 6, 5), (3, 2, 3, 3), {"padding": "valid", "stride": 3}),
    ((3, 4, 5), (2, 3, 3, 3), {"padding": 1}),  # unbatched
]


def _check_against_torch(ours: Any, theirs: Any, arrays: list[np.ndarray], rng: Any) -> None:
    torch = torch_or_skip()
    xs = [_t(a) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = ours(*xs), theirs(*ts)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    u = rng.standard_normal(y.shape)
    (y * fastgrad.tensor(u, dtype=f64)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", range(len(CASES_2D)))
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_against_torch(backend: str, case: int, bias: bool,
                              rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    xs, ws, kw = CASES_2D[case]
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)]
    if bias:
        arrays.append(rng.standard_normal(ws[0]))
    _check_against_torch(lambda *a: F.conv2d(*a, **kw), lambda *a: torch.nn.functional.conv2d(
        *a, **kw), arrays, rng)


CASES_1D = [
    ((2, 3, 9), (4, 3, 3), {"stride": 2, "padding": 1}),
    ((2, 4, 7), (4, 1, 2), {"groups": 4, "dilation": 2, "padding": "same"}),
    ((3, 6), (2, 3, 3), {"groups": 1, "padding": 0}),
]


@pytest.mark.parametrize("case", range(len(CASES_1D)))
def test_conv1d_against_torch(backend: str, case: int, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    xs, ws, kw = CASES_1D[case]
    if len(xs) == 2:
        ws = (ws[0], xs[0], ws[2])
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])]
    _check_against_torch(lambda *a: F.conv1d(*a, **kw), lambda *a: torch.nn.functional.conv1d(
        *a, **kw), arrays, rng)


@pytest.mark.parametrize("nd,xs,ws,kw", [
    (2, (2, 4, 3, 4), (4, 3, 3, 2), {"stride": 2, "padding": 1, "output_padding": 1}),
    (2, (1, 4, 3, 3), (4, 1, 2, 2), {"groups": 2, "dilation": 2}),
    (1, (2, 3, 5), (3, 2, 3), {"stride": 3, "output_padding": 2, "padding": 1}),
])
def test_conv_transpose_against_torch(backend: str, nd: int, xs: tuple, ws: tuple, kw: dict,
                                      rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    ours = F.conv_transpose2d if nd == 2 else F.conv_transpose1d
    theirs = torch.nn.functional.conv_transpose2d if nd == 2 else \
        torch.nn.functional.conv_transpose1d
    c_out = ws[1] * kw.get("groups", 1)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(c_out)]
    _check_against_torch(lambda *a: ours(*a, **kw), lambda *a: theirs(*a, **kw), arrays, rng)


def test_backends_agree(rng: np.random.Generator) -> None:
    for xs, ws, kw in CASES_2D:
        a, b = rng.standard_normal(xs), rng.standard_normal(ws)
        outs = []
        for name in ("cpp", "python"):
            fastgrad.set_backend(name)
            try:
                x, w = _t(a), _t(b)
                y = F.conv2d(x, w, **kw)
                (y * y).sum().backward()
                outs.append((y.detach().numpy(), x.grad.numpy(), w.grad.numpy()))
            finally:
                fastgrad.set_backend("cpp")
        for u, v in zip(*outs):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def test_float32_matches_float64(backend: str, rng: np.random.Generator) -> None:
    a, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    y32 = F.conv2d(fastgrad.tensor(a.astype(np.float32)), fastgrad.tensor(b.astype(np.float32)),
                   padding=1)
    y64 = F.conv2d(_t(a, False), _t(b, False), padding=1)
    assert y32.dtype == fastgrad.float32
    np.testing.assert_allclose(y32.detach().numpy(), y64.detach().numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kw", [{"stride": 2, "padding": 1}, {"dilation": 2, "groups": 2}])
def test_gradcheck_and_gradgradcheck(backend: str, kw: dict, rng: np.random.Generator) -> None:
    x = _t(rng.standard_normal((1, 2, 5, 4)))
    w = _t(rng.standard_normal((2, 2 // kw.get("groups", 1), 2, 2)))
    b = _t(rng.standard_normal(2))
    fn = lambda x, w, b: F.conv2d(x, w, b, **kw)
    assert fastgrad.gradcheck(fn, (x, w, b))
    assert fastgrad.gradgradcheck(fn, (x, w, b))
    ft = lambda x, w: F.conv_transpose2d(x, w, stride=2)
    assert fastgrad.gradgradcheck(ft, (_t(rng.standard_normal((1, 2, 2, 3))),
                                       _t(rng.standard_normal((2, 1, 2, 2)))))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv2d_layer_against_torch(backend: str, mode: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    layer = nn.Conv2d(2, 4, (3, 2), stride=(1, 2), padding=(1, 1), padding_mode=mode, dtype=f64)
    tl = torch.nn.Conv2d(2, 4, (3, 2), stride=(1, 2), padding=(1, 1), padding_mode=mode,
                         dtype=torch.float64)
    assert layer.weight.shape == tuple(tl.weight.shape) and layer.bias.shape == (4,)
    assert list(layer.state_dict()) == list(tl.state_dict())
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(layer.weight.detach().numpy()))
        tl.bias.copy_(torch.tensor(layer.bias.detach().numpy()))
    a = rng.standard_normal((2, 2, 5, 6))
    x, tx = _t(a), torch.tensor(a, requires_grad=True)
    y, ty = layer(x), tl(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.weight.grad.numpy(), tl.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.bias.grad.numpy(), tl.bias.grad.numpy(), rtol=1e-10)
    assert repr(layer) == repr(tl)


def test_conv1d_same_and_transpose_layers(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    c = nn.Conv1d(3, 4, 4, padding="same", dilation=1, bias=False, dtype=f64)
    tc = torch.nn.Conv1d(3, 4, 4, padding="same", bias=False, dtype=torch.float64)
    assert c.bias is None and list(c.state_dict()) == ["weight"]
    with torch.no_grad():
        tc.weight.copy_(torch.tensor(c.weight.detach().numpy()))
    a = rng.standard_normal((2, 3, 7))
    np.testing.assert_allclose(c(_t(a)).detach().numpy(), tc(torch.tensor(a)).detach().numpy(),
                               rtol=1e-10, atol=1e-10)
    t = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2, dtype=f64)
    tt = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2, dtype=torch.float64)
    assert t.weight.shape == tuple(tt.weight.shape) == (4, 3, 3, 3)
    with torch.no_grad():
        tt.weight.copy_(torch.tensor(t.weight.detach().numpy()))
        tt.bias.copy_(torch.tensor(t.bias.detach().numpy()))
    a = rng.standard_normal((1, 4, 3, 4))
    y = t(_t(a), output_size=(6, 8))
    ty = tt(torch.tensor(a), output_size=(6, 8))
    assert y.shape == (1, 6, 6, 8)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_default_init_bounds(backend: str) -> None:
    fastgrad.manual_seed(0)
    c = nn.Conv2d(4, 8, 3)
    bound = 1 / np.sqrt(4 * 9)
    assert c.weight.shape == (8, 4, 3, 3) and c.weight.dtype == fastgrad.float32
    assert np.abs(c.weight.detach().numpy()).max() <= bound + 1e-7
    assert np.abs(c.bias.detach().numpy()).max() <= bound + 1e-7
    assert np.abs(c.weight.detach().numpy()).max() > bound / 2


def test_zero_size_batch(backend: str) -> None:
    x = fastgrad.zeros(0, 3, 5, 5, dtype=f64, requires_grad=True)
    w = fastgrad.ones(4, 3, 3, 3, dtype=f64, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (0, 4, 5, 5)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((4, 3, 3, 3)))


def test_bad_arguments(backend: str) -> None:
    x = fastgrad.zeros(1, 3, 5, 5)
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(1, 3, 5, 5\)"):
        F.conv2d(x, fastgrad.zeros(4, 2, 3, 3))
    with pytest.raises(ValueError, match="conv2d.*smaller than the kernel"):
        F.conv2d(x, fastgrad.zeros(4, 3, 7, 7))
    with pytest.raises(ValueError, match="conv2d: expected a 3-D"):
        F.conv2d(fastgrad.zeros(5, 5), fastgrad.zeros(4, 3, 3, 3))
    with pytest.raises(TypeError, match="conv2d: input dtype"):
        F.conv2d(x, fastgrad.zeros(4, 3, 3, 3, dtype=f64))
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(x, fastgrad.zeros(4, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv2d: in_channels 3 must be divisible by groups 2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="conv_transpose2d: output_padding"):
        F.conv_transpose2d(x, fastgrad.zeros(3, 2, 3, 3), output_padding=1)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_against_torch(backend: str, mode: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    a = rng.standard_normal((2, 3, 4, 5))
    pads = (2, 1, 1, 3) if mode != "constant" else (2, -1, 0, 3)
    kw = {"value": 1.5} if mode == "constant" else {}
    _check_against_torch(lambda x: F.pad(x, pads, mode=mode, **kw),
                         lambda x: torch.nn.functional.pad(x, pads, mode=mode, **kw), [a], rng)


@pytest.mark.parametrize("groups,stride", [(1, 1), (3, 1), (3, 2)])
def test_blocked_and_threaded_paths(groups: int, stride: int, rng: np.random.Generator) -> None:
    # 3 x 3 x 3 taps x 70 x 70 positions exceed one patch block (kernels/conv.cpp kColElems), and
    # 2 images run on threads (groups=3: the direct depthwise kernel, planes on threads): same
    # values as the reference, bitwise equal for 1 and 2 threads.
    out = 5 if groups == 1 else 3
    a, b = rng.standard_normal((2, 3, 72, 72)), rng.standard_normal((out, 3 // groups, 3, 3))
    kw = {"groups": groups, "stride": stride, "padding": 1}
    fastgrad.set_backend("python")
    try:
        x, w = _t(a), _t(b)
        y = F.conv2d(x, w, **kw)
        (y * y).sum().backward()
        ref = (y.detach().numpy(), x.grad.numpy(), w.grad.numpy())
    finally:
        fastgrad.set_backend("cpp")
    prev = fastgrad.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            fastgrad.set_num_threads(threads)
            x, w = _t(a), _t(b)
            y = F.conv2d(x, w, **kw)
            (y * y).sum().backward()
            runs.append((y.detach().numpy(), x.grad.numpy(), w.grad.numpy()))
    finally:
        fastgrad.set_num_threads(prev)
    for u, v, r in zip(runs[0], runs[1], ref):
        np.testing.assert_array_equal(u, v)
        np.testing.assert_allclose(u, r, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("kw", [
    {"size": (5, 7), "mode": "nearest"}, {"scale_factor": 2, "mode": "nearest"},
    {"scale_factor": 1.5, "mode": "bilinear"}, {"size": (3, 8), "mode": "bilinear"},
    {"size": (6, 2), "mode": "bilinear", "align_corners": True},
    {"scale_factor": 2, "mode": "bilinear", "align_corners": True},
])
def test_interpolate_against_torch(backend: str, kw: dict, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    a = rng.standard_normal((2, 3, 4, 5))
    _check_against_torch(lambda x: nn.Upsample(**kw)(x), lambda x: torch.nn.Upsample(**kw)(x),
                         [a], rng)


def test_interpolate_linear_1d(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    a = rng.standard_normal((2, 3, 5))
    for kw in ({"size": 8, "mode": "linear"}, {"scale_factor": 3, "mode": "nearest"}):
        _check_against_torch(lambda x, kw=kw: F.interpolate(x, **kw),
                             lambda x, kw=kw: torch.nn.functional.interpolate(x, **kw), [a], rng)


@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": (2, 3), "stride": 2,
                                                     "padding": 1, "dilation": (1, 2)}])
def test_unfold_fold_against_torch(backend: str, kw: dict, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    a = rng.standard_normal((2, 3, 5, 6))
    _check_against_torch(lambda x: nn.Unfold(**kw)(x), lambda x: torch.nn.Unfold(**kw)(x), [a],
                         rng)
    cols = torch.nn.functional.unfold(torch.tensor(a), **kw)
    _check_against_torch(lambda x: nn.Fold((5, 6), **kw)(x),
                         lambda x: torch.nn.Fold((5, 6), **kw)(x), [cols.numpy()], rng)
    with pytest.raises(ValueError, match="fold: input of shape"):
        F.fold(fastgrad.zeros(1, 5, 4), (5, 6), 2)


def test_channel_dropout(backend: str) -> None:
    fastgrad.manual_seed(0)
    x = fastgrad.ones(4, 8, 3, 3)
    d = nn.Dropout2d(0.5)
    y = d(x).numpy()
    per_channel = y.reshape(4, 8, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel == 0).all(-1).sum() < 32
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())
    y1 = nn.Dropout1d(0.25)(fastgrad.ones(3, 6, 5)).numpy()
    assert np.all((y1 == 0).all(-1) | np.isclose(y1, 1 / 0.75).all(-1))
    with pytest.raises(ValueError, match="Dropout2d: expected a 3-D"):
        nn.Dropout2d()(fastgrad.ones(2))


def test_dropout2d_on_2d_input_drops_rows_with_a_warning(backend: str) -> None:
    """PyTorch's deprecated path (pytorch/examples' mnist_rnn uses it): a 2-D (N, C) input to
    Dropout2d warns and zeroes whole rows, scaling the others by 1 / (1 - p)."""
    fastgrad.manual_seed(0)
    x = fastgrad.ones(64, 5)
    with pytest.warns(UserWarning, match="2-D input to dropout2d"):
        y = fastgrad.nn.Dropout2d(0.5)(x).numpy()
    rows = {tuple(r) for r in y}
    assert rows <= {(0.0,) * 5, (2.0,) * 5} and len(rows) == 2
    with pytest.raises(ValueError, match="dropout1d"):
        fastgrad.nn.functional.dropout1d(fastgrad.ones(3), 0.5)
