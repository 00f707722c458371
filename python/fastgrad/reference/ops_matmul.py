# Matrix multiply of the reference backend: np.matmul forward and its two-GEMM derivative rule,
# as in cpp/autograd/ops_matmul.cpp. Both operands are at least 2-D; batch dims broadcast and the
# engine sums broadcast batch gradients back (sum_to). Not here: 1-D operands (the Tensor layer).
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
