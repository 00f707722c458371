# Matrix multiply of the reference backend: np.matmul forward and its two-GEMM derivative rule,
# as in cpp/autograd/ops_matmul.cpp. Both operands are at least 2-D; batch dims broadcast and the
# engine sums broadcast batch gradients back (sum_to). Not here: 1-D operands (the Tensor layer).
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastgrad.reference.ops_reduce import sum as _sum
from fastgrad.reference.ops_shape import permute
from fastgrad.reference.tape import (
    FnNode,
    RTensor,
    broadcast_shapes,
    check_float,
    check_same_dtype,
    make_node,
    wrap,
)

Grads = Sequence[RTensor]


def _swap_last(t: RTensor) -> RTensor:
    """The transpose of the last two dims, as a view (never a copy)."""
    perm = list(range(t.ndim))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return permute(t, perm)


def matmul(a: RTensor, b: RTensor) -> RTensor:
    """a (..., M, K) @ b (..., K, N) -> (..., M, N), batch dims broadcast."""
    check_same_dtype("matmul", a, b)
    check_float("matmul", a)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: both operands must be at least 2-D")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}")
    try:
        broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: batch dims cannot be broadcast") from None
    with np.errstate(all="ignore"):
        out = wrap(np.matmul(a.data, b.data), a.dtype)
    n = make_node("MatmulBackward", _matmul_rule, [a, b], [out])
    if n is not None:
        n.save(a)
        n.save(b)
    return out


def _matmul_rule(n: FnNode, g: Grads) -> list:
    # dA = G · Bᵀ (..., M, K); dB = Aᵀ · G (..., K, N).
    a, b = n.saved(0), n.saved(1)
    da = matmul(g[0], _swap_last(b)) if n.needs_input_grad(0) else None
    db = matmul(_swap_last(a), g[0]) if n.needs_input_grad(1) else None
    return [da, db]


# --- h1-nnfast: linear, x @ w^T + b as one node (issue 19), as in ops_matmul.cpp --------------
def linear(x: RTensor, w: RTensor, b: RTensor | None) -> RTensor:
    """x (M, K), w (N, K), b (N,) or None -> (M, N) = x @ w^T + b, one LinearBackward node."""
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"linear: dtypes of input {x.data.dtype} and weight {w.data.dtype} differ "
                        "(or the bias's)")
    if not np.issubdtype(x.data.dtype, np.floating):
        raise TypeError(f"linear: expected floating-point tensors, got {x.data.dtype}")
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"linear: input {x.shape} does not match weight {w.shape} (expected "
                         "(M, K) and (N, K))")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"linear: bias of shape {b.shape} does not match weight of shape "
                         f"{w.shape}")
    with np.errstate(all="ignore"):
        y = x.data @ w.data.T
        if b is not None:
            y = y + b.data
    out = wrap(np.ascontiguousarray(y, dtype=x.data.dtype), x.dtype)
    inputs = [x, w] if b is None else [x, w, b]
    n = make_node("LinearBackward", _linear_rule, inputs, [out], (b is not None,))
    if n is not None:
        n.save(x)
        n.save(w)
    return out


def _linear_rule(n: FnNode, g: Grads) -> list:
    # dx = G · W (M, K); dW = Gᵀ · X (N, K); db = G summed over the rows (N,).
    x, w = n.saved(0), n.saved(1)
    dx = matmul(g[0], w) if n.needs_input_grad(0) else None
    dw = matmul(_swap_last(g[0]), x) if n.needs_input_grad(1) else None
    if not n.args[0]:
        return [dx, dw]
    return [dx, dw, _sum(g[0], [0], False) if n.needs_input_grad(2) else None]
