"""The losses of issue 14 item 6 (BCE, BCE with logits, smooth L1, Huber, KL divergence, soft margin,
cosine embedding, margin ranking, triplet margin) and cosine_similarity / pairwise_distance:
values and gradients against PyTorch in float64 for every reduction, gradcheck, modules, errors."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import fastgrad
import fastgrad.nn.functional as F
import numpy as np
import pytest
from fastgrad import nn

RED = ("mean", "sum", "none")


def _pm1(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _gen(name: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Inputs (all float64): the differentiable ones first."""
    n = rng.standard_normal
    if name == "binary_cross_entropy":
        return [rng.uniform(0.05, 0.95, (4, 3)), rng.random((4, 3))]
    if name == "binary_cross_entropy_with_logits":
        return [n((4, 3)) * 3, rng.random((4, 3))]
    if name in ("smooth_l1_loss", "huber_loss"):
        return [n((5, 3)) * 2, n((5, 3))]
    if name == "kl_div":
        p = rng.random((3, 4)) + 0.1
        return [np.log(rng.dirichlet(np.ones(4), 3)), p / p.sum(1, keepdims=True)]
    if name == "soft_margin_loss":
        return [n((6,)) * 2, _pm1(rng, (6,))]
    if name == "cosine_embedding_loss":
        return [n((5, 3)), n((5, 3)), _pm1(rng, (5,))]
    if name == "margin_ranking_loss":
        return [n((6,)), n((6,)), _pm1(rng, (6,))]
    if name == "triplet_margin_loss":
        return [n((4, 3)), n((4, 3)), n((4, 3))]
    raise AssertionError(name)


# name, number of differentiable inputs, keyword variants
CASES: list[tuple[str, int, list[dict[str, Any]]]] = [
    ("binary_cross_entropy", 2, [{}, {"weight": "w3"}]),
    ("binary_cross_entropy_with_logits", 2, [{}, {"weight": "w3"}, {"pos_weight": "w3"},
                                             {"weight": "w43", "pos_weight": "w3"}]),
    ("smooth_l1_loss", 2, [{}, {"beta": 0.5}, {"beta": 0.0}, {"beta": 3.0}]),
    ("huber_loss", 2, [{}, {"delta": 0.5}, {"delta": 2.5}, {"weight": "w53"}]),
    ("kl_div", 2, [{}, {"log_target": True}]),
    ("soft_margin_loss", 1, [{}]),
    ("cosine_embedding_loss", 2, [{}, {"margin": 0.2}, {"margin": -0.3}]),
    ("margin_ranking_loss", 2, [{}, {"margin": 0.5}]),
    ("triplet_margin_loss", 3, [{}, {"margin": 0.5, "p": 1}, {"swap": True},
                                {"p": 3, "eps": 1e-3}]),
]


def _kwargs(kw: dict[str, Any], rng: np.random.Generator, lib: Any) -> dict[str, Any]:
    shapes = {"w3": (3,), "w43": (4, 3), "w53": (5, 3)}
    out = {}
    for k, v in kw.items():
        if isinstance(v, str):
            a = np.random.default_rng(len(k)).uniform(0.5, 2.0, shapes[v])
            v = lib.tensor(a, dtype=lib.float64)
        out[k] = v
    return out


def _call(lib: Any, fn: Callable, name: str, inputs: list[Any], kw: dict[str, Any],
          reduction: str) -> Any:
    if name == "kl_div" and reduction == "mean":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fn(*inputs, reduction=reduction, **kw)
    return fn(*inputs, reduction=reduction, **kw)


@pytest.mark.parametrize(("name", "ndiff", "variants"), CASES, ids=[c[0] for c in CASES])
def test_against_torch(backend: str, name: str, ndiff: int, variants: list) -> None:
    torch = pytest.importorskip("torch")
    tf = getattr(torch.nn.functional, name)
    ff = getattr(F, name)
    rng = np.random.default_rng(7)
    arrays = _gen(name, rng)
    reds = RED + (("batchmean",) if name == "kl_div" else ())
    for kw in variants:
        for red in reds:
            fx = [fastgrad.tensor(a, dtype=fastgrad.float64, requires_grad=i < ndiff)
                  for i, a in enumerate(arrays)]
            tx = [torch.tensor(a, requires_grad=i < ndiff) for i, a in enumerate(arrays)]
            ours = _call(fastgrad, ff, name, fx, _kwargs(kw, rng, fastgrad), red)
            theirs = _call(torch, tf, name, tx, _kwargs(kw, rng, torch), red)
            assert ours.shape == tuple(theirs.shape), (name, kw, red)
            np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(),
                                       rtol=1e-12, atol=1e-14, err_msg=f"{name} {kw} {red}")
            u = np.random.default_rng(3).standard_normal(ours.shape)
            ours.backward(fastgrad.tensor(u, dtype=fastgrad.float64))
            theirs.backward(torch.tensor(u))
            for i in range(ndiff):
                np.testing.assert_allclose(fx[i].grad.numpy(), tx[i].grad.numpy(), rtol=1e-10,
                                           atol=1e-12, err_msg=f"{name} {kw} {red} grad {i}")


@pytest.mark.parametrize(("name", "ndiff", "variants"), CASES, ids=[c[0] for c in CASES])
def test_gradcheck_and_second_order(backend: str, name: str, ndiff: int, variants: list) -> None:
    rng = np.random.default_rng(11)
    arrays = _gen(name, rng)
    ff = getattr(F, name)
    kw = _kwargs(variants[-1], rng, fastgrad)
    consts = [fastgrad.tensor(a, dtype=fastgrad.float64) for a in arrays[ndiff:]]

    def fn(*xs: fastgrad.Tensor) -> fastgrad.Tensor:
        return ff(*xs, *consts, reduction="sum", **kw)

    xs = [fastgrad.tensor(a, dtype=fastgrad.float64, requires_grad=True) for a in arrays[:ndiff]]
    assert fastgrad.gradcheck(fn, xs)
    if name not in ("margin_ranking_loss",):  # piecewise linear: zero second derivative
        assert fastgrad.gradgradcheck(fn, xs)


def test_distances_against_torch(backend: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    for p in (2.0, 1.0, 3.0, 0.5, float("inf"), 0.0):
        for keepdim in (False, True):
            fa, fb = (fastgrad.tensor(v, dtype=fastgrad.float64, requires_grad=True)
                      for v in (a, b))
            ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
            o = F.pairwise_distance(fa, fb, p=p, keepdim=keepdim)
            t = torch.nn.functional.pairwise_distance(ta, tb, p=p, keepdim=keepdim)
            assert o.shape == tuple(t.shape)
            np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-12)
            if p != 0.0:
                o.sum().backward()
                t.sum().backward()
                np.testing.assert_allclose(fa.grad.numpy(), ta.grad.numpy(), rtol=1e-10)
    v1 = F.pairwise_distance(fastgrad.tensor(a[0]), fastgrad.tensor(b[0]))
    assert v1.shape == ()
    for dim in (0, 1, -1):
        fa, fb = (fastgrad.tensor(v, dtype=fastgrad.float64, requires_grad=True) for v in (a, b))
        ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
        o = F.cosine_similarity(fa, fb, dim=dim)
        t = torch.nn.functional.cosine_similarity(ta, tb, dim=dim)
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-12)
        o.sum().backward()
        t.sum().backward()
        np.testing.assert_allclose(fa.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-14)
    tiny = np.array([[1e-9, 0.0]])
    o = F.cosine_similarity(fastgrad.tensor(tiny), fastgrad.tensor(tiny))
    t = torch.nn.functional.cosine_similarity(torch.tensor(tiny), torch.tensor(tiny))
    np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-12)
    fa = fastgrad.tensor(a, dtype=fastgrad.float64, requires_grad=True)
    assert fastgrad.gradcheck(lambda x: F.cosine_similarity(x, fastgrad.tensor(b)).sum(), [fa])


def test_modules_against_torch(backend: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((4, 3)), rng.random((4, 3))
    w, pw = rng.random(3) + 0.5, rng.random(3) + 0.5
    pairs = [
        (nn.BCEWithLogitsLoss(fastgrad.tensor(w), pos_weight=fastgrad.tensor(pw)),
         torch.nn.BCEWithLogitsLoss(torch.tensor(w), pos_weight=torch.tensor(pw)), [x, y]),
        (nn.BCELoss(reduction="sum"), torch.nn.BCELoss(reduction="sum"), [1 / (1 + np.exp(-x)), y]),
        (nn.SmoothL1Loss(beta=0.3), torch.nn.SmoothL1Loss(beta=0.3), [x, y]),
        (nn.HuberLoss(delta=0.4, reduction="none"), torch.nn.HuberLoss(delta=0.4, reduction="none"),
         [x, y]),
        (nn.KLDivLoss(reduction="batchmean", log_target=True),
         torch.nn.KLDivLoss(reduction="batchmean", log_target=True), [x, np.log(y)]),
        (nn.SoftMarginLoss(), torch.nn.SoftMarginLoss(), [x, np.sign(y - 0.5)]),
        (nn.CosineEmbeddingLoss(0.1), torch.nn.CosineEmbeddingLoss(0.1),
         [x, y, np.array([1.0, -1.0, 1.0, -1.0])]),
        (nn.MarginRankingLoss(0.2), torch.nn.MarginRankingLoss(0.2), [x[0], y[0], x[1] > 0]),
        (nn.TripletMarginLoss(0.7, p=1.0, swap=True), torch.nn.TripletMarginLoss(0.7, p=1.0,
                                                                                  swap=True),
         [x, y, x[::-1].copy()]),
        (nn.CosineSimilarity(dim=0), torch.nn.CosineSimilarity(dim=0), [x, y]),
        (nn.PairwiseDistance(p=1.5, keepdim=True), torch.nn.PairwiseDistance(p=1.5, keepdim=True),
         [x, y]),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # both warn that size_average is deprecated
        pairs += [
            (nn.SmoothL1Loss(size_average=False), torch.nn.SmoothL1Loss(size_average=False),
             [x, y]),
            (nn.SoftMarginLoss(reduce=False), torch.nn.SoftMarginLoss(reduce=False),
             [x, np.sign(y - 0.5)]),
        ]
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.L1Loss is not None and nn.BCELoss(size_average=False).reduction == "sum"
    for ours, theirs, arrays in pairs:
        fx = [fastgrad.tensor(np.where(a, 1.0, -1.0) if a.dtype == bool else a,
                              dtype=fastgrad.float64) for a in arrays]
        tx = [torch.tensor(np.where(a, 1.0, -1.0) if a.dtype == bool else a) for a in arrays]
        assert ours.reduction == theirs.reduction if hasattr(theirs, "reduction") else True
        np.testing.assert_allclose(ours(*fx).numpy(), theirs(*tx).numpy(), rtol=1e-12,
                                   err_msg=type(ours).__name__)
    bce = nn.BCEWithLogitsLoss(fastgrad.ones(3), pos_weight=fastgrad.ones(3))
    assert list(bce.state_dict()) == ["weight", "pos_weight"]
    assert list(nn.BCELoss().state_dict()) == []
    assert "reduction='sum'" in repr(nn.HuberLoss(reduction="sum"))


def test_float32_and_stability(backend: str) -> None:
    x = fastgrad.tensor([-800.0, -30.0, 0.0, 30.0, 800.0], requires_grad=True)
    y = fastgrad.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    assert loss.dtype is fastgrad.float32
    np.testing.assert_allclose(loss.detach().numpy(),
                               [800.0, 9.357623e-14, np.log(2), 9.357623e-14, 800.0], rtol=1e-5)
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    p = fastgrad.tensor([0.0, 1.0, 0.5], requires_grad=True)
    t = fastgrad.tensor([1.0, 0.0, 1.0])
    v = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(v.detach().numpy(), [100.0, 100.0, np.log(2)], rtol=1e-6)
    # an int64 target is cast to the input's dtype
    ok = F.binary_cross_entropy_with_logits(x, fastgrad.tensor([1, 0, 1, 1, 0]))
    assert ok.dtype is fastgrad.float32


def test_errors(backend: str) -> None:
    x = fastgrad.randn(3, 1)
    t = fastgrad.rand(3)
    for fn in (F.binary_cross_entropy_with_logits, F.binary_cross_entropy):
        with pytest.raises(ValueError, match=r"\(3,\).*\(3, 1\)"):
            fn(x.sigmoid(), t)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(fastgrad.tensor([1.5]), fastgrad.tensor([1.0]))
    with pytest.warns(UserWarning, match="smooth_l1_loss.*target size"):
        F.smooth_l1_loss(x, t)
    with pytest.raises(ValueError, match=r"huber_loss.*\(4, 2\).*\(3, 1\)"):
        F.huber_loss(fastgrad.randn(3, 1), fastgrad.randn(4, 2))
    with pytest.raises(ValueError, match="reduction"):
        F.huber_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.BCELoss(reduction="batchmean")
    with pytest.raises(RuntimeError, match="margin_ranking_loss.*same number of dims"):
        F.margin_ranking_loss(fastgrad.randn(3), fastgrad.randn(3), fastgrad.randn(3, 1))
    with pytest.raises(ValueError, match=r"cosine_embedding_loss.*\(4,\)"):
        F.cosine_embedding_loss(fastgrad.randn(3, 2), fastgrad.randn(3, 2), fastgrad.ones(4))
    with pytest.raises(ValueError, match="triplet_margin_loss"):
        F.triplet_margin_loss(fastgrad.randn(3, 2), fastgrad.randn(3, 2), fastgrad.randn(2))
    with pytest.raises(ValueError, match="soft_margin_loss"):
        F.soft_margin_loss(x, t)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(x, x.exp())
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
