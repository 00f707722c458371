"""More loss functionals of torch.nn.functional: binary cross-entropy (on probabilities and on
logits), smooth L1 / Huber, KL divergence, soft margin, cosine embedding, margin ranking, triplet
margin, and the cosine_similarity / pairwise_distance they use. Composites of Tensor ops (both
backends, any order of differentiation); not fused kernels. Re-exported by nn.functional.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from fastgrad.tensor import Tensor, _as_tensor_like, _NoGrad, minimum, where

_REDUCTIONS = ("mean", "sum", "none")


class LossShapeError(ValueError, RuntimeError):
    """Shapes a loss cannot combine: a ValueError as every shape mismatch in fastgrad, and a
    RuntimeError where PyTorch raises one."""


class LossInputError(ValueError, RuntimeError):
    """An input outside a loss's domain (binary_cross_entropy of a value outside [0, 1])."""


def _legacy_reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """PyTorch's deprecated size_average / reduce pair, mapped to a reduction string."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    r = "none" if not reduce else ("mean" if size_average else "sum")
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{r}' "
                  "instead.", UserWarning, stacklevel=3)
    return r


def _prep(op: str, input: Any, reduction: str, size_average: Any = None,
          reduce: Any = None) -> tuple[Tensor, str]:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return input, reduction


def _as_t(x: Any, like: Tensor) -> Tensor:
    """A target as a tensor on like's backend, floating targets in like's dtype."""
    t = _as_tensor_like(x, like) if not isinstance(x, Tensor) else like._same_backend(x)
    if t.dtype is not like.dtype and like.dtype.is_floating_point:
        t = t.astype(like.dtype)
    return t


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_size(op: str, x: Tensor, t: Tensor) -> None:
    if x.shape != t.shape:
        raise ValueError(f"{op}: target size {t.shape} must be the same as input size {x.shape}")


def _broadcast_warn(op: str, x: Tensor, t: Tensor) -> None:
    """PyTorch's rule for the regression losses: different shapes broadcast, with a warning."""
    if x.shape == t.shape:
        return
    try:
        np.broadcast_shapes(x.shape, t.shape)
    except ValueError:
        raise ValueError(f"{op}: target size {t.shape} cannot be broadcast to input size "
                         f"{x.shape}") from None
    warnings.warn(f"{op}: using a target size ({t.shape}) that is different to the input size "
                  f"({x.shape}). This will likely lead to incorrect results due to broadcasting. "
                  "Please ensure they have the same size.", UserWarning, stacklevel=3)


def _log1p_exp_neg_abs(x: Tensor) -> Tensor:
    """log1p(exp(-|x|)), the shared part of softplus(x) and softplus(-x).

    log1p(z) is log(u) - ((u - 1) - z) / u with u = fl(1 + z): the second term cancels the
    rounding of 1 + z (exact to a few ulps even where z < eps). It is identically zero in exact
    arithmetic, so its reciprocal is detached (its gradient is zero either way). Composed of
    vectorised ops: the backend's libm-per-element softplus/log1p primitives were 10x slower
    on (1024, 1000) here.
    """
    z = (-x.abs()).exp()
    u = z + 1.0
    with _NoGrad(x._b):
        r = 1.0 / u
    return u.log() - ((u - 1.0) - z) * r


def _softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable and accurate for any x."""
    return x.relu() + _log1p_exp_neg_abs(x)


# --- distances -------------------------------------------------------------------------------
def _norm(d: Tensor, p: float, dim: int, keepdim: bool) -> Tensor:
    if p == 2:
        return (d * d).sum(dim, keepdim).sqrt()
    if p == 1:
        return d.abs().sum(dim, keepdim)
    if math.isinf(p):
        a = d.abs()
        return a.amax(dim, keepdim) if p > 0 else a.amin(dim, keepdim)
    if p == 0:
        return (d != 0).astype(d.dtype).sum(dim, keepdim)
    return (d.abs() ** float(p)).sum(dim, keepdim) ** (1.0 / p)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps along the last dim (broadcast).

    Shapes: (N, D) and (N, D) -> (N,); (D,) and (D,) -> (). Example:
    ``F.pairwise_distance(a, b)``.
    """
    op = "pairwise_distance"
    if not isinstance(x1, Tensor):
        raise TypeError(f"{op}: expected Tensors, got {type(x1).__name__}")
    x2 = _as_t(x2, x1)
    try:
        np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise LossShapeError(f"{op}: shapes {x1.shape} and {x2.shape} cannot be broadcast "
                             "together") from None
    if p < 0:
        raise ValueError(f"{op}: p must be non-negative, got {p}")
    d = x1 - x2 + eps
    if d.ndim == 0:
        d = d.reshape(1)
    return _norm(d, p, -1, keepdim)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim`` (broadcast).

    Shapes: (N, D) and (N, D) -> (N,) with dim=1. Example: ``F.cosine_similarity(a, b, dim=1)``.
    """
    op = "cosine_similarity"
    if not isinstance(x1, Tensor):
        raise TypeError(f"{op}: expected Tensors, got {type(x1).__name__}")
    x2 = _as_t(x2, x1)
    try:
        shape = tuple(np.broadcast_shapes(x1.shape, x2.shape))
    except ValueError:
        raise LossShapeError(f"{op}: shapes {x1.shape} and {x2.shape} cannot be broadcast "
                             "together") from None
    n = max(len(shape), 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} out of range for shapes {x1.shape} and {x2.shape}")
    n1 = (x1 * x1).sum(dim, True).sqrt().clamp(min=eps)
    n2 = (x2 * x2).sum(dim, True).sqrt().clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


# --- binary cross-entropy --------------------------------------------------------------------
def _weight(op: str, name: str, w: Any, like: Tensor, shape: tuple[int, ...]) -> Tensor:
    wt = _as_t(w, like)
    try:
        b = tuple(np.broadcast_shapes(wt.shape, shape))
    except ValueError:
        b = None
    if b != shape:
        raise ValueError(f"{op}: {name} of shape {wt.shape} does not broadcast to the input's "
                         f"shape {shape}")
    return wt


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """-w * (y * log(x) + (1 - y) * log(1 - x)), each log clamped to >= -100 as in PyTorch.

    Shapes: input (probabilities in [0, 1]) and target of one shape (*); weight broadcasts to it.
    Example: ``F.binary_cross_entropy(torch.sigmoid(logits), labels)``.
    """
    op = "binary_cross_entropy"
    x, reduction = _prep(op, input, reduction, size_average, reduce)
    y = _as_t(target, x)
    _same_size(op, x, y)
    a = np.asarray(x.detach())
    if a.size and bool(((a < 0) | (a > 1)).any()):
        raise LossInputError(f"{op}: all elements of input should be between 0 and 1")
    loss = -(y * x.log().clamp(min=-100.0) + (1.0 - y) * (1.0 - x).log().clamp(min=-100.0))
    if weight is not None:
        loss = loss * _weight(op, "weight", weight, x, x.shape)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: Any = None, reduce: Any = None,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """binary_cross_entropy(sigmoid(input), target) computed stably from the logits:
    w * ((1 - y) * log(1 + exp(x)) + pw * y * log(1 + exp(-x))).

    Shapes: input (logits) and target of one shape (*); weight broadcasts to it; pos_weight
    broadcasts along the last (class) dim, e.g. (C,). Example:
    ``F.binary_cross_entropy_with_logits(logits, labels, pos_weight=fastgrad.ones(C) * 3)``.
    """
    op = "binary_cross_entropy_with_logits"
    x, reduction = _prep(op, input, reduction, size_average, reduce)
    y = _as_t(target, x)
    _same_size(op, x, y)
    # (1 - y) * softplus(x) + pw * y * softplus(-x): two non-negative terms, no cancellation
    lg = _log1p_exp_neg_abs(x)
    sp_pos, sp_neg = x.relu() + lg, (-x).relu() + lg
    if pos_weight is not None:
        sp_neg = sp_neg * _weight(op, "pos_weight", pos_weight, x, x.shape)
    loss = (1.0 - y) * sp_pos + y * sp_neg
    if weight is not None:
        loss = loss * _weight(op, "weight", weight, x, x.shape)
    return _reduce(loss, reduction)


# --- regression ------------------------------------------------------------------------------
def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 * d**2 / beta where |d| < beta, else |d| - 0.5 * beta (d = input - target);
    beta == 0 is the L1 loss.

    Shapes: input and target of one shape (broadcasting warns). Example:
    ``F.smooth_l1_loss(pred, target, beta=0.5)``.
    """
    op = "smooth_l1_loss"
    x, reduction = _prep(op, input, reduction, size_average, reduce)
    if beta < 0:
        raise ValueError(f"{op}: beta must be non-negative, got {beta}")
    y = _as_t(target, x)
    _broadcast_warn(op, x, y)
    d = (x - y).abs()
    if beta == 0:
        return _reduce(d, reduction)
    over = (d - beta).relu()  # m = min(d, beta); 0.5 m^2 / beta + (d - m) is the piecewise loss
    m = d - over
    return _reduce(m * m * (0.5 / beta) + over, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 * d**2 where |d| <= delta, else delta * (|d| - 0.5 * delta) (d = input - target),
    times ``weight`` (the input's shape) when given.

    Example: ``F.huber_loss(pred, target, delta=2.0)``.
    """
    op = "huber_loss"
    x, reduction = _prep(op, input, reduction)
    if delta <= 0:
        raise ValueError(f"{op}: delta must be positive, got {delta}")
    y = _as_t(target, x)
    _broadcast_warn(op, x, y)
    d = (x - y).abs()
    over = (d - delta).relu()  # m = min(d, delta); 0.5 m^2 + delta (d - m) is the piecewise loss
    m = d - over
    loss = m * m * 0.5 + over * delta
    if weight is not None:
        w = _as_t(weight, x)
        if w.shape != x.shape:
            raise ValueError(f"{op}: weight of shape {w.shape} must have the input's shape "
                             f"{x.shape}")
        loss = loss * w
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Pointwise KL divergence of the distribution ``target`` from log-probabilities ``input``:
    target * (log(target) - input) (0 where target is 0); with log_target, exp(target) *
    (target - input). reduction 'batchmean' divides the sum by the batch size (input.size(0)),
    the mathematical KL divergence; 'mean' divides by every element (and warns, as PyTorch).

    Example: ``F.kl_div(F.log_softmax(logits, 1), probs, reduction='batchmean')``.
    """
    op = "kl_div"
    if reduction == "batchmean" and size_average is None and reduce is None:
        x, _ = _prep(op, input, "sum")
    else:
        x, reduction = _prep(op, input, reduction, size_average, reduce)
    y = _as_t(target, x)
    try:
        np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        raise LossShapeError(f"{op}: target size {y.shape} cannot be broadcast with input size "
                             f"{x.shape}") from None
    if log_target:
        loss = y.exp() * (y - x)
    else:
        pos = y > 0
        safe = where(pos, y, 1.0)
        loss = where(pos, y * (safe.log() - x), 0.0)
    if reduction == "batchmean":
        s = loss.sum()
        return s / float(x.shape[0]) if x.ndim else s
    if reduction == "mean":
        warnings.warn("kl_div: reduction 'mean' divides the total loss by both the batch size and "
                      "the support size; 'batchmean' divides only by the batch size and matches "
                      "the KL divergence's definition. 'mean' will change to behave as "
                      "'batchmean' in a future PyTorch release.", UserWarning, stacklevel=2)
    return _reduce(loss, reduction)


# --- margin losses ---------------------------------------------------------------------------
def soft_margin_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                     reduction: str = "mean") -> Tensor:
    """Two-class logistic loss log(1 + exp(-y * x)) with targets y in {1, -1}.

    Shapes: input (*), target broadcastable to it. Example: ``F.soft_margin_loss(x, y)``.
    """
    op = "soft_margin_loss"
    x, reduction = _prep(op, input, reduction, size_average, reduce)
    y = _as_t(target, x)
    try:
        b = tuple(np.broadcast_shapes(x.shape, y.shape))
    except ValueError:
        b = None
    if b != x.shape:
        raise LossShapeError(f"{op}: target of shape {y.shape} does not broadcast to the input's "
                             f"shape {x.shape}")
    return _reduce(_softplus(-(x * y)), reduction)


def _check_ndim(op: str, **tensors: Tensor) -> None:
    dims = {t.ndim for t in tensors.values()}
    if len(dims) > 1:
        shapes = ", ".join(f"{k}: {t.shape}" for k, t in tensors.items())
        raise LossShapeError(f"{op}: all input tensors should have the same number of dims, got "
                             f"{shapes}")


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average: Any = None, reduce: Any = None,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where y == 1, max(0, cos(x1, x2) - margin) where y == -1.

    Shapes: input1, input2 (N, D) or (D,); target (N,) or () of 1 / -1. cos uses
    sqrt((|x1|^2 + 1e-12) * (|x2|^2 + 1e-12)) as denominator. Example:
    ``F.cosine_embedding_loss(a, b, fastgrad.tensor([1, -1]))``.
    """
    op = "cosine_embedding_loss"
    x1, reduction = _prep(op, input1, reduction, size_average, reduce)
    x2 = _as_t(input2, x1)
    y = _as_t(target, x1)
    if x1.ndim not in (1, 2) or x1.shape != x2.shape or y.shape != x1.shape[:-1]:
        raise LossShapeError(f"{op}: expected input1 and input2 of one shape (N, D) or (D,) and "
                             f"target (N,) or (), got input1 {x1.shape}, input2 {x2.shape}, "
                             f"target {y.shape}")
    eps = 1e-12
    prod = (x1 * x2).sum(-1)
    m1 = (x1 * x1).sum(-1) + eps
    m2 = (x2 * x2).sum(-1) + eps
    cos = prod / (m1 * m2).sqrt()
    loss = where(y == 1, 1.0 - cos, 0.0) + where(y == -1, (cos - margin).clamp(min=0.0), 0.0)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """max(0, -y * (x1 - x2) + margin), y in {1, -1} (1: x1 should rank higher).

    Shapes: input1, input2, target with the same number of dims (broadcast). Example:
    ``F.margin_ranking_loss(s1, s2, fastgrad.tensor([1., -1.]))``.
    """
    op = "margin_ranking_loss"
    x1, reduction = _prep(op, input1, reduction, size_average, reduce)
    x2 = _as_t(input2, x1)
    y = _as_t(target, x1)
    _check_ndim(op, input1=x1, input2=x2, target=y)
    try:
        np.broadcast_shapes(x1.shape, x2.shape, y.shape)
    except ValueError:
        raise LossShapeError(f"{op}: shapes input1 {x1.shape}, input2 {x2.shape}, target "
                             f"{y.shape} cannot be broadcast together") from None
    return _reduce((-y * (x1 - x2) + margin).clamp(min=0.0), reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-norm distance (eps added to the
    difference); ``swap`` uses min(d(a, n), d(p, n)) as the negative distance.

    Shapes: anchor, positive, negative (N, D) or (D,), same number of dims. Example:
    ``F.triplet_margin_loss(a, pos, neg, margin=0.5)``.
    """
    op = "triplet_margin_loss"
    a, reduction = _prep(op, anchor, reduction, size_average, reduce)
    pos = _as_t(positive, a)
    neg = _as_t(negative, a)
    _check_ndim(op, anchor=a, positive=pos, negative=neg)
    if a.ndim not in (1, 2):
        raise LossShapeError(f"{op}: expected 1-D or 2-D inputs, got anchor {a.shape}, positive "
                             f"{pos.shape}, negative {neg.shape}")
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    d_ap = pairwise_distance(a, pos, p, eps)
    d_an = pairwise_distance(a, neg, p, eps)
    if swap:
        d_an = minimum(d_an, pairwise_distance(pos, neg, p, eps))
    loss = (d_ap - d_an + margin).clamp(min=0.0)
    return _reduce(loss, reduction)


__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
    "cosine_similarity", "huber_loss", "kl_div", "margin_ranking_loss", "pairwise_distance",
    "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
]
