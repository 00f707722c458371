"""The Tensor API of DESIGN.md on both backends: creation, dtypes and promotion, NumPy interop,
indexing and assignment, in-place ops, and clear errors for bad input."""

from __future__ import annotations

import fastgrad
import numpy as np
import pytest
from fastgrad import float32, float64, int64


def test_creation_and_dtypes(backend: str) -> None:
    assert fastgrad.tensor(1.5).dtype is float32
    assert fastgrad.tensor([1, 2]).dtype is int64
    assert fastgrad.tensor([True, False]).dtype is fastgrad.bool
    assert fastgrad.tensor(np.zeros(3)).dtype is float64
    assert fastgrad.tensor(np.zeros(3, np.float16)).dtype is float32
    assert fastgrad.tensor(np.zeros(3, np.int32)).dtype is int64
    # Regression (found by tests/test_fuzz.py): np.float64 subclasses float, and a NumPy scalar
    # lost its dtype to the Python-float default.
    assert fastgrad.tensor(np.float64(0.1)).dtype is float64
    assert fastgrad.tensor(np.float64(0.1)).item() == 0.1
    assert fastgrad.tensor(np.float32(2.5)).dtype is float32
    assert fastgrad.tensor(np.int32(3)).dtype is int64
    assert fastgrad.tensor(np.bool_(1)).dtype is fastgrad.bool
    assert fastgrad.zeros(2, 3).shape == (2, 3) and fastgrad.zeros(2, 3).sum().item() == 0
    assert fastgrad.ones((2, 3), dtype=float64).dtype is float64
    assert fastgrad.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert fastgrad.eye(3).numpy().trace() == 3
    assert fastgrad.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert fastgrad.arange(0, 1, 0.25).dtype is float32
    np.testing.assert_allclose(fastgrad.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    fastgrad.manual_seed(3)
    a = fastgrad.randn(4, 5)
    fastgrad.manual_seed(3)
    b = fastgrad.randn(4, 5)
    assert np.array_equal(a.numpy(), b.numpy()) and a.dtype is float32
    r = fastgrad.rand(1000)
    assert 0 <= r.min().item() and r.max().item() < 1
    x = fastgrad.ones(2, 3)
    assert fastgrad.zeros_like(x).shape == (2, 3) and fastgrad.ones_like(x).sum().item() == 6
    assert fastgrad.randn_like(x).shape == (2, 3)
    assert fastgrad.empty(4).shape == (4,)
    t = fastgrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.ndim == 2 and t.size() == (2, 2) and t.size(1) == 2 and len(t) == 2
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]] and t[1, 0].item() == 3.0
    assert t.double().dtype is float64 and t.long().dtype is int64 and t.float().dtype is float32
    assert t.astype(fastgrad.float64).dtype is float64 and t.to(int64).tolist() == [[1, 2], [3, 4]]


def test_promotion(backend: str) -> None:
    f32 = fastgrad.ones(2)
    f64 = fastgrad.ones(2, dtype=float64)
    i64 = fastgrad.tensor([1, 2])
    assert (f32 + f64).dtype is float64
    assert (i64 + 1).dtype is int64
    assert (i64 + 1.5).dtype is float32
    assert (i64 / 2).dtype is float32 and (i64 / 2).tolist() == [0.5, 1.0]
    assert (f32 + fastgrad.tensor(1.0, dtype=float64)).dtype is float32  # 0-d does not promote
    assert (i64 + fastgrad.tensor(1.5, dtype=float64)).dtype is float64
    assert (f32 * 2).dtype is float32 and (2 * f32).tolist() == [2.0, 2.0]
    assert (i64 > 1).dtype is fastgrad.bool and (i64 > 1).tolist() == [False, True]
    assert i64.exp().dtype is float32


def test_numpy_sharing(backend: str) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = fastgrad.from_numpy(a)
    a[0, 0] = 42
    assert t[0, 0].item() == 42
    n = t.numpy()
    n[1, 2] = -1
    assert a[1, 2] == -1
    assert np.shares_memory(np.asarray(t), a)
    # strided views are shared with their strides
    s = fastgrad.from_numpy(a[:, ::2])
    assert s.shape == (2, 2) and s.tolist() == [[42.0, 2.0], [3.0, -1.0]]
    # non-native byte order: copied by tensor(), refused (clearly) by from_numpy
    be = np.arange(3, dtype=">f8")
    assert fastgrad.tensor(be).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError, match="byte order"):
        fastgrad.from_numpy(be)
    with pytest.raises(TypeError, match="unsupported dtype"):
        fastgrad.from_numpy(np.zeros(2, np.int32))
    w = fastgrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        w.numpy()
    assert w.detach().numpy().tolist() == [1.0, 1.0]
    assert np.asarray(w).tolist() == [1.0, 1.0]


def test_in_place_ops(backend: str) -> None:
    t = fastgrad.zeros(3)
    v0 = t._version
    t.fill_(2.0).add_(fastgrad.ones(3)).mul_(2).sub_(1.0).div_(5)
    assert t.tolist() == [1.0, 1.0, 1.0]
    assert t._version > v0
    t.add_(fastgrad.tensor([1.0, 2.0, 3.0]), alpha=2)
    assert t.tolist() == [3.0, 5.0, 7.0]
    t.clamp_(4, 6)
    assert t.tolist() == [4.0, 5.0, 6.0]
    t.zero_()
    assert t.tolist() == [0.0, 0.0, 0.0]
    t.copy_(fastgrad.tensor([1, 2, 3]))
    assert t.tolist() == [1.0, 2.0, 3.0]
    fastgrad.manual_seed(0)
    u = fastgrad.zeros(1000).uniform_(-1, 1)
    assert -1 <= u.min().item() and u.max().item() <= 1 and abs(u.mean().item()) < 0.1
    n = fastgrad.zeros(1000).normal_(3, 0.1)
    assert abs(n.mean().item() - 3) < 0.05
    w = fastgrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w.add_(1)
    with fastgrad.no_grad():
        w.sub_(fastgrad.tensor([0.5, 0.25]))
    assert w.tolist() == [0.5, 0.75] and w.requires_grad


def test_setitem(backend: str) -> None:
    t = fastgrad.zeros(3, 4)
    t[0] = 1.0
    t[:, 1] = fastgrad.tensor([5.0, 6.0, 7.0])
    t[2, 3] = 9
    t[fastgrad.tensor([1, 2]), 0] = -1.0
    t[t > 8] = 8.0
    assert t.tolist() == [[1, 5, 1, 1], [-1, 6, 0, 0], [-1, 7, 0, 8]]


def test_getitem_views_and_grads(backend: str) -> None:
    x = fastgrad.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = x[1:, ::2] * 2 + x[0].sum() + x[..., -1:].sum() + x[None, 2, 1].sum()
    y.sum().backward()
    expected = np.zeros((3, 4))
    expected[1:, ::2] += 2
    expected[0] += 4
    expected[:, -1] += 4
    expected[2, 1] += 4
    np.testing.assert_allclose(x.grad.numpy(), expected)
    idx = fastgrad.tensor([0, 0, 2])
    x.grad = None
    x[idx].sum().backward()  # repeated indices accumulate
    assert x.grad.numpy()[:, 0].tolist() == [2.0, 0.0, 1.0]


def test_reductions_with_numpy_names(backend: str) -> None:
    x = fastgrad.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(axis=0).tolist() == [3.0, 5.0, 7.0]
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.mean(axis=1, keepdims=True).shape == (2, 1)
    v, i = x.max(dim=1)
    assert v.tolist() == [2.0, 5.0] and i.tolist() == [2, 2]
    r = x.min(1)
    assert r.values.tolist() == [0.0, 3.0] and r.indices.tolist() == [0, 0]
    assert x.argmax().item() == 5 and x.argmin(dim=0).tolist() == [0, 0, 0]
    # Regression (found by tests/test_fuzz.py): the Python backend took argmax of bool tensors.
    with pytest.raises(TypeError, match="argmax: not supported for dtype bool"):
        (x > 1).argmax()
    with pytest.raises(TypeError, match="argmin: not supported for dtype bool"):
        (x > 1).argmin(dim=0)
    with pytest.raises(TypeError, match="amax: not supported for dtype bool"):
        (x > 1).max()
    with pytest.raises(TypeError, match="amin: not supported for dtype bool"):
        (x > 1).amin(1)
    assert x.max().item() == 5.0 and x.min().item() == 0.0
    assert x.std().item() == pytest.approx(np.std(np.arange(6.0), ddof=1), rel=1e-6)
    assert x.var(unbiased=False).item() == pytest.approx(np.var(np.arange(6.0)), rel=1e-6)
    assert fastgrad.logsumexp(x, 1).numpy() == pytest.approx(
        np.log(np.exp(np.arange(6.0).reshape(2, 3)).sum(1)), rel=1e-6)


def test_shape_ops(backend: str) -> None:
    x = fastgrad.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.reshape(4, -1).shape == (4, 6) and x.view(-1).shape == (24,)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.permute(2, 0, 1).shape == (4, 2, 3) and x.transpose(0, 2).shape == (4, 3, 2)
    assert x[0].T.shape == (4, 3) and x.unsqueeze(0).shape == (1, 2, 3, 4)
    assert x.unsqueeze(-1).squeeze().shape == (2, 3, 4)
    assert fastgrad.ones(3, 1).expand(2, 3, 5).shape == (2, 3, 5)
    assert fastgrad.ones(3, 1).broadcast_to((3, 4)).shape == (3, 4)
    a, _b, c = fastgrad.split(x, [1, 1, 2], dim=2)
    assert a.shape == (2, 3, 1) and c.shape == (2, 3, 2)
    assert len(fastgrad.split(x, 2, dim=1)) == 2
    assert fastgrad.stack([x, x]).shape == (2, 2, 3, 4)
    assert fastgrad.cat([x, x], dim=-1).shape == (2, 3, 8)
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), np.transpose(np.arange(24.0).reshape(2, 3, 4), (2, 0, 1)))


def test_errors_name_op_and_shapes(backend: str) -> None:
    a, b = fastgrad.ones(2, 3), fastgrad.ones(4)
    with pytest.raises(ValueError, match=r"add.*\(2, 3\).*\(4,\)"):
        a + b
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4,\)"):
        a @ b
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(2, 3\)"):
        a @ a
    with pytest.raises(ValueError, match="reshape"):
        a.reshape(5)
    with pytest.raises(IndexError):
        a[5]
    with pytest.raises(IndexError):
        a[fastgrad.tensor([0, 7])]
    with pytest.raises(IndexError):
        a.sum(dim=3)
    with pytest.raises(ValueError, match="cat"):
        fastgrad.cat([a, fastgrad.ones(2, 4)], 0)
    with pytest.raises(TypeError):
        fastgrad.tensor(["a", "b"])
    with pytest.raises(TypeError, match="floating point"):
        fastgrad.tensor([1, 2]).requires_grad_()
    with pytest.raises(TypeError, match="where"):
        fastgrad.where(fastgrad.ones(2), a, a)
    with pytest.raises(RuntimeError, match="leaf"):
        (fastgrad.ones(2, requires_grad=True) * 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(a)
    with pytest.raises(ValueError, match="item"):
        a.item()
    other = "python" if backend == "cpp" else "cpp"
    if other in fastgrad._backend.available():
        fastgrad.set_backend(other)
        c = fastgrad.ones(2, 3)
        fastgrad.set_backend(backend)
        with pytest.raises(RuntimeError, match="backends"):
            a + c


def test_set_num_threads(backend: str) -> None:
    prev = fastgrad.get_num_threads()
    fastgrad.set_num_threads(1)
    assert fastgrad.get_num_threads() == 1
    fastgrad.set_num_threads(prev)
    with pytest.raises(ValueError):
        fastgrad.set_num_threads(0)


def test_repr(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<MulBackward>" in repr(x * 2)
