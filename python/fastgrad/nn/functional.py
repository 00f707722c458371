"""fastgrad.nn.functional (``F``): activations, linear and losses as functions of tensors.

Every function is a composite of Tensor ops, so autograd (and create_graph) covers it with no
rule of its own; a fused softmax + cross-entropy kernel is a later speed issue. Names, arguments
and formulas follow torch.nn.functional.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastgrad._dtype import int64
from fastgrad._random import _rng
from fastgrad.tensor import Tensor, _as_tensor_like, _wrap, where

_REDUCTIONS = ("mean", "sum", "none")


class TargetOutOfRangeError(IndexError, ValueError):
    """A class index outside [0, C): an IndexError as in PyTorch, and a ValueError."""


def _t(x: Any, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# --- activations -----------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), elementwise."""
    return _t(input, "relu").relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    x = _t(input, "leaky_relu")
    return where(x > 0, x, x * negative_slope)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (PyTorch's)."""
    x = _t(input, "softplus")
    bx = x if beta == 1 else x * beta
    y = _wrap(x._b.softplus(bx._float_impl()), x._b)
    y = y if beta == 1 else y / beta
    return where(bx > threshold, x.astype(y.dtype), y)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    x = _t(input, "elu")
    # exp of the clamped input: the branch where() drops must not overflow (0 * inf = nan).
    return where(x > 0, x, (x.clamp(max=0.0).exp() - 1.0) * alpha)


def sigmoid(input: Tensor) -> Tensor:
    return _t(input, "sigmoid").sigmoid()


def tanh(input: Tensor) -> Tensor:
    return _t(input, "tanh").tanh()


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (default: the last dim)."""
    x = _t(input, "softmax")
    if dtype is not None:
        x = x.astype(dtype)
    return x.softmax(-1 if dim is None else dim)


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """x - logsumexp(x) along ``dim`` (default: the last dim)."""
    x = _t(input, "log_softmax")
    if dtype is not None:
        x = x.astype(dtype)
    return x.log_softmax(-1 if dim is None else dim)


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zeroes each element with probability p and scales the rest by 1/(1-p) (training only).

    The mask comes from the generator seeded by ``fastgrad.manual_seed``.
    """
    x = _t(input, "dropout")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = _rng().random(x.shape) >= p
    # one pass: keep * 1/(1-p) rounded once to x's dtype (bitwise the old (keep / (1 - p)).astype,
    # which made a float64 array first: 4.4 -> 1.7 ms for 590K elements, most of it the random draw)
    mask = np.multiply(keep, 1.0 / (1.0 - p), dtype=x.dtype.np)
    return x * _wrap(x._b.from_numpy(mask), x._b)


# --- linear ----------------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x @ weight.T + bias.

    Shapes: x (*, in_features), weight (out_features, in_features), bias (out_features,)
    -> (*, out_features). Example: ``F.linear(x, w, b)``.
    """
    x = _t(input, "linear")
    y = _linear_fast(x, weight, bias)  # h1-nnfast: one LinearBackward node
    if y is not None:
        return y
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape "
                         f"{weight.shape} (expected last dim {weight.shape[1]})")
    if x.ndim > 2:  # fold the leading dims: one GEMM (a batched x @ W.T sums dW over batches)
        y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(*x.shape[:-1], weight.shape[0])
    else:
        y = x @ weight.T
    if bias is not None:
        if tuple(bias.shape) not in ((weight.shape[0],), ()):
            raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape "
                             f"{weight.shape}")
        y = y + bias
    return y


# --- losses ----------------------------------------------------------------------------------
def _class_targets(op: str, logits: Tensor, target: Any) -> tuple[Tensor, Tensor, np.ndarray]:
    """logits as (M, C) (class dim last), targets as (M,) int64 positions, and the loss shape."""
    if not isinstance(target, Tensor):
        target = _as_tensor_like(np.asarray(target), logits)
    logits._same_backend(target)
    if target.dtype is not int64:
        raise TypeError(
            f"{op}: target must be an int64 tensor of class indices (or class probabilities of the "
            f"input's shape {logits.shape}), got {target.dtype.name} of shape {target.shape}"
        )
    if logits.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    if logits.ndim == 1:
        expected: tuple[int, ...] = ()
    else:
        expected = (logits.shape[0],) + logits.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: input of shape {logits.shape} expects target of shape "
                         f"{expected}, got {target.shape}")
    c = logits.shape[0] if logits.ndim == 1 else logits.shape[1]
    if logits.ndim > 2:  # (N, C, d1, ...) -> (N*d1*..., C)
        perm = [0] + list(range(2, logits.ndim)) + [1]
        logits = logits.permute(perm).reshape(-1, c)
    elif logits.ndim == 1:
        logits = logits.reshape(-1, c)
    return logits, target.reshape(-1) if target.ndim != 1 else target, np.asarray(expected)


def _check_range(op: str, t: np.ndarray, c: int, ignore_index: int | None) -> bool:
    """Raises for a target outside [0, c) that is not ignore_index; True if all are in [0, c)."""
    if t.size == 0 or (t.min() >= 0 and t.max() < c):
        return True
    bad = (t < 0) | (t >= c)
    if ignore_index is not None:
        bad &= t != ignore_index
    if bad.any():
        v = int(t[np.argmax(bad)])
        raise TargetOutOfRangeError(
            f"{op}: target {v} is out of bounds for {c} classes (valid: 0 <= target < {c})"
        )
    return False


def _pick(x: Tensor, t: np.ndarray) -> Tensor:
    """x (M, C), t (M,) class indices -> x[arange(M), t], shape (M,), differentiable."""
    m, c = x.shape
    pos = np.arange(m, dtype=np.int64) * c + t
    b = x._b
    return _wrap(b.take(x._impl, b.from_numpy(pos)), b)


def cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy: -log softmax(input)[target], averaged over the batch by default.

    Shapes: input (N, C) logits (or (C,), or (N, C, d1, ...)), target (N,) int64 class indices
    in [0, C) (or (), or (N, d1, ...)); or class probabilities of the input's shape.
    Example: ``F.cross_entropy(logits, fastgrad.tensor([3, 0]))``.
    """
    op = "cross_entropy"
    if (weight is None and ignore_index < 0 and label_smoothing == 0.0 and type(target) is Tensor
            and isinstance(input, Tensor)):  # h1-nnfast: class targets in [0, C), one call
        y = _cross_entropy_fast(input, target, reduction)
        if y is not None:
            return y
    x = _t(input, op)
    _check_reduction(op, reduction)
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}: input must be floating point (logits), got {x.dtype.name}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if isinstance(target, Tensor) and target.dtype.is_floating_point:
        cdim = 0 if x.ndim == 1 else 1
        return _soft_cross_entropy(x, target, weight, reduction, label_smoothing, cdim)
    logits, tgt, shape = _class_targets(op, x, target)
    if weight is None and label_smoothing == 0.0:
        t = np.asarray(tgt)
        c = logits.shape[1]
        # the common case: one fused op, one fused backward (an in-range ignore_index is looked for)
        if _check_range(op, t, c, ignore_index) and (
                not 0 <= ignore_index < c or not (t == ignore_index).any()):
            b = logits._b
            loss = _wrap(b.cross_entropy_rows(logits._impl, tgt._impl), b)
            return _reduce_rows(loss, shape, reduction)
    lp = logits.log_softmax(1)
    return _nll(op, lp, tgt, shape, weight, ignore_index, reduction, label_smoothing)


def _reduce_rows(loss: Tensor, shape: np.ndarray, reduction: str) -> Tensor:
    """Per-row losses (M,) reduced as asked; 'none' gives the target's shape."""
    if reduction == "none":
        return loss.reshape(tuple(int(v) for v in shape))
    if reduction == "sum":
        return loss.sum()
    return loss.mean()


def _nll(op: str, lp: Tensor, tgt: Tensor, shape: np.ndarray, weight: Tensor | None,
         ignore_index: int, reduction: str, label_smoothing: float = 0.0) -> Tensor:
    """The negative log-likelihood of lp (M, C) log-probabilities at tgt (M,), reduced."""
    _m, c = lp.shape
    t = np.asarray(tgt.detach()).astype(np.int64, copy=False)
    _check_range(op, t, c, ignore_index)
    keep = t != ignore_index
    all_kept = bool(keep.all())
    safe = t if all_kept else np.where(keep, t, 0)
    np_dtype = lp.dtype.np
    if weight is not None:
        if weight.shape != (c,):
            raise ValueError(f"{op}: weight must have shape ({c},), got {weight.shape}")
        w = np.asarray(weight.detach()).astype(np_dtype)
        coef = np.where(keep, w[safe], 0).astype(np_dtype)
    else:
        coef = keep.astype(np_dtype)
    b = lp._b
    loss = -_pick(lp, safe)  # (M,)
    if weight is not None or not all_kept:
        loss = loss * _wrap(b.from_numpy(coef), b)
    if label_smoothing > 0.0:
        wl = lp if weight is None else lp * _wrap(b.from_numpy(w), b)
        smooth = -wl.sum(1) / float(c)
        if not all_kept:
            smooth = smooth * _wrap(b.from_numpy(keep.astype(np_dtype)), b)
        loss = loss * (1.0 - label_smoothing) + smooth * label_smoothing
    if reduction == "none":
        return loss.reshape(tuple(int(v) for v in shape))
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / float(coef.sum(dtype=np.float64))


def _soft_cross_entropy(x: Tensor, target: Tensor, weight: Tensor | None, reduction: str,
                        label_smoothing: float, cdim: int) -> Tensor:
    if target.shape != x.shape:
        raise TypeError(
            f"cross_entropy: target must be an int64 tensor of class indices (or class "
            f"probabilities of the input's shape {x.shape}), got {target.dtype.name} of shape "
            f"{target.shape}"
        )
    c = x.shape[cdim]
    if label_smoothing > 0.0:
        target = target * (1.0 - label_smoothing) + label_smoothing / c
    lp = x.log_softmax(cdim)
    if weight is not None:
        shape = [1] * x.ndim
        shape[cdim] = c
        lp = lp * weight.detach().reshape(shape)
    loss = -(lp * target.astype(x.dtype)).sum(cdim)
    if reduction == "mean":
        n = loss.numel()
        return loss.sum() / float(n) if n else loss.sum() * float("nan")
    return _reduce(loss, reduction)


def nll_loss(input: Tensor, target: Any, weight: Tensor | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities, -input[target]: cross_entropy without the
    log_softmax. Shapes as in cross_entropy."""
    op = "nll_loss"
    x = _t(input, op)
    _check_reduction(op, reduction)
    lp, tgt, shape = _class_targets(op, x, target)
    return _nll(op, lp, tgt, shape, weight, ignore_index, reduction)


def multi_margin_loss(input: Tensor, target: Any, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """Multiclass hinge (SVM) loss: sum over j != y of max(0, margin - x[y] + x[j])**p, / C.

    Shapes: input (N, C) scores or (C,), target (N,) int64 in [0, C) or ().
    Example: ``F.multi_margin_loss(scores, fastgrad.tensor([2, 0]))``.
    """
    op = "multi_margin_loss"
    x = _t(input, op)
    _check_reduction(op, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 are supported, got {p}")
    if x.ndim > 2:
        raise ValueError(f"{op}: input must be 1-D or 2-D, got shape {x.shape}")
    scores, tgt, shape = _class_targets(op, x, target)
    m, c = scores.shape
    t = np.asarray(tgt.detach()).astype(np.int64, copy=False)
    _check_range(op, t, c, None)
    xy = _pick(scores, t).reshape(m, 1)
    hinge = (scores - xy + margin).clamp(min=0.0)
    if p == 2:
        hinge = hinge * hinge
    others = np.arange(c)[None, :] != t[:, None]  # j != y
    w = others.astype(x.dtype.np)
    if weight is not None:
        if weight.shape != (c,):
            raise ValueError(f"{op}: weight must have shape ({c},), got {weight.shape}")
        w = w * np.asarray(weight.detach()).astype(x.dtype.np)[t][:, None]
    loss = (hinge * _wrap(x._b.from_numpy(np.ascontiguousarray(w)), x._b)).sum(1) / float(c)
    if reduction == "none":
        return loss.reshape(tuple(int(v) for v in shape))
    return _reduce(loss, reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean((input - target)**2).

    Shapes: input and target of the same shape (or broadcastable). Example: ``F.mse_loss(y, t)``.
    """
    op = "mse_loss"
    x = _t(input, op)
    _check_reduction(op, reduction)
    tgt = _as_tensor_like(target, x) if not isinstance(target, Tensor) else target
    d = x - tgt
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error: mean(|input - target|)."""
    x = _t(input, "l1_loss")
    _check_reduction("l1_loss", reduction)
    tgt = _as_tensor_like(target, x) if not isinstance(target, Tensor) else target
    return _reduce((x - tgt).abs(), reduction)


__all__ = [
    "cross_entropy", "dropout", "elu", "l1_loss", "leaky_relu", "linear", "log_softmax",
    "mse_loss", "multi_margin_loss", "nll_loss", "relu", "sigmoid", "softmax", "tanh",
]

# --- more losses (nn/_functional_losses.py) ---------------------------------------------------
from fastgrad.nn._functional_losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cosine_similarity,
    huber_loss,
    kl_div,
    margin_ranking_loss,
    pairwise_distance,
    smooth_l1_loss,
    soft_margin_loss,
    triplet_margin_loss,
)

__all__ += [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "cosine_similarity",
    "huber_loss",
    "kl_div",
    "margin_ranking_loss",
    "pairwise_distance",
    "smooth_l1_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
]

# --- sequence layers: embeddings, attention, more activations (nn/_functional_seq.py) ----------
from fastgrad.nn._functional_seq import (
    embedding,
    embedding_bag,
    gelu,
    hardswish,
    hardtanh,
    mish,
    one_hot,
    scaled_dot_product_attention,
    silu,
    softsign,
)

__all__ += ["embedding", "embedding_bag", "gelu", "hardswish", "hardtanh", "mish", "one_hot",
            "scaled_dot_product_attention", "silu", "softsign"]

# --- convolution, padding, pooling, normalization: nn/_functional_conv.py ---------------------
from fastgrad.nn._functional_conv import *

# --- h1-nnfast: fast paths of linear and cross_entropy (issue 19) ------------------------------
# One backend call each for the common case; anything the primitive rejects (other ranks, dtypes
# to promote, a 0-d bias, targets out of range or equal to ignore_index, an empty batch) takes
# the general code above, which raises the same errors as before.
_INT64 = int64.code


def _linear_fast(x: Tensor, weight: Any, bias: Any) -> Tensor | None:
    """x (M, K) or (*, K) @ weight (N, K)^T + bias (N,) as one backend ``linear`` call, or None."""
    b = x._b
    if not isinstance(weight, Tensor) or weight._b is not b:
        return None
    if bias is None:
        bi = None
    elif isinstance(bias, Tensor) and bias._b is b:
        bi = bias._impl
    else:
        return None
    xi = x._impl
    nd = xi.ndim
    try:
        if nd == 2:
            return _wrap(b.linear(xi, weight._impl, bi), b)
        if nd == 0:
            return None
        shape = xi.shape
        x2 = b.reshape(xi, [-1, shape[-1]] if nd > 1 else [1, shape[0]])
        y = b.linear(x2, weight._impl, bi)
    except (ValueError, TypeError):
        return None
    return _wrap(b.reshape(y, list(shape[:-1]) + [weight._impl.shape[0]]), b)


def _cross_entropy_fast(x: Tensor, target: Tensor, reduction: str) -> Tensor | None:
    """Logits (M, C) and int64 class targets (M,) all in [0, C): one backend call, or None."""
    b = x._b
    xi, ti = x._impl, target._impl
    if target._b is not b or xi.ndim != 2 or ti.dtype != _INT64 or reduction not in _REDUCTIONS:
        return None
    try:
        return _wrap(b.cross_entropy_reduced(xi, ti, reduction), b)
    except (IndexError, ValueError, TypeError):
        return None
