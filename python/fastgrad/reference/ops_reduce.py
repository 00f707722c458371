# Reductions of the reference backend (sum, amax/amin, argmax/argmin, softmax, log_softmax,
# sum_to): NumPy forward and derivative rule side by side, as in cpp/autograd/ops_reduce.cpp.
# Softmaxes subtract the max first. Not here: mean/var/logsumexp, which the Tensor layer composes.
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastgrad.reference.ops_elementwise import (
    add,
    div,
    eq,
    exp,
    mul,
    sub,
    to_dtype,
)
from fastgrad.reference.ops_shape import expand, reshape, sum_to  # noqa: F401 (sum_to: family reduce)
from fastgrad.reference.tape import (
    BOOL,
    INT64,
    NP_DTYPES,
    FnNode,
    RTensor,
    Shape,
    check_float,
    is_floating,
    make_node,
    norm_dim,
    norm_dims,
    wrap,
)

Grads = Sequence[RTensor]


def _keep_shape(shape: Shape, dims: tuple[int, ...]) -> Shape:
    """``shape`` with 1 at each reduced dim (the keepdim shape)."""
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _check_nonempty(op: str, x: RTensor, dims: tuple[int, ...]) -> None:
    if any(x.shape[d] == 0 for d in dims):
        raise ValueError(f"{op}: cannot reduce over a zero-size dim of a tensor of shape {x.shape}")


# --- sum -----------------------------------------------------------------------------------------
def _sum_rule(n: FnNode, g: Grads) -> list:
    # (dims keepdim) -> x.shape: put the reduced dims back as 1, then broadcast.
    dims = n.args[0]
    shape = n.input_meta[0][0]
    return [expand(reshape(g[0], _keep_shape(shape, dims)), shape)]


def sum(x: RTensor, dims: Sequence[int], keepdim: bool) -> RTensor:
    """Sum over ``dims`` (empty = all; negative allowed). bool and int64 sum to int64."""
    d = norm_dims("sum", dims, x.ndim)
    out_dtype = INT64 if x.dtype == BOOL else x.dtype
    with np.errstate(all="ignore"):
        out = wrap(np.sum(x.data, axis=d, keepdims=bool(keepdim), dtype=NP_DTYPES[out_dtype]),
                   out_dtype)
    make_node("SumBackward", _sum_rule, [x], [out], (d, bool(keepdim)))
    return out


# --- amax, amin ----------------------------------------------------------------------------------
def _extreme_rule(n: FnNode, g: Grads) -> list:
    # The gradient is shared evenly among the elements equal to the result (ties).
    x, out = n.saved(0), n.saved(1)
    dims = n.args[0]
    keep = _keep_shape(x.shape, dims)
    mask = to_dtype(eq(x, reshape(out, keep)), g[0].dtype)
    count = sum(mask, list(dims), True)
    return [div(mul(reshape(g[0], keep), mask), count)]


def _extreme(op: str, name: str, f: np.ufunc, x: RTensor, dims: Sequence[int],
             keepdim: bool) -> RTensor:
    d = norm_dims(op, dims, x.ndim)
    if x.dtype == BOOL:  # as C++: found by tests/test_fuzz.py
        raise TypeError(f"{op}: not supported for dtype bool")
    _check_nonempty(op, x, d)
    out = wrap(f.reduce(x.data, axis=d, keepdims=bool(keepdim)), x.dtype)
    n = make_node(name, _extreme_rule, [x], [out], (d, bool(keepdim)))
    if n is not None:
        n.save(x)
        n.save(out, True)
    return out


def amax(x: RTensor, dims: Sequence[int], keepdim: bool) -> RTensor:
    """Max over ``dims`` (empty = all); NaN propagates; the gradient is split among ties."""
    return _extreme("amax", "AmaxBackward", np.maximum, x, dims, keepdim)


def amin(x: RTensor, dims: Sequence[int], keepdim: bool) -> RTensor:
    """Min over ``dims`` (empty = all); NaN propagates; the gradient is split among ties."""
    return _extreme("amin", "AminBackward", np.minimum, x, dims, keepdim)


# --- argmax, argmin (no gradient) ----------------------------------------------------------------
def _arg(op: str, f: object, x: RTensor, dim: int | None, keepdim: bool) -> RTensor:
    d = None if dim is None else norm_dim(op, dim, x.ndim)
    if x.dtype == BOOL:  # as C++ (and PyTorch): found by tests/test_fuzz.py
        raise TypeError(f"{op}: not supported for dtype bool")
    if d is None:
        if x.numel == 0:
            raise ValueError(f"{op}: cannot reduce over a zero-size dim of a tensor of shape "
                             f"{x.shape}")
        r = f(x.data.reshape(-1))  # flat index in C order
        shape = (1,) * x.ndim if keepdim else ()
        return wrap(np.reshape(r, shape), INT64)
    if x.ndim == 0:
        return wrap(0, INT64)
    _check_nonempty(op, x, (d,))
    return wrap(f(x.data, axis=d, keepdims=bool(keepdim)), INT64)


def argmax(x: RTensor, dim: int | None, keepdim: bool) -> RTensor:
    """int64 index of the first max along ``dim`` (None: flat index); NaN counts as the max."""
    return _arg("argmax", np.argmax, x, dim, keepdim)


def argmin(x: RTensor, dim: int | None, keepdim: bool) -> RTensor:
    """int64 index of the first min along ``dim`` (None: flat index); NaN counts as the min."""
    return _arg("argmin", np.argmin, x, dim, keepdim)


# --- softmax, log_softmax ------------------------------------------------------------------------
def _softmax_np(v: np.ndarray, d: int, log: bool) -> np.ndarray:
    if v.ndim == 0:
        return _softmax_np(v.reshape(1), 0, log).reshape(())
    with np.errstate(all="ignore"):
        m = np.max(v, axis=d, keepdims=True, initial=-np.inf)
        z = v - m
        s = np.sum(np.exp(z), axis=d, keepdims=True)
        return z - np.log(s) if log else np.exp(z) / s


def _softmax_rule(n: FnNode, g: Grads) -> list:
    # y * (g - sum(g * y, dim))
    y = n.saved(0)
    d = n.args[0]
    return [mul(y, sub(g[0], sum(mul(g[0], y), [d], True)))]


def _log_softmax_rule(n: FnNode, g: Grads) -> list:
    # g - exp(y) * sum(g, dim)
    y = n.saved(0)
    d = n.args[0]
    return [sub(g[0], mul(exp(y), sum(g[0], [d], True)))]


def softmax(x: RTensor, dim: int) -> RTensor:
    """exp(x - max) / sum(exp(x - max)) along ``dim``."""
    check_float("softmax", x)
    d = norm_dim("softmax", dim, x.ndim)
    out = wrap(_softmax_np(x.data, d, False), x.dtype)
    n = make_node("SoftmaxBackward", _softmax_rule, [x], [out], (d,))
    if n is not None:
        n.save(out, True)
    return out


def log_softmax(x: RTensor, dim: int) -> RTensor:
    """(x - max) - log(sum(exp(x - max))) along ``dim``."""
    check_float("log_softmax", x)
    d = norm_dim("log_softmax", dim, x.ndim)
    out = wrap(_softmax_np(x.data, d, True), x.dtype)
    n = make_node("LogSoftmaxBackward", _log_softmax_rule, [x], [out], (d,))
    if n is not None:
        n.save(out, True)
    return out


# sum_to lives in ops_shape.py, beside expand (each is the other's gradient).


# --- cumsum: running sums along one dim, forward then rule ---------------------------------------
def cumsum(x: RTensor, dim: int) -> RTensor:
    """Running sums along ``dim``, added in order (bool and int64 give int64)."""
    nd = max(x.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"cumsum: dim {dim} out of range for a tensor of {x.ndim} dims")
    d = dim % nd
    out_dtype = INT64 if x.dtype == BOOL else x.dtype
    a = x.data.reshape(1) if x.ndim == 0 else x.data
    with np.errstate(all="ignore"):
        r = np.cumsum(a, axis=d, dtype=NP_DTYPES[out_dtype]).reshape(x.shape)
    out = wrap(r, out_dtype)
    if is_floating(x.dtype):
        make_node("CumsumBackward", _cumsum_rule, [x], [out], (d,))
    return out


def _cumsum_rule(n: FnNode, g: Grads) -> list:
    """The running sum from the end: sum(g) - cumsum(g) + g along the dim."""
    d = n.args[0]
    if g[0].ndim == 0:
        return [g[0]]
    return [add(sub(sum(g[0], [d], True), cumsum(g[0], d)), g[0])]
