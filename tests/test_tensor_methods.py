"""The Tensor methods training scripts call (fastgrad/_tensor_ops.py): in-place operators, .data,
formatting, products, gathers and scatters, sorting, norms, triangles, new_* constructors, logic
and randint's signatures; values and gradients against PyTorch in float64 when it is installed,
and against NumPy on both backends."""

from __future__ import annotations

from typing import Any, Callable

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip

X = np.array([[0.3, -1.2, 2.5, 0.7], [1.1, 0.4, -0.6, 3.0], [-2.0, 0.9, 0.1, -0.4]])
IDX = np.array([[0, 2, 1], [3, 3, 0], [1, 0, 2]])

# name -> fn(module, x) with module fastgrad or torch; every result a tensor or a tuple of them.
CASES: dict[str, Callable[[Any, Any], Any]] = {
    "mm": lambda m, x: m.mm(x, x.T),
    "bmm": lambda m, x: m.bmm(x.reshape(1, 3, 4), x.reshape(1, 4, 3)),
    "addmm": lambda m, x: m.addmm(x[:, :3], x, x.T, beta=0.5, alpha=2.0),
    "view_as": lambda m, x: x.view_as(x.T),
    "narrow": lambda m, x: x.narrow(1, 1, 2),
    "chunk": lambda m, x: x.chunk(3, 1),
    "split": lambda m, x: x.split([1, 3], 1),
    "cumsum0": lambda m, x: x.cumsum(0),
    "cumsum1": lambda m, x: m.cumsum(x, dim=1),
    "norm": lambda m, x: x.norm(),
    "norm_dim": lambda m, x: x.norm(dim=1, keepdim=True),
    "vector_norm1": lambda m, x: m.linalg.vector_norm(x, ord=1, dim=0),
    "vector_norm3": lambda m, x: m.linalg.vector_norm(x, ord=3),
    "vector_norm_inf": lambda m, x: m.linalg.vector_norm(x, ord=float("inf"), dim=1),
    "tril": lambda m, x: x.tril(),
    "triu1": lambda m, x: m.triu(x, 1),
    "tril_neg": lambda m, x: x.tril(-1),
    "gather": lambda m, x: x.gather(1, m.tensor(IDX)),
    "gather0": lambda m, x: m.gather(x, 0, m.tensor(IDX[:2] % 3)),
    "scatter_add": lambda m, x: x.scatter_add(1, m.tensor(IDX), x[:, :3] * 2),
    "scatter": lambda m, x: x.scatter(0, m.tensor([[2, 0, 1, 0]]), x[:1] * 3),
    "scatter_value": lambda m, x: x.scatter(1, m.tensor([[1], [0], [3]]), value=5.0),
    "index_select": lambda m, x: x.index_select(1, m.tensor([3, 0, 3])),
    "masked_fill": lambda m, x: x.masked_fill(x > 0.5, -1.0),
    "sort": lambda m, x: x.sort(dim=1),
    "sort_desc": lambda m, x: m.sort(x, dim=0, descending=True),
    "topk": lambda m, x: x.topk(2, dim=1),
    "topk_small": lambda m, x: x.topk(2, dim=0, largest=False),
    "clamp_min": lambda m, x: x.clamp_min(0.2),
    "clamp_max": lambda m, x: x.clamp_max(0.2),
    "floor": lambda m, x: x.floor(),
    "ceil": lambda m, x: m.ceil(x),
    "round": lambda m, x: (x * 2).round(),
    "round_dec": lambda m, x: x.round(decimals=1),
    "trunc": lambda m, x: x.trunc(),
    "floordiv": lambda m, x: x // 0.7,
    "mod": lambda m, x: x % 0.7,
    "fmod": lambda m, x: x.fmod(0.7),
    "remainder": lambda m, x: m.remainder(x, -0.7),
    "eq": lambda m, x: x.eq(x.floor()),
    "lt": lambda m, x: x.lt(0.3),
    "all": lambda m, x: (x > -3).all(),
    "any_dim": lambda m, x: (x > 2).any(1),
    "sign": lambda m, x: x.sign(),
    "log1p": lambda m, x: (x * x).log1p(),
    "expm1": lambda m, x: m.expm1(x),
    "erf": lambda m, x: m.erf(x),
    "new_zeros": lambda m, x: x.new_zeros(2, 3),
    "new_full": lambda m, x: x.new_full((2,), 1.5),
    "new_tensor": lambda m, x: x.new_tensor([1.0, 2.0]),
    "dot": lambda m, x: m.dot(x[0], x[1]),
}


NO_TORCH_GRAD = {"floordiv"}  # PyTorch: "derivative for aten::floor_divide is not implemented"


def _flat(r: Any) -> list:
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _run(m: Any, name: str, a: np.ndarray, grad: bool) -> tuple[list, Any]:
    x = m.tensor(a, requires_grad=grad)
    return [np.asarray(o.detach().numpy()) for o in _flat(CASES[name](m, x))], x


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch(backend: str, name: str) -> None:
    torch = torch_or_skip()
    outs, x = _run(fastgrad, name, X, True)
    touts, tx = _run(torch, name, X, True)
    assert len(outs) == len(touts)
    for o, t in zip(outs, touts):
        assert o.shape == t.shape
        np.testing.assert_allclose(o, t, rtol=1e-12, atol=1e-12)
    # gradients through every floating output
    fo = [o for o in _flat(CASES[name](fastgrad, x)) if o.dtype.is_floating_point]
    to = [o for o in _flat(CASES[name](torch, tx)) if o.is_floating_point()]
    if not fo or not any(o.requires_grad for o in fo) or name in NO_TORCH_GRAD:
        return
    rng = np.random.default_rng(3)
    us = [rng.standard_normal(o.shape) for o in fo]
    sum((o * fastgrad.tensor(u)).sum() for o, u in zip(fo, us)).backward()
    sum((o * torch.tensor(u)).sum() for o, u in zip(to, us)).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["cumsum1", "gather", "scatter_add", "sort", "topk", "norm_dim",
                                  "vector_norm3", "tril", "index_select", "masked_fill", "addmm"])
def test_gradcheck(backend: str, name: str) -> None:
    x = fastgrad.tensor(X, requires_grad=True)

    def f(t: fastgrad.Tensor) -> fastgrad.Tensor:
        return sum(o.sum() * (i + 1) for i, o in enumerate(_flat(CASES[name](fastgrad, t)))
                   if o.dtype.is_floating_point)

    assert fastgrad.gradcheck(f, (x,))


def test_numpy_values(backend: str) -> None:
    x = fastgrad.tensor(X)
    np.testing.assert_allclose(x.cumsum(1).numpy(), np.cumsum(X, 1))
    np.testing.assert_array_equal(x.gather(1, fastgrad.tensor(IDX)).numpy(),
                                  np.take_along_axis(X, IDX, 1))
    np.testing.assert_array_equal(x.sort(1).values.numpy(), np.sort(X, 1))
    np.testing.assert_array_equal(x.tril(1).numpy(), np.tril(X, 1))
    np.testing.assert_allclose(x.norm().item(), np.linalg.norm(X))
    np.testing.assert_array_equal((x // 0.7).numpy(), X // 0.7)
    np.testing.assert_allclose((x % 0.7).numpy(), X % 0.7, atol=1e-15)
    i = fastgrad.tensor([[7, -7], [9, -2]])
    np.testing.assert_array_equal((i // 2).numpy(), np.array([[7, -7], [9, -2]]) // 2)
    np.testing.assert_array_equal((i % 3).numpy(), np.array([[7, -7], [9, -2]]) % 3)
    assert (i // 2).dtype == fastgrad.int64


def test_inplace_operators(backend: str) -> None:
    w = fastgrad.ones(3)
    ident = id(w)
    v0 = w._version
    w += 2
    w -= fastgrad.tensor([1.0, 0.0, 1.0])
    w *= 3
    w /= 2
    w **= 2
    assert id(w) == ident and w._version == v0 + 5
    np.testing.assert_allclose(w.numpy(), [9.0, 20.25, 9.0])
    b = fastgrad.tensor([True, False, True])
    b &= fastgrad.tensor([True, True, False])
    b |= fastgrad.tensor([False, True, False])
    assert b.tolist() == [True, True, False]


def test_inplace_operator_recorded_by_autograd(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], dtype=fastgrad.float64, requires_grad=True)
    y = x * 1
    y += x * x
    y *= 2
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 4 * 1.0, 2 + 4 * 2.0])


def test_inplace_operator_on_leaf_raises_and_param_update(backend: str) -> None:
    p = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        p += 1
    (p * p).sum().backward()
    with fastgrad.no_grad():
        p -= 0.1 * p.grad  # the SGD step of a hand-written loop
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)


def test_data(backend: str) -> None:
    p = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    d = p.data
    assert not d.requires_grad and d.grad_fn is None
    d.mul_(3)  # shares memory
    np.testing.assert_allclose(p.detach().numpy(), [3.0, 6.0])
    (p * p).sum().backward()
    p.data = p.data - 0.5 * p.grad.data  # replaces the contents, keeps identity and grad
    np.testing.assert_allclose(p.detach().numpy(), [0.0, 0.0])
    assert p.requires_grad and p.grad is not None
    p.data = fastgrad.zeros(3, 2)  # another shape, as in PyTorch
    assert p.shape == (3, 2) and p.requires_grad


def test_format(backend: str) -> None:
    t = fastgrad.tensor(0.123456)
    assert f"{t:.3f}" == "0.123" and "{:.2f}".format(fastgrad.tensor([2.5])) == "2.50"  # noqa: UP032
    assert f"{fastgrad.tensor([1.0, 2.0])}" == repr(fastgrad.tensor([1.0, 2.0]))


def test_type_and_randint(backend: str) -> None:
    x = fastgrad.tensor([1.5])
    assert x.type() == "torch.FloatTensor" and x.type(fastgrad.float64).dtype == fastgrad.float64
    fastgrad.manual_seed(0)
    a = fastgrad.randint(5, (1, 1))
    b = fastgrad.randint(3, 10, (4,))
    c = fastgrad.randint(low=2, high=4, size=(50,))
    assert a.shape == (1, 1) and a.dtype == fastgrad.int64 and 0 <= a.item() < 5
    assert b.shape == (4,) and ((b >= 3) & (b < 10)).all().item()
    assert set(c.tolist()) == {2, 3}
    with pytest.raises(ValueError, match="low < high"):
        fastgrad.randint(5, 5, (2,))


def test_multinomial(backend: str) -> None:
    fastgrad.manual_seed(1)
    p = fastgrad.tensor([0.0, 0.2, 0.8])
    s = p.multinomial(1000, replacement=True)
    counts = np.bincount(s.numpy(), minlength=3)
    assert counts[0] == 0 and 700 < counts[2] < 900
    rows = fastgrad.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).multinomial(1)
    assert rows.shape == (2, 1) and rows[1, 0].item() == 2
    picks = fastgrad.tensor([1.0, 1.0, 1.0, 1.0]).multinomial(4)
    assert sorted(picks.tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="without replacement"):
        fastgrad.tensor([1.0, 0.0]).multinomial(2)


def test_bad_arguments(backend: str) -> None:
    x = fastgrad.tensor(X)
    with pytest.raises(ValueError, match="mm"):
        fastgrad.mm(x, x)
    with pytest.raises(ValueError, match="bmm"):
        fastgrad.bmm(x, x)
    with pytest.raises(IndexError, match="gather"):
        x.gather(1, fastgrad.tensor([[0], [4], [0]]))
    with pytest.raises(TypeError, match="gather"):
        x.gather(1, fastgrad.tensor([[0.0]]))
    with pytest.raises(IndexError, match="narrow"):
        x.narrow(1, 3, 2)
    with pytest.raises(ValueError, match="topk"):
        x.topk(5)
    with pytest.raises(ValueError, match="tril"):
        fastgrad.tensor([1.0]).tril()
