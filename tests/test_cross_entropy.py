"""The fused softmax cross-entropy op (cross_entropy_rows and its gradient op) behind
F.cross_entropy: values, first and second derivatives against NumPy, finite differences, the other
backend and PyTorch; its errors; and its kernels on odd sizes and extreme logits."""

from __future__ import annotations

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import _backend
from fastgrad.nn import functional as F
from fastgrad.tensor import _wrap


def rows(x: fastgrad.Tensor, t: fastgrad.Tensor) -> fastgrad.Tensor:
    b = x._b
    return _wrap(b.cross_entropy_rows(x._impl, t._impl), b)


def np_rows(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=1))
    return lse - x[np.arange(len(t)), t]


def np_grad(x: np.ndarray, t: np.ndarray, g: np.ndarray) -> np.ndarray:
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(t)), t] -= 1
    return p * g[:, None]


@pytest.mark.parametrize("m,c", [(1, 1), (3, 7), (33, 257), (5, 1000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_and_gradient(backend: str, rng: np.random.Generator, m: int, c: int,
                             dtype: type) -> None:
    xa = (rng.standard_normal((m, c)) * 3).astype(dtype)
    ta = rng.integers(0, c, m)
    ga = rng.standard_normal(m).astype(dtype)
    x = fastgrad.tensor(xa, requires_grad=True)
    loss = rows(x, fastgrad.tensor(ta))
    loss.backward(fastgrad.tensor(ga))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss.detach().numpy(), np_rows(xa.astype(np.float64), ta),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(x.grad.numpy(), np_grad(xa.astype(np.float64), ta, ga),
                               rtol=tol * 10, atol=tol)


def test_extreme_and_strided_logits(backend: str) -> None:
    xa = np.array([[1e4, 0.0, -1e4], [-200.0, -300.0, -250.0], [0.0, 0.0, 0.0]])
    ta = np.array([1, 0, 2])
    x = fastgrad.tensor(xa.T.copy().T, requires_grad=True)  # same values
    xt = fastgrad.tensor(xa.T.copy(), requires_grad=True)  # its transpose, read as a view
    loss = rows(xt.T, fastgrad.tensor(ta))
    np.testing.assert_allclose(loss.detach().numpy(), [1e4, 0.0, np.log(3.0)], rtol=1e-12,
                               atol=1e-12)
    loss.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy().T, np_grad(xa, ta, np.ones(3)), atol=1e-12)
    assert np.isfinite(rows(x, fastgrad.tensor(ta)).detach().numpy()).all()


def test_nan_logit_gives_nan_row(backend: str) -> None:
    x = fastgrad.tensor([[0.0, float("nan")], [1.0, 2.0]], dtype=fastgrad.float64)
    out = rows(x, fastgrad.tensor([0, 1])).numpy()
    assert np.isnan(out[0]) and np.isfinite(out[1])


def test_first_and_second_derivatives_against_finite_differences(backend: str) -> None:
    rng = np.random.default_rng(5)
    t = fastgrad.tensor(rng.integers(0, 4, 3))
    x = fastgrad.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = fastgrad.tensor(rng.standard_normal(3))
    assert fastgrad.gradcheck(lambda x: rows(x, t) * w, (x,))

    def grad_of(x: fastgrad.Tensor) -> fastgrad.Tensor:  # differentiable through the fused op
        with fastgrad.enable_grad():  # gradcheck's finite differences run under no_grad
            xx = x if x.requires_grad else x.detach().requires_grad_()
            (g,) = fastgrad.grad((rows(xx, t) * w).sum(), xx, create_graph=True)
        return g

    assert fastgrad.gradcheck(grad_of, (x,))


def test_gradient_of_the_gradient_op_wrt_g(backend: str) -> None:
    """The gradient op's rule for its incoming gradient g (M,), by finite differences."""
    rng = np.random.default_rng(6)
    xa = rng.standard_normal((3, 5))
    ta = rng.integers(0, 5, 3)
    x, t = fastgrad.tensor(xa), fastgrad.tensor(ta)
    lse = fastgrad.tensor(np.log(np.exp(xa).sum(axis=1)))
    g = fastgrad.tensor(rng.standard_normal(3), requires_grad=True)
    b = x._b

    def op(g: fastgrad.Tensor) -> fastgrad.Tensor:
        return _wrap(b.cross_entropy_rows_backward(g._impl, x._impl, lse._impl, t._impl), b)

    np.testing.assert_allclose(op(g).detach().numpy(), np_grad(xa, ta, g.detach().numpy()),
                               atol=1e-12)
    assert fastgrad.gradcheck(op, (g,))


def test_backends_agree(rng: np.random.Generator) -> None:
    if "cpp" not in _backend.available():
        pytest.skip("the C++ backend did not import")
    xa = rng.standard_normal((17, 9)).astype(np.float32)
    ta = rng.integers(0, 9, 17)
    results = []
    for name in ("cpp", "python"):
        fastgrad.set_backend(name)
        try:
            x = fastgrad.tensor(xa, requires_grad=True)
            loss = F.cross_entropy(x, fastgrad.tensor(ta))
            loss.backward()
            results.append((loss.item(), x.grad.numpy()))
        finally:
            fastgrad.set_backend("cpp")
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_against_torch_with_double_backward(backend: str, reduction: str) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    xa = rng.standard_normal((6, 5))
    ta = rng.integers(0, 5, 6)
    va = rng.standard_normal((6, 5))
    x = fastgrad.tensor(xa, requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)
    loss = F.cross_entropy(x, fastgrad.tensor(ta), reduction=reduction)
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor(ta), reduction=reduction)
    np.testing.assert_allclose(loss.detach().numpy(), tloss.detach().numpy(), rtol=1e-12)
    (g,) = fastgrad.grad(loss.sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(tloss.sum(), tx, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-10, atol=1e-12)
    (h,) = fastgrad.grad((g * fastgrad.tensor(va)).sum(), x)
    (th,) = torch.autograd.grad((tg * torch.tensor(va)).sum(), tx)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-10, atol=1e-12)


def test_errors_name_the_op_and_shapes(backend: str) -> None:
    x = fastgrad.zeros(2, 3)
    with pytest.raises(IndexError, match=r"cross_entropy: target 3 at position 1 .*\(2, 3\)"):
        rows(x, fastgrad.tensor([0, 3]))
    with pytest.raises(IndexError, match="target -1"):
        rows(x, fastgrad.tensor([-1, 0]))
    with pytest.raises(ValueError, match=r"cross_entropy: expected logits \(M, C\)"):
        rows(x, fastgrad.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="int64 class indices"):
        rows(x, fastgrad.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="floating-point logits"):
        rows(fastgrad.tensor([[1, 2]]), fastgrad.tensor([0]))
