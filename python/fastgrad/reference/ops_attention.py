# Fused scaled dot-product attention of the reference backend, as in cpp/autograd/ops_attention.cpp:
# softmax(q k^T scale + mask [+ causal]) v over (B, H, L, E) inputs. The reference computes the
# whole (L, S) matrix (clarity, not memory); the rule is the vector-Jacobian product written with
# backend ops, so create_graph works. The mask gets no gradient.
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastgrad.reference.ops_elementwise import add, from_numpy, mul, sub
from fastgrad.reference.ops_matmul import matmul
from fastgrad.reference.ops_reduce import softmax, sum
from fastgrad.reference.ops_shape import permute
from fastgrad.reference.tape import DTYPE_NAMES, FnNode, RTensor, is_floating, make_node

Grads = Sequence[RTensor]
_OP = "scaled_dot_product_attention"


def _causal(lq: int, s: int, dtype: np.dtype) -> np.ndarray:
    return np.triu(np.full((lq, s), -np.inf, dtype=dtype), 1)


def _check(q: RTensor, k: RTensor, v: RTensor, mask: RTensor | None) -> None:
    if not is_floating(q.dtype) or k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(f"{_OP}: expected query, key and value of one floating dtype, got "
                        f"{DTYPE_NAMES[q.dtype]}, {DTYPE_NAMES[k.dtype]}, {DTYPE_NAMES[v.dtype]}")
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"{_OP}: expected 4-D query, key and value (B, H, L, E), got {q.shape}, "
                         f"{k.shape}, {v.shape}")
    b, h, _, e = q.shape
    s = k.shape[2]
    if k.shape[:2] != (b, h) or k.shape[3] != e or v.shape[:3] != (b, h, s):
        raise ValueError(f"{_OP}: query {q.shape}, key {k.shape} and value {v.shape} do not agree")
    if mask is not None:
        if mask.dtype != q.dtype:
            raise TypeError(f"{_OP}: expected a {DTYPE_NAMES[q.dtype]} additive mask, got "
                            f"{DTYPE_NAMES[mask.dtype]}")
        try:
            if np.broadcast_shapes(mask.shape, (b, h, q.shape[2], s)) != (b, h, q.shape[2], s):
                raise ValueError
        except ValueError:
            raise ValueError(f"{_OP}: attn_mask of shape {mask.shape} does not broadcast to "
                             f"{(b, h, q.shape[2], s)}") from None


def _scores(q: RTensor, k: RTensor, mask: RTensor | None, causal: bool, scale: float) -> RTensor:
    s = matmul(mul(q, from_numpy(np.array(scale, dtype=q.data.dtype))), permute(k, [0, 1, 3, 2]))
    if mask is not None:
        s = add(s, mask)
    if causal:
        s = add(s, from_numpy(_causal(q.shape[2], k.shape[2], q.data.dtype)))
    return s


def _rule(n: FnNode, g: Grads) -> list:
    q, k, v, mask = n.saved(0), n.saved(1), n.saved(2), n.saved(3)
    causal, scale = n.args
    p = softmax(_scores(q, k, mask, causal, scale), 3)
    dv = matmul(permute(p, [0, 1, 3, 2]), g[0])
    dp = matmul(g[0], permute(v, [0, 1, 3, 2]))
    ds = mul(mul(p, sub(dp, sum(mul(dp, p), [3], True))),
             from_numpy(np.array(scale, dtype=q.data.dtype)))
    return [matmul(ds, k), matmul(permute(ds, [0, 1, 3, 2]), q), dv, None]


def attention(q: RTensor, k: RTensor, v: RTensor, mask: RTensor | None, causal: bool,
              scale: float) -> RTensor:
    """softmax(q k^T scale + mask [+ causal]) v: (B, H, L, E), (B, H, S, E), (B, H, S, D)."""
    _check(q, k, v, mask)
    s = (q.data * q.data.dtype.type(scale)) @ np.swapaxes(k.data, -1, -2)
    if mask is not None:
        s = s + mask.data
    if causal:
        s = s + _causal(q.shape[2], k.shape[2], q.data.dtype)
    with np.errstate(invalid="ignore"):
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        p = s / s.sum(axis=-1, keepdims=True)
    out = RTensor(np.ascontiguousarray(p @ v.data))
    n = make_node("ScaledDotProductAttentionBackward", _rule, [q, k, v, mask], [out],
                  (bool(causal), float(scale)))
    if n is not None:
        for t in (q, k, v, mask):
            n.save(t)
    return out
