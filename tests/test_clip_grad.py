"""fastgrad.nn.utils: clip_grad_norm_ (norm types 2, 1, inf, 0.5, 3) and clip_grad_value_ against
PyTorch, on both backends; error_if_nonfinite; the fused norm kernel against NumPy and across
thread counts; parameters_to_vector / vector_to_parameters."""

from __future__ import annotations

import math
from typing import Any

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn
from fastgrad.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)

SHAPES = [(3, 4), (7,), (2, 2, 2)]


def _params(dtype: Any, scale: float = 1.0) -> tuple[list, list]:
    rng = np.random.default_rng(0)
    ps, gs = [], []
    for s in SHAPES:
        p = nn.Parameter(fastgrad.tensor(rng.standard_normal(s).astype(dtype.np)))
        g = (scale * rng.standard_normal(s)).astype(dtype.np)
        p.grad = fastgrad.tensor(g)
        ps.append(p)
        gs.append(g)
    return ps, gs


@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, "inf", 0.5, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(backend: str, norm_type: Any, max_norm: float) -> None:
    torch = torch_or_skip()
    ps, gs = _params(fastgrad.float64)
    tps = []
    for p, g in zip(ps, gs):
        tp = torch.nn.Parameter(torch.from_numpy(np.array(p.detach())))
        tp.grad = torch.from_numpy(g.copy())
        tps.append(tp)
    norm = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    tnorm = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert isinstance(norm, fastgrad.Tensor) and norm.shape == ()
    np.testing.assert_allclose(float(norm), float(tnorm), rtol=1e-13)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(np.asarray(p.grad), tp.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_float32_and_generator_and_single_tensor(backend: str) -> None:
    ps, gs = _params(fastgrad.float32, scale=10.0)
    expected = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in gs))
    norm = clip_grad_norm_((p for p in ps), 1.0)
    assert norm.dtype == fastgrad.float32
    np.testing.assert_allclose(float(norm), expected, rtol=1e-6)
    after = math.sqrt(sum(float((np.asarray(p.grad, np.float64) ** 2).sum()) for p in ps))
    np.testing.assert_allclose(after, 1.0, rtol=1e-5)
    p = ps[0]
    n0 = float(clip_grad_norm_(p, 100.0))  # a lone tensor; below max_norm: unchanged
    np.testing.assert_allclose(n0, np.linalg.norm(np.asarray(p.grad, np.float64)), rtol=1e-6)
    assert float(clip_grad_norm_([nn.Parameter(fastgrad.ones(2))], 1.0)) == 0.0  # no grads


def test_nonfinite(backend: str) -> None:
    ps, _ = _params(fastgrad.float64)
    g = np.asarray(ps[1].grad).copy()
    g[2] = np.inf
    ps[1].grad = fastgrad.tensor(g)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    g[2] = np.nan
    ps[1].grad = fastgrad.tensor(g)
    assert math.isnan(float(clip_grad_norm_(ps, 1.0)))
    assert np.isnan(np.asarray(ps[0].grad)).all()  # scaled by NaN, as PyTorch does


def test_clip_grad_value_matches_torch(backend: str) -> None:
    torch = torch_or_skip()
    ps, gs = _params(fastgrad.float64)
    tps = []
    for g in gs:
        tp = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64))
        tp.grad = torch.from_numpy(g.copy())
        tps.append(tp)
    clip_grad_value_(ps, 0.3)
    torch.nn.utils.clip_grad_value_(tps, 0.3)
    for p, tp in zip(ps, tps):
        np.testing.assert_array_equal(np.asarray(p.grad), tp.grad.numpy())


def test_norm_kernel_large_and_thread_independent() -> None:
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("no C++ backend")
    prev_b, prev_t = fastgrad.get_backend(), fastgrad.get_num_threads()
    fastgrad.set_backend("cpp")
    try:
        rng = np.random.default_rng(1)
        xs = [rng.standard_normal(n).astype(np.float32) for n in (1 << 20, 12345, 3)]
        ts = [fastgrad.tensor(x) for x in xs]
        out = {}
        for threads in (1, 2):
            fastgrad.set_num_threads(threads)
            out[threads] = [float(get_total_norm(ts, o)) for o in (2.0, 1.0, math.inf, 3.0)]
        assert out[1] == out[2]
        ref = np.concatenate(xs).astype(np.float64)
        np.testing.assert_allclose(out[1], [np.linalg.norm(ref), np.abs(ref).sum(),
                                            np.abs(ref).max(), np.linalg.norm(ref, 3)],
                                   rtol=1e-6)
    finally:
        fastgrad.set_num_threads(prev_t)
        fastgrad.set_backend(prev_b)


def test_expanded_gradient_is_scaled_safely(backend: str) -> None:
    p = nn.Parameter(fastgrad.ones(3, 4))
    p.sum().backward()  # the gradient of sum may be an expanded (stride 0) tensor
    clip_grad_norm_([p], 1.0)
    np.testing.assert_allclose(np.asarray(p.grad), np.full((3, 4), 1 / math.sqrt(12)),
                               rtol=1e-5)


def test_parameters_to_vector_round_trip(backend: str) -> None:
    torch = torch_or_skip()
    fastgrad.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    v = parameters_to_vector(m.parameters())
    tv = torch.nn.utils.parameters_to_vector(
        [torch.from_numpy(np.array(p.detach())) for p in m.parameters()])
    np.testing.assert_array_equal(np.asarray(v.detach()), tv.numpy())
    assert v.shape == (sum(p.numel() for p in m.parameters()),)
    (v * v).sum().backward()  # differentiable
    np.testing.assert_allclose(np.asarray(m[0].weight.grad), 2 * np.asarray(m[0].weight.detach()))
    vector_to_parameters(v * 2, m.parameters())
    np.testing.assert_allclose(np.asarray(parameters_to_vector(m.parameters()).detach()),
                               2 * np.asarray(v.detach()), rtol=1e-6)
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        vector_to_parameters([1.0], m.parameters())  # type: ignore[arg-type]
