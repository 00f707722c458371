"""Module-level ops (``fastgrad.exp(x)``, ``fastgrad.cat([...])``, ...): thin forms of Tensor methods
plus the ops that take several tensors (cat, stack, split)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastgrad._optable import PRIMITIVES
from fastgrad.tensor import Tensor, _as_tensor_like, _from_data, _norm_dim, _promote, _wrap


def _t(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return _from_data(x)


def _table_function(name: str) -> Callable[[Any], Tensor]:
    def function(x: Any) -> Tensor:
        return getattr(_t(x), name)()

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Elementwise {name} of a tensor (or anything fastgrad.tensor takes)."
    return function


# fastgrad.exp, fastgrad.log1p, ...: one function per op-table row with function=True.
TABLE_FUNCTIONS: tuple[str, ...] = tuple(p.name for p in PRIMITIVES if p.function)
for _name in TABLE_FUNCTIONS:
    globals()[_name] = _table_function(_name)


def clamp(x: Any, min: float | None = None, max: float | None = None) -> Tensor:
    return _t(x).clamp(min, max)


def pow(x: Any, exponent: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x.pow(exponent)
    return _as_tensor_like(x, exponent).pow(exponent)


def sum(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return x.sum(dim, keepdim, **kw)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return x.mean(dim, keepdim, **kw)


def var(x: Tensor, dim: Any = None, *args: Any, **kw: Any) -> Tensor:
    return x.var(dim, *args, **kw)


def std(x: Tensor, dim: Any = None, *args: Any, **kw: Any) -> Tensor:
    return x.std(dim, *args, **kw)


def max(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
    return x.max(dim, keepdim, **kw)


def min(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
    return x.min(dim, keepdim, **kw)


def logsumexp(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return x.logsumexp(dim, keepdim, **kw)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return x.argmax(dim, keepdim, **kw)


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return x.argmin(dim, keepdim, **kw)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (numerically stable)."""
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """x - logsumexp(x) along ``dim``."""
    return x.log_softmax(dim)


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    return x.reshape(tuple(shape))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return x.flatten(start_dim, end_dim)


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    return x.squeeze(dim)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    return x.unsqueeze(dim)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    return x.transpose(dim0, dim1)


def permute(x: Tensor, dims: Sequence[int]) -> Tensor:
    return x.permute(list(dims))


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    return x.broadcast_to(shape)


def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Joins tensors along an existing dim; shapes must agree elsewhere."""
    if axis is not None:
        dim = axis
    ts = list(tensors)
    if not ts:
        raise ValueError("cat: expected a non-empty list of tensors")
    ts = _promote("cat", ts)
    b = ts[0]._b
    return _wrap(b.cat([t._impl for t in ts], int(dim)), b)


concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Joins same-shape tensors along a new dim."""
    if axis is not None:
        dim = axis
    ts = list(tensors)
    if not ts:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {t.shape for t in ts}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    n = ts[0].ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"stack: dim {dim} out of range for {n} dims")
    return cat([t.unsqueeze(dim % n) for t in ts], dim % n)


def split(x: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Splits into chunks of a size (the last may be smaller) or into given section sizes."""
    d = _norm_dim("split", dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split size must be positive, got {step}")
        sizes = [builtins_min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins_sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} do not add up to {n} (dim {dim} of {x.shape})")
    out = []
    start = 0
    b = x._b
    for s in sizes:
        out.append(_wrap(b.slice(x._impl, d, start, start + s, 1), b))
        start += s
    return tuple(out)


import builtins as _builtins

builtins_min = _builtins.min
builtins_sum = _builtins.sum
