"""Tensor methods that compose primitives, as PyTorch training scripts call them: in-place
operators (``+=``), ``.data``, formatting, matrix products (mm, bmm, addmm), gathers and scatters
(gather, scatter, scatter_add, index_select, masked_fill), sorting (sort, topk), running sums,
norms, triangles, chunks, ``new_*`` constructors, rounding and logic. Gradients come from the
primitives they are made of; index arithmetic is NumPy on int64 positions (no gradient there).
This module sits above tensor.py and installs its functions on Tensor (see ``_install``).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastgrad._device import check_device
from fastgrad._dtype import as_dtype, bool_, float32, float64, int64
from fastgrad._ops import split as _split
from fastgrad._random import _rng
from fastgrad.tensor import (
    MaxMin,
    Tensor,
    _as_tensor_like,
    _binary,
    _from_data,
    _norm_dim,
    _wrap,
    matmul,
    where,
    zeros_like,
)

SortResult = MaxMin  # (values, indices), as torch.return_types.sort / topk


# --- in-place operators and .data ----------------------------------------------------------------
def __iadd__(self: Tensor, o: Any) -> Tensor:
    return self.add_(o)


def __isub__(self: Tensor, o: Any) -> Tensor:
    return self.sub_(o)


def __imul__(self: Tensor, o: Any) -> Tensor:
    return self.mul_(o)


def __itruediv__(self: Tensor, o: Any) -> Tensor:
    return self.div_(o)


def pow_(self: Tensor, o: Any) -> Tensor:
    return self._inplace("pow_", lambda t: t ** o, o)


def __ipow__(self: Tensor, o: Any) -> Tensor:
    return self.pow_(o)


def __ifloordiv__(self: Tensor, o: Any) -> Tensor:
    return self._inplace("floor_divide_", lambda t: floor_divide(t, o), o)


def __imod__(self: Tensor, o: Any) -> Tensor:
    return self._inplace("remainder_", lambda t: remainder(t, o), o)


def _logical(op: str, a: Tensor, o: Any) -> Tensor:
    b = _as_tensor_like(o, a)
    if a.dtype is not bool_ or b.dtype is not bool_:
        raise TypeError(f"{op}: fastgrad has no bitwise ops on integers; expected bool tensors, got "
                        f"{a.dtype.name} and {b.dtype.name}")
    if op == "and":
        return a * b
    if op == "or":
        return a + b
    return a != b


def __and__(self: Tensor, o: Any) -> Tensor:
    return _logical("and", self, o)


def __or__(self: Tensor, o: Any) -> Tensor:
    return _logical("or", self, o)


def __xor__(self: Tensor, o: Any) -> Tensor:
    return _logical("xor", self, o)


def __iand__(self: Tensor, o: Any) -> Tensor:
    return self._inplace("logical_and_", lambda t: _logical("and", t, o), o)


def __ior__(self: Tensor, o: Any) -> Tensor:
    return self._inplace("logical_or_", lambda t: _logical("or", t, o), o)


def __ixor__(self: Tensor, o: Any) -> Tensor:
    return self._inplace("logical_xor_", lambda t: _logical("xor", t, o), o)


def _get_data(self: Tensor) -> Tensor:
    """The same memory without history and without requires_grad (PyTorch's ``.data``)."""
    return self.detach()


def _set_data(self: Tensor, value: Tensor) -> None:
    """``t.data = v``: t takes v's memory, shape and dtype; t's grad and requires_grad stay."""
    if not isinstance(value, Tensor):
        raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
    self._b.set_data_(self._impl, self._same_backend(value)._impl)


def __format__(self: Tensor, spec: str) -> str:
    """``f"{loss:.4f}"`` formats a one-element tensor as its number; other specs as repr."""
    if self._impl.numel == 1 and self.ndim <= 1 and spec:
        return format(self.item(), spec)
    return format(repr(self), spec)


# --- products ------------------------------------------------------------------------------------
def mm(self: Tensor, mat2: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors: (n, m) @ (m, p) -> (n, p)."""
    if (self.ndim != 2 or not isinstance(mat2, Tensor) or mat2.ndim != 2
            or self.shape[1] != mat2.shape[0]):
        shape2 = mat2.shape if isinstance(mat2, Tensor) else builtins.type(mat2).__name__
        raise ValueError(f"mm: expected 2-D tensors (n, m) and (m, p), got shapes {self.shape} "
                         f"and {shape2}")
    return matmul(self, mat2)


def bmm(self: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors: (b, n, m) @ (b, m, p) -> (b, n, p)."""
    if (self.ndim != 3 or not isinstance(mat2, Tensor) or mat2.ndim != 3
            or mat2.shape[0] != self.shape[0] or self.shape[2] != mat2.shape[1]):
        shape2 = mat2.shape if isinstance(mat2, Tensor) else builtins.type(mat2).__name__
        raise ValueError(f"bmm: expected two 3-D tensors with the same batch size, got shapes "
                         f"{self.shape} and {shape2}")
    return matmul(self, mat2)


def addmm(self: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """beta * self + alpha * (mat1 @ mat2), self broadcast to the product's shape."""
    p = mm(mat1, mat2)
    p = p if alpha == 1 else p * alpha
    if beta == 0:
        return p + zeros_like(p)  # self is ignored, NaN included (PyTorch)
    return (self if beta == 1 else self * beta) + p


def dot(self: Tensor, other: Tensor) -> Tensor:
    if self.ndim != 1 or other.ndim != 1 or self.shape != other.shape:
        raise ValueError(f"dot: expected two 1-D tensors of one size, got {self.shape} and "
                         f"{other.shape}")
    return matmul(self, other)


# --- shapes --------------------------------------------------------------------------------------
def view_as(self: Tensor, other: Tensor) -> Tensor:
    return self.reshape(other.shape)


def reshape_as(self: Tensor, other: Tensor) -> Tensor:
    return self.reshape(other.shape)


def narrow(self: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The slice ``start : start + length`` of ``dim`` (a view)."""
    d = _norm_dim("narrow", dim, self.ndim)
    n = self.shape[d]
    start = int(start) + (n if start < 0 else 0)
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise IndexError(f"narrow: start {start} and length {length} exceed dim {dim} of size {n}")
    return _wrap(self._b.slice(self._impl, d, start, start + int(length), 1), self._b)


def chunk(self: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Splits into ``chunks`` pieces of ceil(n / chunks) along dim (the last may be smaller)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = self.shape[_norm_dim("chunk", dim, self.ndim)]
    return split(self, max(math.ceil(n / chunks), 1), dim)


def split(self: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    return _split(self, split_size_or_sections, dim)


def type(self: Tensor, dtype: Any = None) -> Any:
    """Without an argument the type name ('torch.FloatTensor', ...); with one, a cast."""
    if dtype is None:
        names = {float32: "FloatTensor", float64: "DoubleTensor", int64: "LongTensor",
                 bool_: "BoolTensor"}
        return f"torch.{names[self.dtype]}"
    if isinstance(dtype, str):
        by_name = {"torch.FloatTensor": float32, "torch.DoubleTensor": float64,
                   "torch.LongTensor": int64, "torch.BoolTensor": bool_}
        if dtype not in by_name:
            raise TypeError(f"type: unknown type {dtype!r}")
        dtype = by_name[dtype]
    return self.astype(dtype)


def _new(self: Tensor, size: Sequence[Any], value: Any, dtype: Any, requires_grad: bool) -> Tensor:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    d = self.dtype if dtype is None else as_dtype(dtype)
    out = _wrap(self._b.full([int(s) for s in size], float(value), d.code), self._b)
    return out.requires_grad_(True) if requires_grad else out


def new_zeros(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    check_device(device, "new_zeros")
    return _new(self, size, 0.0, dtype, requires_grad)


def new_ones(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    check_device(device, "new_ones")
    return _new(self, size, 1.0, dtype, requires_grad)


def new_empty(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    check_device(device, "new_empty")
    return _new(self, size, 0.0, dtype, requires_grad)


def new_full(self: Tensor, size: Sequence[int], fill_value: Any, *, dtype: Any = None,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    check_device(device, "new_full")
    return _new(self, (tuple(size),), fill_value, dtype, requires_grad)


def new_tensor(self: Tensor, data: Any, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    check_device(device, "new_tensor")
    return _from_data(data, self.dtype if dtype is None else dtype, requires_grad)


# --- elementwise ---------------------------------------------------------------------------------
def clamp_min(self: Tensor, min: float) -> Tensor:
    return self.clamp(min=min)


def clamp_max(self: Tensor, max: float) -> Tensor:
    return self.clamp(max=max)


def masked_fill(self: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``value`` where the bool ``mask`` (broadcast to self) is true, else self."""
    if not isinstance(mask, Tensor) or mask.dtype is not bool_:
        raise TypeError("masked_fill: the mask must be a bool tensor")
    v = value if isinstance(value, Tensor) else _as_tensor_like(value, self)
    return where(mask, v.astype(self.dtype), self)


def masked_fill_(self: Tensor, mask: Tensor, value: Any) -> Tensor:
    return self._inplace("masked_fill_", lambda t: masked_fill(t, mask, value), value)


def floor_divide(a: Any, b: Any) -> Tensor:
    """a / b rounded down (PyTorch's floor_divide and ``//``)."""
    t = a if isinstance(a, Tensor) else _as_tensor_like(a, b)
    if not t.dtype.is_floating_point and not (isinstance(b, Tensor) and b.dtype.is_floating_point) \
            and not isinstance(b, float):
        q = _binary("div", t.double(), b if not isinstance(b, Tensor) else b.double(), floating=True)
        return q.floor().astype(t.dtype)
    return _binary("div", t, b, floating=True).floor()


def remainder(a: Any, b: Any) -> Tensor:
    """a - floor(a / b) * b: the sign of b, as Python's % (PyTorch's remainder and ``%``)."""
    t = a if isinstance(a, Tensor) else _as_tensor_like(a, b)
    return t - floor_divide(t, b) * b


def fmod(self: Tensor, other: Any) -> Tensor:
    """a - trunc(a / b) * b: the sign of a (C's fmod)."""
    q = _binary("div", self, other, floating=True)
    trunc = where(q < 0, q.ceil(), q.floor())
    return self - trunc.astype(self.dtype) * other


def trunc(self: Tensor) -> Tensor:
    return where(self < 0, self.ceil(), self.floor())


def _round(self: Tensor, decimals: int = 0) -> Tensor:
    if decimals == 0:
        return _wrap(self._b.round(self._impl), self._b)
    s = 10.0 ** decimals
    return _wrap(self._b.round((self * s)._impl), self._b) / s


def logical_not(self: Tensor) -> Tensor:
    return _wrap(self._b.logical_not((self != 0)._impl if self.dtype is not bool_ else self._impl),
                 self._b)


def _reduce_bool(op: str, self: Tensor, dim: Any, keepdim: bool) -> Tensor:
    nz = (self != 0) if self.dtype is not bool_ else self
    count = nz.long().sum(dim, keepdim) if dim is not None else nz.long().sum()
    if op == "any":
        return count > 0
    n = self.numel() if dim is None else _dim_size(self.shape, dim)
    return count == n


def _dim_size(shape: tuple[int, ...], dim: Any) -> int:
    dims = [dim] if isinstance(dim, int) else list(dim)
    return math.prod(shape[_norm_dim("reduce", d, len(shape))] for d in dims)


def all(self: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _reduce_bool("all", self, dim, keepdim)


def any(self: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _reduce_bool("any", self, dim, keepdim)


def cumsum(self: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sums along ``dim``; differentiable (the gradient sums from the end)."""
    x = self if dtype is None else self.astype(dtype)
    return _wrap(x._b.cumsum(x._impl, int(dim)), x._b)


def norm(self: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False,
         dtype: Any = None) -> Tensor:
    """The vector p-norm over ``dim`` (all elements by default); 'fro' is the 2-norm."""
    return vector_norm(self, 2 if p in ("fro", None) else p, dim, keepdim, dtype=dtype)


def vector_norm(x: Tensor, ord: Any = 2, dim: Any = None, keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """(sum |x|^ord)^(1/ord) over ``dim``; ord inf / -inf: max / min of |x|, 0: count of nonzeros."""
    if dtype is not None:
        x = x.astype(dtype)
    if not x.dtype.is_floating_point:
        raise TypeError(f"vector_norm: expected a floating-point tensor, got {x.dtype.name}")
    dims = None if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    a = x.abs()
    if ord == math.inf:
        return a.amax(dims or [], keepdim)
    if ord == -math.inf:
        return a.amin(dims or [], keepdim)
    if ord == 0:
        return (a != 0).astype(x.dtype).sum(dims, keepdim)
    if ord == 1:
        return a.sum(dims, keepdim)
    if ord == 2:
        return (x * x).sum(dims, keepdim).sqrt()
    return (a ** float(ord)).sum(dims, keepdim) ** (1.0 / float(ord))


def tril(self: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (elements with col - row <= diagonal); 0 above."""
    return _triangle("tril", self, diagonal, lower=True)


def triu(self: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (col - row >= diagonal); 0 below."""
    return _triangle("triu", self, diagonal, lower=False)


def _triangle(op: str, x: Tensor, diagonal: int, lower: bool) -> Tensor:
    if x.ndim < 2:
        raise ValueError(f"{op}: expected a tensor of at least 2 dims, got shape {x.shape}")
    r, c = x.shape[-2:]
    keep = (np.tril if lower else np.triu)(np.ones((r, c), dtype=bool), int(diagonal))
    mask = _wrap(x._b.from_numpy(keep), x._b)
    return where(mask, x, zeros_like(x))


# --- gathers, scatters, sorting ------------------------------------------------------------------
def _index_positions(op: str, x: Tensor, dim: int, index: Tensor) -> tuple[np.ndarray, int]:
    """Flat positions into x for gather/scatter along dim: index's own coordinates elsewhere."""
    if not isinstance(index, Tensor) or index.dtype is not int64:
        raise TypeError(f"{op}: index must be an int64 tensor")
    d = _norm_dim(op, dim, x.ndim)
    idx = np.asarray(index.detach().numpy())
    if idx.ndim != max(x.ndim, 1) and not (x.ndim == 0 and idx.ndim <= 1):
        raise ValueError(f"{op}: index of shape {index.shape} must have as many dims as the "
                         f"tensor of shape {x.shape}")
    shape = x.shape if x.ndim else (1,)
    for i, (s, t) in enumerate(zip(idx.shape, shape)):
        if i != d and s > t:
            raise ValueError(f"{op}: index of shape {index.shape} is larger than the tensor of "
                             f"shape {x.shape} outside dim {dim}")
    n = shape[d]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"{op}: index out of range for dim {dim} of size {n}")
    coords = list(np.indices(idx.shape, sparse=True))
    coords[d] = np.where(idx < 0, idx + n, idx)
    return np.ascontiguousarray(np.ravel_multi_index(tuple(coords), shape), dtype=np.int64), d


def gather(self: Tensor, dim: int, index: Tensor) -> Tensor:
    """out[i][j][k] = self[index[i][j][k]][j][k] (dim 0), and so on; differentiable in self."""
    pos, _ = _index_positions("gather", self, dim, index)
    b = self._b
    return _wrap(b.take(self._impl, b.from_numpy(pos)), b)


def scatter_add(self: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """self with src[i][j][k] added at self[index[i][j][k]][j][k] (dim 0); duplicates add up."""
    pos, _ = _index_positions("scatter_add", self, dim, index)
    s = _as_tensor_like(src, self).astype(self.dtype)
    s = s[tuple(slice(0, n) for n in index.shape)] if s.shape != index.shape else s
    b = self._b
    added = _wrap(b.put_add(s.contiguous()._impl, b.from_numpy(pos), list(self.shape)), b)
    return self + added


def scatter(self: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """self with src (or value) written at the positions index names along dim; with
    reduce='add' / 'multiply' combined with what is there. Duplicate positions: one of the writes."""
    if src is None:
        src = value
    if reduce == "add":
        return scatter_add(self, dim, index, _full_like_index(self, index, src))
    pos, _ = _index_positions("scatter", self, dim, index)
    s = _full_like_index(self, index, src)
    b = self._b
    flat_mask = np.zeros(self.numel(), dtype=bool)
    flat_mask[pos.ravel()] = True
    mask = _wrap(b.from_numpy(flat_mask.reshape(self.shape)), b)
    # Each position keeps one write: the last in C order, as NumPy's fancy assignment does.
    last = np.full(self.numel(), -1, dtype=np.int64)
    last[pos.ravel()] = np.arange(pos.size)
    keep = np.zeros(pos.size, dtype=bool)
    keep[last[last >= 0]] = True
    sel = _wrap(b.from_numpy(keep.reshape(index.shape)), b)
    written = _wrap(b.put_add(where(sel, s, zeros_like(s)).contiguous()._impl, b.from_numpy(pos),
                              list(self.shape)), b)
    if reduce == "multiply":
        ones = _wrap(b.put_add(where(sel, s, zeros_like(s) + 1).contiguous()._impl,
                               b.from_numpy(pos), list(self.shape)), b)
        return where(mask, self * ones, self)
    if reduce is not None:
        raise ValueError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
    return where(mask, written, self)


def _full_like_index(x: Tensor, index: Tensor, src: Any) -> Tensor:
    if isinstance(src, Tensor):
        s = x._same_backend(src).astype(x.dtype)
        if s.shape != index.shape:
            s = s[tuple(slice(0, n) for n in index.shape)]
        return s
    return _wrap(x._b.full(list(index.shape), float(src), x._impl.dtype), x._b)


def scatter_(self: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
             reduce: str | None = None) -> Tensor:
    return self._inplace("scatter_", lambda t: scatter(t, dim, index, src, value=value,
                                                        reduce=reduce), src)


def scatter_add_(self: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    return self._inplace("scatter_add_", lambda t: scatter_add(t, dim, index, src), src)


def index_select(self: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of dim at the positions of the 1-D int64 ``index``; differentiable in self."""
    if not isinstance(index, Tensor) or index.dtype is not int64 or index.ndim > 1:
        raise TypeError("index_select: index must be a 1-D int64 tensor")
    d = _norm_dim("index_select", dim, self.ndim)
    return self[(slice(None),) * d + (index.reshape(-1),)]


def sort(self: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """(values, indices) sorted along dim; values are a gather, so differentiable."""
    d = _norm_dim("sort", dim, self.ndim)
    a = self.detach().numpy()
    if self.ndim == 0:
        return SortResult(self * 1, _from_data(np.zeros((), np.int64)))
    key = -a if descending and self.dtype is not bool_ else a
    if descending and self.dtype is bool_:
        key = ~a
    idx = np.argsort(key, axis=d, kind="stable")
    index = _wrap(self._b.from_numpy(np.ascontiguousarray(idx, dtype=np.int64)), self._b)
    return SortResult(gather(self, d, index), index)


def argsort(self: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(self, dim, descending, stable).indices


def topk(self: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """The k largest (or smallest) entries along dim and their indices."""
    d = _norm_dim("topk", dim, self.ndim)
    n = self.shape[d] if self.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k ({k}) out of range for dim {dim} of size {n}")
    values, indices = sort(self, d, descending=largest)
    sl = (slice(None),) * d + (slice(0, k),)
    return SortResult(values[sl], indices[sl])


def multinomial(self: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Any = None) -> Tensor:
    """Indices drawn from the rows of self (non-negative weights, 1-D or 2-D); int64."""
    w = np.asarray(self.detach().numpy(), dtype=np.float64)
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: expected a 1-D or 2-D tensor, got shape {self.shape}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("multinomial: probabilities must be finite and non-negative")
    rows = w.reshape(-1, w.shape[-1])
    if not replacement and num_samples > rows.shape[1]:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {rows.shape[1]} categories")
    rng = _rng(generator)
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, r in enumerate(rows):
        total = r.sum()
        if total <= 0:
            raise ValueError("multinomial: a row of probabilities sums to zero")
        if not replacement and np.count_nonzero(r) < num_samples:
            raise ValueError("multinomial: fewer nonzero weights than samples without replacement")
        out[i] = rng.choice(r.size, size=num_samples, replace=replacement, p=r / total)
    out = out.reshape(num_samples) if w.ndim == 1 else out
    return _wrap(self._b.from_numpy(out), self._b)


def _comparison(name: str) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return _binary(name, self, other)

    method.__name__ = name
    method.__doc__ = f"Elementwise {name} (a bool tensor, no gradient)."
    return method


def _install() -> None:
    g = globals()
    names = [
        "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__ifloordiv__",
        "__imod__", "__and__", "__or__", "__xor__", "__iand__", "__ior__", "__ixor__",
        "__format__", "pow_", "mm", "bmm", "addmm", "dot", "view_as", "reshape_as", "narrow",
        "chunk", "split", "type", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor",
        "clamp_min", "clamp_max", "masked_fill", "masked_fill_", "fmod", "trunc", "logical_not",
        "all", "any", "cumsum", "norm", "tril", "triu", "gather", "scatter", "scatter_",
        "scatter_add", "scatter_add_", "index_select", "sort", "argsort", "topk", "multinomial",
    ]
    for n in names:
        setattr(Tensor, n, g[n])
    Tensor.round = _round
    Tensor.floor_divide = floor_divide
    Tensor.remainder = remainder
    Tensor.__floordiv__ = floor_divide
    Tensor.__mod__ = remainder
    Tensor.__rfloordiv__ = lambda self, o: floor_divide(_as_tensor_like(o, self), self)
    Tensor.__rmod__ = lambda self, o: remainder(_as_tensor_like(o, self), self)
    Tensor.data = property(_get_data, _set_data)
    for c in ("eq", "ne", "lt", "le", "gt", "ge"):
        setattr(Tensor, c, _comparison(c))
    Tensor.greater, Tensor.less, Tensor.greater_equal = Tensor.gt, Tensor.lt, Tensor.ge
    Tensor.less_equal, Tensor.not_equal = Tensor.le, Tensor.ne


_install()



# fastgrad.<name>(tensor, ...): the module-level forms PyTorch has of these methods.
FUNCTIONS: tuple[str, ...] = (
    "mm", "bmm", "addmm", "dot", "narrow", "chunk", "masked_fill", "floor_divide", "remainder",
    "fmod", "trunc", "logical_not", "all", "any", "cumsum", "norm", "tril", "triu", "gather",
    "scatter", "scatter_add", "index_select", "sort", "argsort", "topk", "multinomial", "eq",
    "ne", "lt", "le", "gt", "ge", "clamp_min", "clamp_max", "round",
)


def _function(name: str) -> Any:
    def function(input: Any, *args: Any, **kwargs: Any) -> Any:
        x = input if isinstance(input, Tensor) else _from_data(input)
        return getattr(x, name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = getattr(Tensor, name).__doc__
    return function


functions = {name: _function(name) for name in FUNCTIONS}


def numel(input: Tensor) -> int:
    return input.numel()
