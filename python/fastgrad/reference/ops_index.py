# Indexing by flat positions in the reference backend: take (a gather) and put_add (its gradient,
# a scatter-add), each the other's derivative, as in cpp/autograd/ops_index.cpp. Not here: turning
# user indices into positions (python/fastgrad/_indexing.py) and put_ (ops_inplace.py).
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fastgrad.reference.tape import (
    DTYPE_NAMES,
    INT64,
    NP_DTYPES,
    FnNode,
    RTensor,
    as_shape,
    make_node,
    wrap,
)

Grads = Sequence[RTensor]


def flat_positions(op: str, pos: RTensor, n: int) -> np.ndarray:
    """pos as an int64 array in [0, n); negative positions count from the end (as put_)."""
    if pos.dtype != INT64:
        raise TypeError(f"{op}: positions must be int64, got {DTYPE_NAMES[pos.dtype]}")
    p = pos.data
    bad = p[(p < -n) | (p >= n)]
    if bad.size:
        raise IndexError(f"{op}: index {int(bad.reshape(-1)[0])} is out of bounds for a tensor of "
                         f"{n} elements")
    return np.where(p < 0, p + n, p)


def take(x: RTensor, pos: RTensor) -> RTensor:
    """out[i...] = x.flat[pos[i...]]: out has pos's shape; x is read in logical C order."""
    p = flat_positions("take", pos, x.numel)
    out = wrap(x.data.reshape(-1)[p], x.dtype)
    n = make_node("TakeBackward", _take_rule, [x, pos], [out])
    if n is not None:
        n.save(pos)
    return out


def _take_rule(n: FnNode, g: Grads) -> list:
    return [put_add(g[0], n.saved(0), n.input_meta[0][0]), None]


def put_add(src: RTensor, pos: RTensor, shape: Sequence[int]) -> RTensor:
    """zeros(shape) with src accumulated at the flat positions pos (src and pos of equal shape)."""
    shape = as_shape("put_add", shape)
    p = flat_positions("put_add", pos, math.prod(shape))
    if src.shape != pos.shape:
        raise ValueError(f"put_add: source of shape {src.shape} does not match positions of "
                         f"shape {pos.shape}")
    data = np.zeros(math.prod(shape), dtype=NP_DTYPES[src.dtype])
    np.add.at(data, p.reshape(-1), src.data.reshape(-1))
    out = RTensor(data.reshape(shape))
    n = make_node("PutAddBackward", _put_add_rule, [src, pos], [out])
    if n is not None:
        n.save(pos)
    return out


def _put_add_rule(n: FnNode, g: Grads) -> list:
    return [take(g[0], n.saved(0)), None]
