# Shape ops of the reference backend: reshape, permute, expand, slice (NumPy views sharing the
# version counter), contiguous, cat and slice_backward, each with its derivative rule, as in
# cpp/autograd/ops_shape.cpp. Not here: indexing with positions (ops_index.py).
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fastgrad.reference.ops_elementwise import clone
from fastgrad.reference.tape import (
    BOOL,
    INT64,
    NP_DTYPES,
    FnNode,
    RTensor,
    Shape,
    as_shape,
    check_same_dtype,
    make_node,
    norm_dim,
    wrap,
)

Grads = Sequence[RTensor]
_pyslice = slice  # the builtin; this module defines the op `slice`


def _view(x: RTensor, data: np.ndarray) -> RTensor:
    """A handle over ``data``, sharing x's version counter when it shares x's memory."""
    shared = data.size > 0 and np.may_share_memory(data, x.data)
    if shared:
        x._version[1] = True  # has views: see Storage::has_views in cpp/tensor/tensor.h
    return RTensor(data, x._version if shared else None)


# --- reshape -------------------------------------------------------------------------------------
def _infer_shape(x: RTensor, shape: Shape) -> Shape:
    """``shape`` with its -1 filled in; ValueError if it does not hold x's elements."""
    known = math.prod(d for d in shape if d != -1)
    holes = [i for i, d in enumerate(shape) if d == -1]
    ok = len(holes) <= 1 and all(d >= -1 for d in shape)
    out = list(shape)
    if ok and holes:
        ok = known != 0 and x.numel % known == 0
        if ok:
            out[holes[0]] = x.numel // known
    if not ok or math.prod(out) != x.numel:
        raise ValueError(f"reshape: cannot reshape tensor of shape {x.shape} into {shape}")
    return tuple(out)


def _reshape_rule(n: FnNode, g: Grads) -> list:
    return [reshape(g[0], n.input_meta[0][0])]


def reshape(x: RTensor, shape: Sequence[int]) -> RTensor:
    """x with a new shape (one -1 allowed); a view when NumPy can make one, else a copy."""
    s = _infer_shape(x, as_shape("reshape", shape))
    out = _view(x, np.reshape(x.data, s))
    make_node("ReshapeBackward", _reshape_rule, [x], [out])
    return out


# --- permute -------------------------------------------------------------------------------------
def _permute_rule(n: FnNode, g: Grads) -> list:
    dims = n.args[0]
    inverse = [0] * len(dims)
    for i, d in enumerate(dims):
        inverse[d] = i
    return [permute(g[0], inverse)]


def permute(x: RTensor, dims: Sequence[int]) -> RTensor:
    """A view with dims reordered: out.shape[i] = x.shape[dims[i]] (negative dims allowed)."""
    raw = as_shape("permute", dims)
    d = tuple(v + x.ndim if v < 0 else v for v in raw)
    if sorted(d) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {list(raw)} are not a permutation of the dims of a tensor "
                         f"of shape {x.shape}")
    out = _view(x, np.transpose(x.data, d))
    make_node("PermuteBackward", _permute_rule, [x], [out], (d,))
    return out


# --- expand --------------------------------------------------------------------------------------
def _expand_rule(n: FnNode, g: Grads) -> list:
    return [sum_to(g[0], n.input_meta[0][0])]


def expand(x: RTensor, shape: Sequence[int]) -> RTensor:
    """A broadcast view of x (stride 0, read-only when a dim grows); -1 keeps a dim; new leading
    dims allowed. Example: expand(x of (3, 1), [2, 3, 4]) -> (2, 3, 4)."""
    s = as_shape("expand", shape)
    lead = len(s) - x.ndim
    out_shape = []
    ok = lead >= 0
    for i, d in enumerate(s if ok else ()):
        if i < lead:
            ok = ok and d >= 0
            out_shape.append(d)
            continue
        xd = x.shape[i - lead]
        if d == -1:
            out_shape.append(xd)
        else:
            ok = ok and d >= 0 and (xd == d or xd == 1)
            out_shape.append(d)
    if not ok:
        raise ValueError(f"expand: cannot expand a tensor of shape {x.shape} to {s}")
    out_shape = tuple(out_shape)
    if out_shape[lead:] == x.shape and all(d == 1 for d in out_shape[:lead]):
        data = np.reshape(x.data, out_shape)  # nothing repeated: an ordinary (writable) view
    else:
        data = np.broadcast_to(x.data, out_shape)  # read-only: elements share memory
    out = _view(x, data)
    make_node("ExpandBackward", _expand_rule, [x], [out])
    return out


# --- slice ---------------------------------------------------------------------------------------
def _norm_slice(op: str, shape: Shape, dim: int, start: int | None, stop: int | None,
                step: int | None) -> tuple[int, int, int, int]:
    """(dim, start, stop, step) normalised like Python's slice.indices; step must be > 0."""
    if len(shape) == 0:
        raise IndexError(f"{op}: cannot slice a 0-d tensor")
    d = norm_dim(op, dim, len(shape))
    step = 1 if step is None else int(step)
    if step <= 0:
        raise ValueError(f"{op}: step must be positive, got {step}")
    start = None if start is None else int(start)
    stop = None if stop is None else int(stop)
    start, stop, step = _pyslice(start, stop, step).indices(shape[d])
    return d, start, stop, step


def _index(ndim: int, d: int, start: int, stop: int, step: int) -> tuple:
    full = _pyslice(None)
    return (full,) * d + (_pyslice(start, stop, step),) + (full,) * (ndim - d - 1)


def _slice_rule(n: FnNode, g: Grads) -> list:
    return [slice_backward(g[0], n.input_meta[0][0], *n.args)]


def slice(x: RTensor, dim: int, start: int, stop: int, step: int) -> RTensor:
    """x[..., start:stop:step, ...] along ``dim``: a view (Python slice semantics, step > 0)."""
    d, a, b, s = _norm_slice("slice", x.shape, dim, start, stop, step)
    out = _view(x, x.data[_index(x.ndim, d, a, b, s)])
    make_node("SliceBackward", _slice_rule, [x], [out], (d, a, b, s))
    return out


def _slice_backward_rule(n: FnNode, g: Grads) -> list:
    return [slice(g[0], *n.args)]


def slice_backward(g: RTensor, shape: Sequence[int], dim: int, start: int, stop: int,
                   step: int) -> RTensor:
    """zeros(shape) with g written into [start:stop:step] along ``dim`` (the gradient of slice)."""
    shape = as_shape("slice_backward", shape)
    d, a, b, s = _norm_slice("slice_backward", shape, dim, start, stop, step)
    idx = _index(len(shape), d, a, b, s)
    expected = shape[:d] + (len(range(a, b, s)),) + shape[d + 1:]
    if g.shape != expected:
        raise ValueError(f"slice_backward: gradient of shape {g.shape} does not fit slice "
                         f"{a}:{b}:{s} of dim {d} of shape {shape}")
    data = np.zeros(shape, dtype=g.data.dtype)
    data[idx] = g.data
    out = RTensor(data)
    make_node("SliceBackwardBackward", _slice_backward_rule, [g], [out], (d, a, b, s))
    return out


# --- contiguous, cat -----------------------------------------------------------------------------
def contiguous(x: RTensor) -> RTensor:
    """x itself when already contiguous, else a contiguous copy (clone, differentiable)."""
    return x if x.is_contiguous else clone(x)


def _cat_rule(n: FnNode, g: Grads) -> list:
    d, sizes = n.args
    grads, off = [], 0
    for i, size in enumerate(sizes):
        grads.append(slice(g[0], d, off, off + size, 1) if n.needs_input_grad(i) else None)
        off += size
    return grads


def cat(xs: Sequence[RTensor], dim: int) -> RTensor:
    """Concatenation along ``dim``; equal dtypes, equal shapes outside ``dim``."""
    xs = list(xs)
    if not xs:
        raise ValueError("cat: expected a non-empty list of tensors")
    x0 = xs[0]
    if x0.ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
    d = norm_dim("cat", dim, x0.ndim)
    for x in xs[1:]:
        check_same_dtype("cat", x0, x)
        same = x.ndim == x0.ndim and all(
            x.shape[i] == x0.shape[i] for i in range(x0.ndim) if i != d
        )
        if not same:
            raise ValueError(f"cat: shapes {x0.shape} and {x.shape} differ outside dim {d}")
    out = RTensor(np.concatenate([x.data for x in xs], axis=d))
    make_node("CatBackward", _cat_rule, xs, [out], (d, tuple(x.shape[d] for x in xs)))
    return out


# --- sum_to (the engine's reduction of broadcast gradients) --------------------------------------
# Here, beside expand, not in ops_reduce.py: each is the other's gradient, and ops_reduce.py (whose
# sum has expand as its gradient) imports this module, never the reverse.
def sum_to(x: RTensor, shape: Sequence[int]) -> RTensor:
    """Sums x down to ``shape``: its extra leading dims and the dims where ``shape`` has 1.

    x itself when the shapes are equal. Example: sum_to(g of (4, 2, 3), (2, 1)) -> (2, 1).
    bool and int64 sum to int64, as sum does.
    """
    shape = as_shape("sum_to", shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to: cannot sum a tensor of shape {x.shape} to shape {shape}")
    dims = list(range(lead))
    for i, s in enumerate(shape):
        xs = x.shape[lead + i]
        if s == xs:
            continue
        if s != 1:
            raise ValueError(f"sum_to: cannot sum a tensor of shape {x.shape} to shape {shape}")
        dims.append(lead + i)
    out_dtype = INT64 if x.dtype == BOOL else x.dtype
    with np.errstate(all="ignore"):
        r = np.sum(x.data, axis=tuple(dims), keepdims=True, dtype=NP_DTYPES[out_dtype])
    out = wrap(r.reshape(shape), out_dtype)
    make_node("SumToBackward", _sum_to_rule, [x], [out])
    return out


def _sum_to_rule(n: FnNode, g: Grads) -> list:
    return [expand(g[0], n.input_meta[0][0])]
