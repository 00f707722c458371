"""Tensor: the user-facing array with autograd, a thin wrapper over a backend handle.

Everything here is dtype promotion, argument normalisation and composites of backend primitives
(mean, var, logsumexp, indexing, ...). No math on data and no autograd bookkeeping: both live in
the backends (``fastgrad._core`` in C++, ``fastgrad.reference`` in Python), behind one contract
documented in ``_backend.py``.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from fastgrad import _backend
from fastgrad._backend import _BACKENDS
from fastgrad._device import get_default_dtype
from fastgrad._dtype import BY_CODE, as_dtype, bool_, dtype, float32, float64, for_array, int64
from fastgrad._hooks import RemovableHandle
from fastgrad._optable import PRIMITIVES
from fastgrad._random import _rng

_py_bool = builtins.bool
_SCALARS = (int, float, _py_bool, np.integer, np.floating, np.bool_)

MaxMin = namedtuple("MaxMin", ["values", "indices"])
_CPP = _BACKENDS.get("cpp")  # the C++ module, for the fast paths of the hottest ops (or None)
_new_tensor = object.__new__


def _wrap(impl: Any, b: Any) -> Tensor:
    t = _new_tensor(Tensor)
    t._impl = impl
    t._b = b
    return t


def _scalar_dtype(value: object) -> dtype:
    if isinstance(value, (_py_bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    return get_default_dtype()


def _norm_dims(dim: Any, axis: Any, ndim: int) -> list[int]:
    d = axis if dim is None else dim
    if d is None:
        return []
    if isinstance(d, (int, np.integer)):
        return [int(d)]
    return [int(v) for v in d]


def _shape_arg(args: tuple) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(v) for v in args[0])
    return tuple(int(v) for v in args)


def _norm_dim(op: str, dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} out of range for a tensor of {ndim} dims")
    return dim % n


class Tensor:
    """An n-dimensional array that records the operations applied to it for backpropagation.

    Shapes follow NumPy broadcasting. Example::

        x = fastgrad.tensor([1.0, -2.0], requires_grad=True)
        (x * x).sum().backward()            # x.grad == [2., -4.]
    """

    __slots__ = ("__weakref__", "_b", "_impl")
    __array_ufunc__ = None  # NumPy defers `ndarray + Tensor` to Tensor.__radd__
    __hash__ = object.__hash__

    def __init__(self, data: Any = None, dtype: Any = None, requires_grad: _py_bool = False) -> None:
        t = _from_data([] if data is None else data, dtype=dtype, requires_grad=requires_grad)
        self._impl = t._impl
        self._b = t._b

    # --- metadata ----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._impl.shape

    @property
    def dtype(self) -> dtype:
        return BY_CODE[self._impl.dtype]

    @property
    def ndim(self) -> int:
        return self._impl.ndim

    def dim(self) -> int:
        return self._impl.ndim

    def size(self, dim: int | None = None) -> Any:
        s = self._impl.shape
        return s if dim is None else s[_norm_dim("size", dim, len(s))]

    def numel(self) -> int:
        return self._impl.numel

    def __len__(self) -> int:
        s = self._impl.shape
        if not s:
            raise TypeError("len() of a 0-d tensor")
        return s[0]

    @property
    def is_leaf(self) -> _py_bool:
        return self._impl.is_leaf

    @property
    def requires_grad(self) -> _py_bool:
        return self._impl.requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: _py_bool) -> None:
        self._impl.requires_grad = _py_bool(flag)

    def requires_grad_(self, requires_grad: _py_bool = True) -> Tensor:
        self._impl.requires_grad = _py_bool(requires_grad)
        return self

    @property
    def grad(self) -> Tensor | None:
        g = self._impl.grad
        return None if g is None else _wrap(g, self._b)

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"grad: expected a Tensor or None, got {type(value).__name__}")
        self._impl.grad = None if value is None else self._same_backend(value)._impl

    @property
    def grad_fn(self) -> Any:
        return self._impl.grad_fn

    @property
    def retains_grad(self) -> _py_bool:
        return self._impl.retains_grad

    @property
    def _version(self) -> int:
        return self._impl.version

    def retain_grad(self) -> None:
        self._impl.retain_grad()

    def register_hook(self, fn: Callable[[Tensor], Tensor | None]) -> Any:
        """Calls ``fn(grad)`` when this tensor's gradient is computed; a returned tensor replaces
        it.

        Returns a handle whose ``remove()`` turns the hook off. Example:
        ``h = x.register_hook(lambda g: g * 2)``, then ``h.remove()``.
        """
        b = self._b
        live: dict[int, Any] = {}
        handle = RemovableHandle(live)
        live[handle.id] = fn

        def hook(g: Any) -> Any:
            if not live:  # removed: the backend keeps the wrapper, which now does nothing
                return None
            r = fn(_wrap(g, b))
            if r is not None and not isinstance(r, Tensor):
                raise TypeError(f"hook: expected a Tensor or None, got {type(r).__name__}")
            return None if r is None else r._impl

        self._impl.register_hook(hook)
        return handle

    def detach(self) -> Tensor:
        return _wrap(self._b.detach(self._impl), self._b)

    def backward(self, gradient: Tensor | None = None, retain_graph: _py_bool | None = None,
                 create_graph: _py_bool = False) -> None:
        """Accumulates d(self)/d(leaf) into every leaf's ``.grad``; ``gradient`` for non-scalars."""
        if retain_graph is None:
            retain_graph = create_graph
        g = None
        if gradient is not None:
            g = self._same_backend(_as_tensor_like(gradient, self))._impl
        self._b.backward([self._impl], [g], _py_bool(retain_graph), _py_bool(create_graph))

    # --- conversion --------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array sharing memory (a tensor that requires grad: detach first)."""
        if self._impl.requires_grad:
            raise RuntimeError(
                "numpy: can't call numpy() on a tensor that requires grad; "
                "use tensor.detach().numpy()"
            )
        return self._b.to_numpy(self._impl)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self._b.to_numpy(self._impl)
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a.copy() if copy else a

    def item(self) -> Any:
        return self._impl.item()

    def tolist(self) -> Any:
        return self._b.to_numpy(self._impl).tolist()

    def astype(self, dtype: Any) -> Tensor:
        d = as_dtype(dtype)
        if d.code == self._impl.dtype:
            return self
        return _wrap(self._b.to_dtype(self._impl, d.code), self._b)

    def float(self) -> Tensor:
        return self.astype(float32)

    def double(self) -> Tensor:
        return self.astype(float64)

    def long(self) -> Tensor:
        return self.astype(int64)

    def bool(self) -> Tensor:
        return self.astype(bool_)

    def is_floating_point(self) -> _py_bool:
        return self.dtype.is_floating_point

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> _py_bool:
        if self._impl.numel != 1:
            raise RuntimeError(
                f"bool: the truth value of a tensor of shape {self.shape} is ambiguous"
            )
        return _py_bool(self.item())

    def __index__(self) -> int:
        if self._impl.dtype != 2 or self._impl.numel != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __repr__(self) -> str:
        a = np.array2string(self._b.to_numpy(self._impl), separator=", ", precision=4)
        extra = ""
        if self._impl.dtype not in (0, 3, 2):
            extra += f", dtype={self.dtype!r}"
        if self._impl.grad_fn is not None:
            extra += f", grad_fn=<{self._impl.grad_fn.name()}>"
        elif self._impl.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({a}{extra})"

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i in range(len(self)):
            yield self[i]

    def __reduce__(self) -> tuple:
        raise TypeError("pickling a Tensor is not supported; use fastgrad.save")

    # --- helpers -----------------------------------------------------------------------------
    def _same_backend(self, other: Tensor) -> Tensor:
        if other._b is not self._b:
            raise RuntimeError(
                "tensors from different backends ('cpp' and 'python') cannot be mixed; "
                "create them after the same fastgrad.set_backend(...)"
            )
        return other

    def _float_impl(self) -> Any:
        """The handle, cast to float32 when the tensor is not floating point."""
        i = self._impl
        return i if i.dtype < 2 else self._b.to_dtype(i, 0)

    # --- elementwise ---------------------------------------------------------------------------
    # With the C++ backend present, __add__, __sub__ and __mul__ are replaced by C methods that
    # do the same (Note [Binary fast path], cpp/bindings/handle.cpp): see the end of this file.
    def __add__(self, o: Any) -> Tensor:
        return _binary("add", self, o)

    def __radd__(self, o: Any) -> Tensor:
        return _binary("add", self, o, reverse=True)

    def __sub__(self, o: Any) -> Tensor:
        return _binary("sub", self, o)

    def __rsub__(self, o: Any) -> Tensor:
        return _binary("sub", self, o, reverse=True)

    def __mul__(self, o: Any) -> Tensor:
        return _binary("mul", self, o)

    def __rmul__(self, o: Any) -> Tensor:
        return _binary("mul", self, o, reverse=True)

    def __truediv__(self, o: Any) -> Tensor:
        return _binary("div", self, o, floating=True)

    def __rtruediv__(self, o: Any) -> Tensor:
        return _binary("div", self, o, reverse=True, floating=True)

    def __pow__(self, o: Any) -> Tensor:
        return _binary("pow", self, o, floating=True)

    def __rpow__(self, o: Any) -> Tensor:
        return _binary("pow", self, o, reverse=True, floating=True)

    def __matmul__(self, o: Any) -> Tensor:
        return matmul(self, _as_tensor_like(o, self))

    def __rmatmul__(self, o: Any) -> Tensor:
        return matmul(_as_tensor_like(o, self), self)

    def __neg__(self) -> Tensor:
        return _wrap(self._b.neg(self._impl), self._b)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    def __invert__(self) -> Tensor:
        return _wrap(self._b.logical_not(self._impl), self._b)

    def __lt__(self, o: Any) -> Tensor:
        return _binary("lt", self, o)

    def __le__(self, o: Any) -> Tensor:
        return _binary("le", self, o)

    def __gt__(self, o: Any) -> Tensor:
        return _binary("gt", self, o)

    def __ge__(self, o: Any) -> Tensor:
        return _binary("ge", self, o)

    def __eq__(self, o: object) -> Tensor:  # type: ignore[override]
        return _binary("eq", self, o)

    def __ne__(self, o: object) -> Tensor:  # type: ignore[override]
        return _binary("ne", self, o)

    def add(self, o: Any) -> Tensor:
        return _binary("add", self, o)

    def sub(self, o: Any) -> Tensor:
        return _binary("sub", self, o)

    def mul(self, o: Any) -> Tensor:
        return _binary("mul", self, o)

    def div(self, o: Any) -> Tensor:
        return _binary("div", self, o, floating=True)

    def pow(self, o: Any) -> Tensor:
        return _binary("pow", self, o, floating=True)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        lo = None if min is None else float(min)
        hi = None if max is None else float(max)
        return _wrap(self._b.clamp(self._impl, lo, hi), self._b)

    clip = clamp

    # --- reductions ----------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: _py_bool = False, *, axis: Any = None,
            keepdims: _py_bool | None = None) -> Tensor:
        keep = keepdim if keepdims is None else keepdims
        dims = _norm_dims(dim, axis, self.ndim)
        impl = self._impl
        return _wrap(self._b.sum(impl, dims, _py_bool(keep)), self._b)

    def mean(self, dim: Any = None, keepdim: _py_bool = False, *, axis: Any = None,
             keepdims: _py_bool | None = None) -> Tensor:
        if not self.dtype.is_floating_point:
            raise TypeError(f"mean: expected a floating-point tensor, got {self.dtype.name}")
        keep = keepdim if keepdims is None else keepdims
        dims = _norm_dims(dim, axis, self.ndim)
        s = self.sum(dims, keep)
        n = _count(self.shape, dims)
        return s / float(n) if n else s * float("nan")

    def var(self, dim: Any = None, unbiased: _py_bool | None = None, keepdim: _py_bool = False, *,
            correction: int | None = None, axis: Any = None, keepdims: _py_bool | None = None,
            ddof: int | None = None) -> Tensor:
        keep = keepdim if keepdims is None else keepdims
        dims = _norm_dims(dim, axis, self.ndim)
        if correction is None:
            correction = ddof if ddof is not None else (0 if unbiased is False else 1)
        mu = self.mean(dims, True)
        d = self - mu
        n = _count(self.shape, dims)
        return (d * d).sum(dims, keep) / float(max(n - correction, 0))

    def std(self, dim: Any = None, unbiased: _py_bool | None = None, keepdim: _py_bool = False, *,
            correction: int | None = None, axis: Any = None, keepdims: _py_bool | None = None,
            ddof: int | None = None) -> Tensor:
        return self.var(dim, unbiased, keepdim, correction=correction, axis=axis,
                        keepdims=keepdims, ddof=ddof).sqrt()

    def logsumexp(self, dim: Any = None, keepdim: _py_bool = False, *, axis: Any = None,
                  keepdims: _py_bool | None = None) -> Tensor:
        keep = keepdim if keepdims is None else keepdims
        dims = _norm_dims(dim, axis, self.ndim)
        x = self if self.dtype.is_floating_point else self.float()
        m = x.amax(dims, True).detach()
        m = where(m.abs() == float("inf"), zeros_like(m), m)
        out = (x - m).exp().sum(dims, True).log() + m
        return out if keep else out.reshape(_reduced_shape(self.shape, dims, False))

    def amax(self, dim: Any = None, keepdim: _py_bool = False) -> Tensor:
        return _wrap(self._b.amax(self._impl, _norm_dims(dim, None, self.ndim), _py_bool(keepdim)),
                     self._b)

    def amin(self, dim: Any = None, keepdim: _py_bool = False) -> Tensor:
        return _wrap(self._b.amin(self._impl, _norm_dims(dim, None, self.ndim), _py_bool(keepdim)),
                     self._b)

    def max(self, dim: Any = None, keepdim: _py_bool = False, *, axis: Any = None,
            keepdims: _py_bool | None = None) -> Any:
        """Without dim: the largest element (0-d). With dim: ``(values, indices)``."""
        if isinstance(dim, Tensor):
            return maximum(self, dim)
        return self._extreme("max", dim, keepdim, axis, keepdims)

    def min(self, dim: Any = None, keepdim: _py_bool = False, *, axis: Any = None,
            keepdims: _py_bool | None = None) -> Any:
        """Without dim: the smallest element (0-d). With dim: ``(values, indices)``."""
        if isinstance(dim, Tensor):
            return minimum(self, dim)
        return self._extreme("min", dim, keepdim, axis, keepdims)

    def _extreme(self, op: str, dim: Any, keepdim: Any, axis: Any, keepdims: Any) -> Any:
        keep = _py_bool(keepdim if keepdims is None else keepdims)
        d = axis if dim is None else dim
        red = self._b.amax if op == "max" else self._b.amin
        if d is None:
            return _wrap(red(self._impl, [], False), self._b)
        d = int(d)
        arg = self._b.argmax if op == "max" else self._b.argmin
        values = _wrap(red(self._impl, [d], keep), self._b)
        indices = _wrap(arg(self._impl, d, keep), self._b)
        return MaxMin(values, indices)

    def argmax(self, dim: int | None = None, keepdim: _py_bool = False, *,
               axis: int | None = None) -> Tensor:
        d = axis if dim is None else dim
        return _wrap(self._b.argmax(self._impl, None if d is None else int(d), _py_bool(keepdim)),
                     self._b)

    def argmin(self, dim: int | None = None, keepdim: _py_bool = False, *,
               axis: int | None = None) -> Tensor:
        d = axis if dim is None else dim
        return _wrap(self._b.argmin(self._impl, None if d is None else int(d), _py_bool(keepdim)),
                     self._b)

    def softmax(self, dim: int = -1) -> Tensor:
        return _wrap(self._b.softmax(self._float_impl(), int(dim)), self._b)

    def log_softmax(self, dim: int = -1) -> Tensor:
        return _wrap(self._b.log_softmax(self._float_impl(), int(dim)), self._b)

    # --- shape -------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        s = _shape_arg(shape)
        if s == self._impl.shape:
            return self
        return _wrap(self._b.reshape(self._impl, list(s)), self._b)

    def view(self, *shape: Any) -> Tensor:
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        s = self.shape
        if not s:
            return self.reshape(1)
        a = _norm_dim("flatten", start_dim, len(s))
        b = _norm_dim("flatten", end_dim, len(s))
        if a > b:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(s[:a] + (math.prod(s[a:b + 1]),) + s[b + 1:])

    def squeeze(self, dim: Any = None) -> Tensor:
        s = self.shape
        if dim is None:
            return self.reshape(tuple(v for v in s if v != 1))
        dims = {_norm_dim("squeeze", d, len(s)) for d in ([dim] if isinstance(dim, int) else dim)}
        return self.reshape(tuple(v for i, v in enumerate(s) if not (i in dims and v == 1)))

    def unsqueeze(self, dim: int) -> Tensor:
        s = list(self.shape)
        n = len(s) + 1
        if not -n <= dim < n:
            raise IndexError(f"unsqueeze: dim {dim} out of range for a tensor of {len(s)} dims")
        s.insert(dim % n, 1)
        return self.reshape(tuple(s))

    def permute(self, *dims: Any) -> Tensor:
        d = _shape_arg(dims)
        return _wrap(self._b.permute(self._impl, list(d)), self._b)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        n = self.ndim
        if n < 2 and dim0 in (0, -1) and dim1 in (0, -1):
            return self
        p = list(range(n))
        a, b = _norm_dim("transpose", dim0, n), _norm_dim("transpose", dim1, n)
        p[a], p[b] = p[b], p[a]
        return self.permute(p)

    @property
    def T(self) -> Tensor:
        n = self._impl.ndim
        return _wrap(self._b.permute(self._impl, list(range(n))[::-1]), self._b) if n > 1 else self

    def t(self) -> Tensor:
        """The transpose of a matrix; 0-d and 1-d tensors are returned as they are (PyTorch)."""
        if self.ndim > 2:
            raise RuntimeError(f"t: expects a tensor of at most 2 dims, got shape {self.shape}; "
                               "use transpose or permute")
        return self.T

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    def expand(self, *sizes: Any) -> Tensor:
        s = _shape_arg(sizes)
        if s == self._impl.shape:
            return self
        return _wrap(self._b.expand(self._impl, list(s)), self._b)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return self.expand(tuple(shape))

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def contiguous(self) -> Tensor:
        return _wrap(self._b.contiguous(self._impl), self._b)

    def is_contiguous(self) -> _py_bool:
        return self._impl.is_contiguous

    def clone(self) -> Tensor:
        return _wrap(self._b.clone(self._impl), self._b)

    def matmul(self, other: Tensor) -> Tensor:
        return matmul(self, other)

    # __getitem__ and __setitem__: installed by _indexing.py, which sits above this module.

    # --- in place -------------------------------------------------------------------------------
    # Note [In-place ops and autograd]: under no_grad, or on tensors that need no gradient, an
    # in-place op is a plain write (it bumps the version counter, so a backward that saved the
    # old values refuses to run). Outside no_grad, on a non-leaf that requires grad (or with a
    # source that does), it is recorded: the result is computed out of place from a clone of the
    # old values, written into this tensor's memory, and this tensor takes over its history
    # (rebase_history). A leaf that requires grad, and memory aliased by views, are refused.
    def _check_inplace(self, op: str, src: Any = None) -> _py_bool:
        """Whether the in-place op must be recorded by autograd; raises when it is not allowed."""
        i = self._impl
        if not self._b.is_grad_enabled():
            return False
        if i.requires_grad and i.is_leaf:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad is being used in an in-place operation; "
                "wrap it in `with fastgrad.no_grad():`"
            )
        if not (i.requires_grad or (isinstance(src, Tensor) and src.requires_grad)):
            return False
        if i.has_views:
            raise RuntimeError(
                f"{op}: an in-place operation recorded by autograd on a view, or on a tensor that "
                f"has views (shape {self.shape}), is not supported; use the out-of-place op, or "
                "clone() first"
            )
        if not self.dtype.is_floating_point:
            raise RuntimeError(f"{op}: the result requires grad but the tensor is "
                               f"{self.dtype.name}; use the out-of-place op")
        return True

    def _inplace(self, op: str, fn: Callable[[Tensor], Tensor], src: Any = None) -> Tensor:
        """self <- fn(self), recorded when needed. See Note [In-place ops and autograd]."""
        b = self._b
        if not self._check_inplace(op, src):
            with _NoGrad(b):
                r = fn(self)
            b.copy_(self._impl, self._same_backend(r)._impl)  # broadcasts and casts
            return self
        old = self.clone()  # keeps the old values for the rules that save them
        r = fn(old)
        if r.shape != self.shape:
            if _broadcast(op, r.shape, self.shape) != self.shape:
                raise ValueError(f"{op}: a result of shape {r.shape} does not fit in a tensor of "
                                 f"shape {self.shape}")
            r = r.expand(self.shape)
        if not r.requires_grad:  # overwritten by constants: the old history gets zero gradient
            r = where(zeros_like(old, bool_), old, r)
        elif r.grad_fn is None:  # a leaf (copy_ from a parameter): give the result its own node
            r = r.clone()
        r = r.astype(self.dtype)
        b.copy_(self._impl, r._impl)
        b.rebase_history(self._impl, r._impl)
        return self

    def copy_(self, src: Any) -> Tensor:
        s = _as_tensor_like(src, self)
        return self._inplace("copy_", lambda t: s, s)

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        if isinstance(value, Tensor):
            if value.numel() != 1:
                raise ValueError(f"fill_: the value must have one element, got shape {value.shape}")
            return self._inplace("fill_", lambda t: value.reshape(()), value)
        if not self._check_inplace("fill_"):
            self._b.fill_(self._impl, float(value))
            return self
        return self._inplace("fill_", lambda t: _as_tensor_like(value, t))

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        o = other if alpha == 1 else _as_tensor_like(other, self) * alpha
        return self._inplace("add_", lambda t: t + o, other)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        return self.add_(other, alpha=-alpha)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace("mul_", lambda t: t * other, other)

    def div_(self, other: Any) -> Tensor:
        return self._inplace("div_", lambda t: t / other, other)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:
        return self._inplace("clamp_", lambda t: t.clamp(min, max))

    def relu_(self) -> Tensor:
        return self._inplace("relu_", lambda t: t.relu())

    def _fill_random(self, op: str, data: np.ndarray) -> Tensor:
        if self._check_inplace(op):
            raise RuntimeError(f"{op}: filling a tensor that requires grad with random values is "
                               "not recorded by autograd; use it under fastgrad.no_grad()")
        self._b.copy_(self._impl, self._b.from_numpy(np.asarray(data)))
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        return self._fill_random("uniform_", _rng().uniform(a, b, size=self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        return self._fill_random("normal_", _rng().normal(mean, std, size=self.shape))

    # --- device surface (fastgrad/_device.py): a CPU library answers PyTorch's device API -------
    @property
    def device(self) -> Any:
        """Always ``device(type='cpu')``: fastgrad runs on CPUs only."""
        from fastgrad._device import CPU

        return CPU

    @property
    def is_cuda(self) -> _py_bool:
        return False

    @property
    def is_cpu(self) -> _py_bool:
        return True

    def get_device(self) -> int:
        """-1, PyTorch's answer for a CPU tensor."""
        return -1

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """PyTorch's ``to``: ``to(dtype)``, ``to(device)``, ``to("cpu")``, ``to(device, dtype)``,
        ``to(other_tensor)``, keywords ``dtype device non_blocking copy memory_format``. The same
        tensor when nothing changes (unless ``copy=True``); a device other than the CPU raises.

        Example: ``x.to(fastgrad.device("cpu"), fastgrad.float64)``.
        """
        from fastgrad._device import parse_to

        d, copy = parse_to("to", args, kwargs, Tensor)
        if d is not None and d.code != self._impl.dtype:
            return self.astype(d)
        return self.clone() if copy else self

    def cpu(self, memory_format: Any = None) -> Tensor:
        """This tensor (it is on the CPU already)."""
        return self

    def cuda(self, device: Any = None, non_blocking: _py_bool = False,
             memory_format: Any = None) -> Tensor:
        """Raises: fastgrad runs on CPUs only."""
        from fastgrad._device import cuda_error

        raise cuda_error(device)


class _NoGrad:
    """Grad mode off for one backend, restored on exit (internal; users have fastgrad.no_grad)."""

    __slots__ = ("_b", "_prev")

    def __init__(self, b: Any) -> None:
        self._b = b

    def __enter__(self) -> None:
        self._prev = self._b.is_grad_enabled()
        self._b.set_grad_enabled(False)

    def __exit__(self, *exc: object) -> None:
        self._b.set_grad_enabled(self._prev)


# --- promotion and binary ops ----------------------------------------------------------------
def _broadcast(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise ValueError(f"{op}: shapes {a} and {b} cannot be broadcast together") from None


def _count(shape: tuple[int, ...], dims: list[int]) -> int:
    if not dims:
        return math.prod(shape)
    return math.prod(shape[_norm_dim("reduce", d, len(shape))] for d in dims)


def _reduced_shape(shape: tuple[int, ...], dims: list[int], keep: _py_bool) -> tuple[int, ...]:
    ds = {_norm_dim("reduce", d, len(shape)) for d in dims} if dims else set(range(len(shape)))
    if keep:
        return tuple(1 if i in ds else v for i, v in enumerate(shape))
    return tuple(v for i, v in enumerate(shape) if i not in ds)


def result_type(*operands: Any) -> dtype:
    """PyTorch's promotion: dimensioned tensors > 0-d tensors > Python scalars, within a category."""
    tiers: list[list[dtype]] = [[], [], []]
    for o in operands:
        if isinstance(o, Tensor):
            tiers[0 if o._impl.ndim else 1].append(o.dtype)
        else:
            tiers[2].append(_scalar_dtype(o))
    cat = max(d.category for tier in tiers for d in tier)
    for tier in tiers:
        best = [d for d in tier if d.category == cat]
        if best:
            return max(best, key=lambda d: d.itemsize)
    return float32  # unreachable


def _as_tensor_like(o: Any, like: Tensor) -> Tensor:
    if isinstance(o, Tensor):
        return like._same_backend(o)
    if isinstance(o, _SCALARS):
        d = result_type(like, o)
        return _wrap(like._b.scalar(float(o) if d.category == 2 else int(o), d.code), like._b)
    return _from_data(o)


def _binary(op: str, a: Tensor, o: Any, reverse: _py_bool = False,
            floating: _py_bool = False) -> Tensor:
    b = a._b
    ai = a._impl
    if type(o) is Tensor:
        if o._b is not b:
            a._same_backend(o)
        oi = o._impl
        if ai.dtype != oi.dtype or (floating and ai.dtype > 1):
            d = result_type(a, o)
            if floating and not d.is_floating_point:
                d = float32
            if ai.dtype != d.code:
                ai = b.to_dtype(ai, d.code)
            if oi.dtype != d.code:
                oi = b.to_dtype(oi, d.code)
    elif (type(o) is float or type(o) is int) and ai.dtype < 2:
        oi = b.scalar(float(o), ai.dtype)  # a floating tensor keeps its dtype with a Python number
    elif isinstance(o, _SCALARS):
        d = result_type(a, o)
        if floating and not d.is_floating_point:
            d = float32
        if ai.dtype != d.code:
            ai = b.to_dtype(ai, d.code)
        oi = b.scalar(float(o) if d.category == 2 else int(o), d.code)
    else:
        try:
            t = _from_data(o)
        except (TypeError, ValueError):
            return NotImplemented  # type: ignore[return-value]
        return _binary(op, a, t, reverse, floating)
    f = getattr(b, op)
    return _wrap(f(oi, ai) if reverse else f(ai, oi), b)


# --- module-level ops that need two tensors --------------------------------------------------
def _promote(op: str, tensors: Sequence[Any], floating: _py_bool = False) -> list[Tensor]:
    ts = [t for t in tensors if isinstance(t, Tensor)]
    if not ts:
        raise TypeError(f"{op}: expected at least one Tensor")
    d = result_type(*tensors)
    if floating and not d.is_floating_point:
        d = float32
    out = []
    for t in tensors:
        t = _as_tensor_like(t, ts[0])
        out.append(t if t._impl.dtype == d.code else t.astype(d))
    return out


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: 1-D, 2-D and batched (broadcast) operands.

    Shapes: (..., M, K) @ (..., K, N) -> (..., M, N); a 1-D operand is a vector.
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        # The common case first: two matrices (or batches) of one floating dtype, on one backend,
        # whose inner dims agree; anything else takes the checks and promotions below.
        ai, bi, bk = a._impl, b._impl, a._b
        if (b._b is bk and ai.dtype == bi.dtype and ai.dtype < 2 and ai.ndim > 1 and bi.ndim > 1
                and ai.shape[-1] == bi.shape[-2]):
            return _wrap(bk.matmul(ai, bi), bk)
    else:
        if isinstance(b, Tensor):
            a = _as_tensor_like(a, b)
        if not isinstance(b, Tensor):
            b = _as_tensor_like(b, a)
    a, b = _promote("matmul", [a, b], floating=True)
    sa, sb = a.shape, b.shape
    if not sa or not sb:
        raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {sa} and {sb}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {sa} and {sb} do not match: {ka} != {kb}")
    bk = a._b
    if len(sa) == 1 and len(sb) == 1:
        r = bk.matmul(bk.reshape(a._impl, [1, ka]), bk.reshape(b._impl, [kb, 1]))
        return _wrap(bk.reshape(r, []), bk)
    if len(sa) == 1:
        r = _wrap(bk.matmul(bk.reshape(a._impl, [1, ka]), b._impl), bk)
        return r.squeeze(-2)
    if len(sb) == 1:
        r = _wrap(bk.matmul(a._impl, bk.reshape(b._impl, [kb, 1])), bk)
        return r.squeeze(-1)
    return _wrap(bk.matmul(a._impl, b._impl), bk)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max (the "max gate": the gradient goes to the larger input)."""
    x, y = _promote("maximum", [a, b])
    return _wrap(x._b.maximum(x._impl, y._impl), x._b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min."""
    x, y = _promote("minimum", [a, b])
    return _wrap(x._b.minimum(x._impl, y._impl), x._b)


def where(condition: Tensor, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` is true, else ``b`` (broadcast)."""
    if not isinstance(condition, Tensor):
        raise TypeError("where: condition must be a bool Tensor")
    if condition.dtype is not bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {condition.dtype.name}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _as_tensor_like(a, condition.float())
    x, y = _promote("where", [a, b])
    c = x._same_backend(condition)
    return _wrap(x._b.where(c._impl, x._impl, y._impl), x._b)


def zeros_like(t: Tensor, dtype: Any = None) -> Tensor:
    d = t.dtype if dtype is None else as_dtype(dtype)
    return _wrap(t._b.full(list(t.shape), 0.0, d.code), t._b)


# --- tensors from Python and NumPy data (fastgrad.tensor, Tensor(data), operands) ------------
def _finish(a: np.ndarray, requires_grad: _py_bool) -> Tensor:
    """A tensor on the current backend over the array ``a`` (no copy)."""
    b = _backend.current
    t = _wrap(b.from_numpy(a), b)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_dtype(data: Any) -> dtype:
    a = np.asarray(data)
    if a.dtype.kind == "f":
        return get_default_dtype()
    return for_array(a.dtype)


def _from_data(data: Any, dtype: Any = None, requires_grad: _py_bool = False) -> Tensor:
    """fastgrad.tensor(data, dtype, requires_grad): a new tensor (a copy) of Python or NumPy data.

    Python floats give float32, ints int64, bools bool; a NumPy array or NumPy scalar keeps its
    dtype (float16 -> float32, other integer kinds -> int64).
    """
    if isinstance(data, Tensor):
        a = np.array(data.detach().numpy(), copy=True)
        d = data.dtype if dtype is None else as_dtype(dtype)
    elif isinstance(data, (np.ndarray, np.generic)):  # np.float64 is also a Python float
        a = np.asarray(data)
        d = for_array(a.dtype) if dtype is None else as_dtype(dtype)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in data):
            data = [v.detach().numpy() if isinstance(v, Tensor) else v for v in data]
        try:
            a = np.asarray(data)
        except ValueError as e:
            raise ValueError(f"tensor: cannot build a tensor from ragged data: {e}") from None
        if a.dtype == object:
            raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} data")
        d = _infer_dtype(a) if dtype is None else as_dtype(dtype)
    a = np.array(a, dtype=d.np, order="C", copy=True)  # native byte order, owned, contiguous
    return _finish(a, requires_grad)


# --- methods from the op table ----------------------------------------------------------------
def _table_method(name: str, floating: _py_bool) -> Callable[[Tensor], Tensor]:
    if floating:
        def method(self: Tensor) -> Tensor:
            return _wrap(getattr(self._b, name)(self._float_impl()), self._b)
    else:
        def method(self: Tensor) -> Tensor:
            return _wrap(getattr(self._b, name)(self._impl), self._b)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Elementwise {name} (fastgrad.{name}); differentiable where it has a gradient."
    return method


def _install_table_methods() -> None:
    """One Tensor method per op-table row with method=True, unless the class defines it by hand."""
    for p in PRIMITIVES:
        if p.method and p.name not in Tensor.__dict__:
            setattr(Tensor, p.name, _table_method(p.name, p.floating))


_install_table_methods()

if _CPP is not None:
    # C versions of a + b, a - b, a * b and of _wrap (Notes [Binary fast path] and [Untracked
    # tensors] in cpp/bindings/handle.cpp); modules importing _wrap import this module first.
    _wrap = _CPP.install_fast_paths(Tensor, _CPP, lambda op, a, o: _binary(op, a, o))
