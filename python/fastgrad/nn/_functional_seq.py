"""Functionals of the sequence layers: embeddings, one_hot, scaled dot-product attention and the
activations gelu silu mish hardtanh hardswish softsign (re-exported by nn.functional, which must
not be imported here). Composites of Tensor ops (a gather through ``take``, its gradient
``put_add``); attention uses the blocked ``attention`` primitive when it can. Not here: softplus
(nn.functional, a primitive).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastgrad._dtype import bool_, int64
from fastgrad.tensor import Tensor, _wrap, where


def _const(a: np.ndarray, like: Tensor) -> Tensor:
    """A constant tensor from a NumPy array, on ``like``'s backend."""
    return _wrap(like._b.from_numpy(np.ascontiguousarray(a)), like._b)


def _indices(op: str, input: Any, n: int) -> np.ndarray:
    """Integer indices as an int64 array, checked against [0, n)."""
    if isinstance(input, Tensor):
        if input.dtype is not int64:
            raise TypeError(f"{op}: indices must be an int64 tensor, got {input.dtype.name} of "
                            f"shape {input.shape}")
        a = np.asarray(input.detach().numpy())
    else:
        a = np.asarray(input)
        if a.dtype.kind not in "iu":
            raise TypeError(f"{op}: indices must be integers, got {a.dtype}")
        a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= n):
        bad = a[(a < 0) | (a >= n)].reshape(-1)[0]
        raise IndexError(f"{op}: index {int(bad)} is out of range for {n} embeddings")
    return a


def _norm_padding_idx(op: str, padding_idx: int | None, n: int) -> int | None:
    if padding_idx is None:
        return None
    p = int(padding_idx)
    if not -n <= p < n:
        raise ValueError(f"{op}: padding_idx {p} must be within num_embeddings ({n})")
    return p % n


def _renorm_(weight: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescales in place (under no_grad) the rows of weight named in idx whose norm exceeds
    max_norm to norm max_norm (PyTorch's embedding_renorm_: scale max_norm / (norm + 1e-7))."""
    from fastgrad.autograd.grad_mode import no_grad

    rows = np.unique(idx.reshape(-1))
    if rows.size == 0:
        return
    w = np.asarray(weight.detach().numpy())[rows]
    norms = np.linalg.norm(w.astype(np.float64), ord=norm_type, axis=1)
    big = norms > max_norm
    if not big.any():
        return
    scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
    with no_grad():
        weight[_const(rows[big], weight)] = _const(w[big] * scale[:, None], weight)


def _gather_rows(weight: Tensor, idx: np.ndarray) -> Tensor:
    """weight[idx] as a differentiable gather: shape idx.shape + (D,)."""
    d = weight.shape[1]
    pos = idx[..., None] * d + np.arange(d, dtype=np.int64)
    w = weight if weight.is_contiguous() else weight.contiguous()
    return _wrap(w._b.take(w._impl, w._b.from_numpy(np.ascontiguousarray(pos))), w._b)


def _scale_grad(out: Tensor, scale: np.ndarray) -> Tensor:
    """out with its gradient multiplied by ``scale`` (broadcast over the last dim); forward values
    are unchanged bit for bit (out + 0)."""
    if not out.requires_grad:
        return out
    s = _const(scale.astype(out.dtype.np)[..., None], out)
    det = out.detach()
    return det + (out - det) * s


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by integer indices.

    Shapes: input (*) int64, weight (num_embeddings, embedding_dim) -> (*, embedding_dim). The
    row ``padding_idx`` gets no gradient; with ``max_norm`` the rows used are renormalised in
    place first. Example: ``F.embedding(fastgrad.tensor([[0, 2]]), w).shape == (1, 2, D)``.
    """
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"embedding: weight must be a 2-D tensor (num_embeddings, embedding_dim)"
                         f", got {getattr(weight, 'shape', type(weight).__name__)}")
    n = weight.shape[0]
    idx = _indices("embedding", input, n)
    padding_idx = _norm_padding_idx("embedding", padding_idx, n)
    if max_norm is not None:
        _renorm_(weight, idx, float(max_norm), float(norm_type))
    out = _gather_rows(weight, idx)
    if out.requires_grad and (scale_grad_by_freq or
                              (padding_idx is not None and (idx == padding_idx).any())):
        scale = np.ones(idx.shape)
        if scale_grad_by_freq:
            _, inv, counts = np.unique(idx.reshape(-1), return_inverse=True,
                                          return_counts=True)
            scale = (1.0 / counts[inv]).reshape(idx.shape)
        if padding_idx is not None:
            scale = np.where(idx == padding_idx, 0.0, scale)
        out = _scale_grad(out, scale)
    return out


def _bags(op: str, idx: np.ndarray, offsets: Any, include_last_offset: bool
          ) -> tuple[np.ndarray, np.ndarray, int]:
    """(flat indices, bag id of each, number of bags) from a 2-D input or a 1-D input + offsets."""
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: if input is 2-D (B, N), offsets has to be None, got offsets")
        b, m = idx.shape
        return idx.reshape(-1), np.repeat(np.arange(b, dtype=np.int64), m), b
    if idx.ndim != 1:
        raise ValueError(f"{op}: input has to be 1-D or 2-D, got shape {idx.shape}")
    if offsets is None:
        raise ValueError(f"{op}: offsets has to be a 1-D tensor but got None (1-D input)")
    off = np.asarray(offsets.detach().numpy() if isinstance(offsets, Tensor) else offsets)
    if off.ndim != 1:
        raise ValueError(f"{op}: offsets has to be a 1-D tensor, got shape {off.shape}")
    off = off.astype(np.int64)
    if off.size == 0 or off[0] != 0:
        raise ValueError(f"{op}: offsets[0] has to be 0, i.e., the first sequence in the "
                         "mini-batch has to start from position 0")
    if (np.diff(off) < 0).any() or off[-1] > idx.size:
        raise ValueError(f"{op}: offsets must be non-decreasing and at most {idx.size}, got "
                         f"{off.tolist()}")
    bounds = off if include_last_offset else np.append(off, idx.size)
    nb = bounds.size - 1
    counts = np.diff(bounds)
    bag = np.repeat(np.arange(nb, dtype=np.int64), counts)
    return idx[bounds[0]:bounds[-1]], bag, nb


def embedding_bag(input: Any, weight: Tensor, offsets: Any = None, max_norm: float | None = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean",
                  sparse: bool = False, per_sample_weights: Tensor | None = None,
                  include_last_offset: bool = False, padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxes of bags of embedding rows, without building the (B, N, D) gather.

    Shapes: input (B, N) (fixed-size bags) or (L,) with offsets (B,) (or (B+1,) with
    include_last_offset); weight (num_embeddings, D) -> (B, D). An empty bag gives zeros; entries
    equal to padding_idx are left out. Example: ``F.embedding_bag(idx, w, offs, mode="sum")``.
    """
    op = "embedding_bag"
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"{op}: weight has to be a 2-D tensor, got "
                         f"{getattr(weight, 'shape', None)}")
    n, d = weight.shape
    idx2 = _indices(op, input, n)
    padding_idx = _norm_padding_idx(op, padding_idx, n)
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"{op}: per_sample_weights was not None. "
                                      "per_sample_weights is only supported for mode='sum' "
                                      f"(got mode={mode!r})")
        if tuple(per_sample_weights.shape) != idx2.shape:
            raise ValueError(f"{op}: per_sample_weights of shape {per_sample_weights.shape} must "
                             f"have the input's shape {idx2.shape}")
    flat, bag, nb = _bags(op, idx2, offsets, include_last_offset)
    sel = np.arange(flat.size, dtype=np.int64)
    if padding_idx is not None:
        sel = sel[flat != padding_idx]
    if max_norm is not None:
        _renorm_(weight, flat[sel], float(max_norm), float(norm_type))
    rows, bag_of = flat[sel], bag[sel]
    counts = np.bincount(bag_of, minlength=nb)
    e = _gather_rows(weight, rows)                                   # (k, D)
    if scale_grad_by_freq and e.requires_grad and rows.size:
        _, inv, cnt = np.unique(rows, return_inverse=True, return_counts=True)
        e = _scale_grad(e, 1.0 / cnt[inv])
    if mode == "max":
        order = np.argsort(bag_of, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        width = max(int(counts.max()) if nb else 0, 1)
        slot = np.full((nb, width), rows.size, dtype=np.int64)      # rows.size: the -inf row
        rank = np.arange(rows.size) - starts[bag_of[order]]
        slot[bag_of[order], rank] = order
        from fastgrad._ops import cat

        ninf = _const(np.full((1, d), -np.inf, dtype=weight.dtype.np), weight)
        ext = cat([e, ninf], 0) if rows.size else ninf
        m = _gather_rows(ext, slot).amax(dim=1)                      # (B, D)
        return where(_const((counts > 0)[:, None], weight), m, 0.0)
    if per_sample_weights is not None:
        psw = per_sample_weights.reshape(-1)
        # sel: positions in the flattened input (offsets[0] is 0)
        psw = _wrap(psw._b.take(psw.contiguous()._impl, psw._b.from_numpy(sel)), psw._b)
        e = e * psw.unsqueeze(1)
    pos = bag_of[:, None] * d + np.arange(d, dtype=np.int64)
    if rows.size == 0:
        out = _const(np.zeros((nb, d), dtype=weight.dtype.np), weight)
    else:
        e = e.contiguous()
        out = _wrap(e._b.put_add(e._impl, e._b.from_numpy(np.ascontiguousarray(pos)), [nb, d]),
                    e._b)
    if mode == "mean":
        out = out / _const(np.maximum(counts, 1).astype(weight.dtype.np)[:, None], weight)
    return out


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 (*, num_classes) with a 1 at each index (num_classes=-1: max index + 1).

    Example: ``F.one_hot(fastgrad.tensor([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]``.
    """
    if not isinstance(tensor, Tensor) or tensor.dtype is not int64:
        raise TypeError("one_hot: expected an int64 tensor of class indices, got "
                        f"{getattr(tensor, 'dtype', type(tensor).__name__)}")
    a = np.asarray(tensor.numpy() if not tensor.requires_grad else tensor.detach().numpy())
    if num_classes == -1:
        if a.size == 0:
            raise ValueError("one_hot: can not infer total number of classes from an empty tensor")
        num_classes = int(a.max()) + 1
    if a.size and (a.min() < 0 or a.max() >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got "
                         f"[{int(a.min())}, {int(a.max())}]")
    out = np.zeros(a.shape + (int(num_classes),), dtype=np.int64)
    np.put_along_axis(out, a[..., None], 1, axis=-1)
    return _const(out, tensor)


# --- attention ---------------------------------------------------------------------------------
def _float_mask(op: str, mask: Any, like: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A boolean (True: attend) or float (added) mask as an additive float tensor."""
    if not isinstance(mask, Tensor):
        mask = _const(np.asarray(mask), like)
    try:
        np.broadcast_shapes(mask.shape, shape)
    except ValueError:
        raise ValueError(f"{op}: attn_mask of shape {mask.shape} does not broadcast to the "
                         f"attention weights' shape {shape}") from None
    if mask.dtype is bool_:
        m = np.where(np.asarray(mask.numpy()), 0.0, -np.inf).astype(like.dtype.np)
        return _const(m, like)
    if not mask.is_floating_point():
        raise TypeError(f"{op}: attn_mask must be bool or floating point, got {mask.dtype.name}")
    return mask.astype(like.dtype) if mask.dtype is not like.dtype else mask


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v, over the last two dims.

    Shapes: query (*, L, E), key (*, S, E), value (*, S, Ev) -> (*, L, Ev); attn_mask broadcasts
    to (*, L, S): bool (True takes part) or float (added). ``is_causal`` masks j > i. With
    ``enable_gqa`` key/value heads (dim -3) are repeated to query's. Example:
    ``F.scaled_dot_product_attention(q, k, v, is_causal=True)``.
    """
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2:
            raise ValueError(f"{op}: {name} must be a tensor of at least 2 dims, got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{op}: query {query.shape}, key {key.shape} and value {value.shape} "
                         "must agree (query and key in E, key and value in S)")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk or value.shape[-3] != hk:
            raise ValueError(f"{op}: with enable_gqa, query heads ({hq}) must be a multiple of "
                             f"key/value heads ({hk}, {value.shape[-3]})")
        key, value = _repeat_heads(key, hq // hk), _repeat_heads(value, hq // hk)
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: explicit attn_mask should not be set when is_causal=True")
    L, S = query.shape[-2], key.shape[-2]
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    mask = None if attn_mask is None else _float_mask(op, attn_mask, query, (*query.shape[:-1], S))
    fused = _fused_attention(query, key, value, mask, is_causal, s, dropout_p)
    if fused is not None:
        return fused
    w = (query * s) @ key.transpose(-2, -1)
    if is_causal:
        w = w + _const(np.triu(np.full((L, S), -np.inf, dtype=query.dtype.np), 1), query)
    elif mask is not None:
        w = w + mask
    w = w.softmax(-1)
    if dropout_p > 0.0:  # as F.dropout (not imported: nn.functional re-exports this module)
        from fastgrad._random import _rng

        keep = (_rng().random(w.shape) >= dropout_p) / (1.0 - dropout_p)
        w = w * _const(keep.astype(w.dtype.np), w)
    return w @ value


def _fused_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool,
                     scale: float, dropout_p: float) -> Tensor | None:
    """The blocked attention primitive (never holding the (L, S) matrix) for inputs of up to 4
    dims with equal batch dims and a mask needing no gradient; None: use the composite."""
    fn = getattr(q._b, "attention", None)
    if (fn is None or dropout_p > 0.0 or q.ndim > 4 or q.shape[:-2] != k.shape[:-2]
            or k.shape[:-2] != v.shape[:-2] or not (q.dtype is k.dtype is v.dtype)
            or (mask is not None and (mask.requires_grad or mask.ndim > 4))
            or not q.is_floating_point()):
        return None
    pad = 4 - q.ndim
    q4, k4, v4 = (t.reshape(*([1] * pad), *t.shape) if pad else t for t in (q, k, v))
    out = _wrap(fn(q4._impl, k4._impl, v4._impl, None if mask is None else mask._impl,
                   bool(causal), float(scale)), q._b)
    return out.reshape(*q.shape[:-1], v.shape[-1]) if pad else out


def _repeat_heads(t: Tensor, r: int) -> Tensor:
    """(*, H, S, E) -> (*, H*r, S, E), each head repeated r times in place (repeat_interleave)."""
    shp = t.shape
    return t.unsqueeze(-3).expand(*shp[:-2], r, *shp[-2:]).reshape(
        *shp[:-3], shp[-3] * r, *shp[-2:])


# --- activations -------------------------------------------------------------------------------
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (approximate='none', with erf) or the tanh approximation ('tanh')."""
    if approximate == "none":
        return input * ((input * (1.0 / math.sqrt(2.0))).erf() + 1.0) * 0.5
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * (inner.tanh() + 1.0) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    return input * input.sigmoid()


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)) (softplus with PyTorch's threshold 20)."""
    sp = _wrap(input._b.softplus(input._float_impl()), input._b)
    return input * where(input > 20.0, input.astype(sp.dtype), sp).tanh()


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return input.clamp(min_val, max_val)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    return input * (input + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (input.abs() + 1.0)


__all__ = [
    "embedding", "embedding_bag", "gelu", "hardswish", "hardtanh", "mish", "one_hot",
    "scaled_dot_product_attention", "silu", "softsign",
]
