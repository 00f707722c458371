"""Embedding, EmbeddingBag, F.embedding, F.embedding_bag and F.one_hot against PyTorch (float64) and
on both backends; gradcheck; bad indices and offsets."""

from __future__ import annotations

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn
from fastgrad.nn import functional as F

F64 = fastgrad.float64


def _w(rng: np.random.Generator, n: int = 6, d: int = 3) -> np.ndarray:
    return rng.standard_normal((n, d))


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 2}, {"scale_grad_by_freq": True},
                                {"max_norm": 1.0}, {"padding_idx": -1, "scale_grad_by_freq": True}])
def test_embedding_against_torch(backend: str, rng: np.random.Generator, kw: dict) -> None:
    torch = torch_or_skip()
    w = _w(rng)
    idx = np.array([[0, 2, 5, 2], [1, 2, 0, 5]])
    u = rng.standard_normal((2, 4, 3))
    m = nn.Embedding.from_pretrained(fastgrad.tensor(w), freeze=False, **kw)
    tm = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False, **kw)
    y = m(fastgrad.tensor(idx))
    ty = tm(torch.tensor(idx))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    (y * fastgrad.tensor(u)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(m.weight.detach().numpy(), tm.weight.detach().numpy(), atol=1e-12)


def test_embedding_module_defaults_and_state_dict(backend: str) -> None:
    torch = torch_or_skip()
    m = nn.Embedding(7, 4, padding_idx=3, dtype=F64)
    assert m.weight.shape == (7, 4) and m.weight.dtype is F64
    assert np.all(m.weight.detach().numpy()[3] == 0)
    tm = torch.nn.Embedding(7, 4, padding_idx=3, dtype=torch.float64)
    m.load_state_dict(tm.state_dict())
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight"]
    i = np.array([3, 0, 6])
    np.testing.assert_allclose(m(fastgrad.tensor(i)).detach().numpy(),
                               tm(torch.tensor(i)).detach().numpy())
    frozen = nn.Embedding.from_pretrained(fastgrad.tensor(np.ones((2, 2))))
    assert not frozen.weight.requires_grad


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("layout", ["2d", "offsets", "last_offset", "padding"])
def test_embedding_bag_against_torch(backend: str, rng: np.random.Generator, mode: str,
                                     layout: str) -> None:
    torch = torch_or_skip()
    w = _w(rng, 8, 3)
    kw: dict = {}
    if layout == "2d":
        idx, off = np.array([[0, 2, 5], [1, 7, 7]]), None
    else:
        idx, off = np.array([4, 2, 5, 1, 1, 0, 7]), np.array([0, 3, 3, 4])  # an empty bag
        if layout == "last_offset":
            off, kw = np.append(off, 7), {"include_last_offset": True}
        if layout == "padding":
            kw = {"padding_idx": 1}
    psw = rng.standard_normal(idx.shape) if mode == "sum" else None
    m = nn.EmbeddingBag.from_pretrained(fastgrad.tensor(w), freeze=False, mode=mode, **kw)
    tm = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(w), freeze=False, mode=mode, **kw)
    fp = fastgrad.tensor(psw, requires_grad=True) if psw is not None else None
    tp = torch.tensor(psw, requires_grad=True) if psw is not None else None
    y = m(fastgrad.tensor(idx), None if off is None else fastgrad.tensor(off), fp)
    ty = tm(torch.tensor(idx), None if off is None else torch.tensor(off), tp)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-12)
    u = rng.standard_normal(ty.shape)
    (y * fastgrad.tensor(u)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), atol=1e-12)
    if psw is not None:
        np.testing.assert_allclose(fp.grad.numpy(), tp.grad.numpy(), atol=1e-12)


def test_embedding_gradcheck(backend: str, rng: np.random.Generator) -> None:
    w = fastgrad.tensor(_w(rng, 4, 2), requires_grad=True)
    idx = fastgrad.tensor([[0, 3], [3, 1]])
    assert fastgrad.gradcheck(lambda w: F.embedding(idx, w) * 1.5, (w,))
    psw = fastgrad.tensor(rng.standard_normal(4), requires_grad=True)
    flat = fastgrad.tensor([0, 3, 3, 1])
    offs = fastgrad.tensor([0, 1])
    assert fastgrad.gradcheck(lambda w, p: F.embedding_bag(flat, w, offs, mode="sum",
                                                           per_sample_weights=p), (w, psw))
    assert fastgrad.gradcheck(lambda w: F.embedding_bag(flat, w, offs, mode="max"), (w,))


def test_backends_agree(rng: np.random.Generator) -> None:
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("no C++ backend")
    w = _w(rng, 5, 3)
    out = {}
    for b in ("cpp", "python"):
        fastgrad.set_backend(b)
        try:
            wt = fastgrad.tensor(w, requires_grad=True)
            y = F.embedding_bag(fastgrad.tensor([0, 4, 4, 2]), wt, fastgrad.tensor([0, 2]),
                                mode="mean")
            y.sum().backward()
            out[b] = (y.detach().numpy(), wt.grad.numpy())
        finally:
            fastgrad.set_backend("cpp")
    for a, c in zip(out["cpp"], out["python"]):
        np.testing.assert_array_equal(a, c)


def test_one_hot(backend: str) -> None:
    torch = torch_or_skip()
    a = np.array([[0, 3], [1, 1]])
    for n in (-1, 5):
        y = F.one_hot(fastgrad.tensor(a), n)
        assert y.dtype is fastgrad.int64
        np.testing.assert_array_equal(y.numpy(), torch.nn.functional.one_hot(torch.tensor(a), n))
    with pytest.raises(ValueError, match="one_hot"):
        F.one_hot(fastgrad.tensor([0, 4]), 3)
    with pytest.raises(TypeError, match="one_hot"):
        F.one_hot(fastgrad.tensor([0.0]), 3)


def test_errors(backend: str) -> None:
    m = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match="embedding"):
        m(fastgrad.tensor([0, 4]))
    with pytest.raises(TypeError, match="embedding"):
        m(fastgrad.tensor([0.0]))
    bag = nn.EmbeddingBag(4, 2)
    with pytest.raises(ValueError, match="offsets"):
        bag(fastgrad.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="offsets"):
        bag(fastgrad.tensor([0, 1, 2]), fastgrad.tensor([1, 2]))
    with pytest.raises(ValueError, match="offsets"):
        bag(fastgrad.tensor([[0, 1]]), fastgrad.tensor([0]))
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        bag(fastgrad.tensor([[0, 1]]), per_sample_weights=fastgrad.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)
