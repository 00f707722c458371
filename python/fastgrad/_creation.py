"""Tensor creation: from Python data and NumPy arrays, constant fills, ranges and random numbers.

Data is prepared with NumPy and handed to the current backend; random numbers come from one
NumPy generator seeded by ``manual_seed``, so both backends see the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastgrad import _backend
from fastgrad._device import check_device, get_default_dtype
from fastgrad._dtype import as_dtype, bool_, from_numpy_dtype, int64
from fastgrad._random import _rng, manual_seed  # noqa: F401 (re-exported)
from fastgrad.tensor import Tensor, _finish, _from_data, _wrap


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None,
           pin_memory: bool = False) -> Tensor:
    """A new tensor (a copy) from nested lists, scalars, NumPy arrays or another tensor.

    Python floats give the default dtype (float32 unless set_default_dtype), ints int64, bools
    bool; a NumPy array or NumPy scalar keeps its dtype (float16 -> float32, other integer kinds
    -> int64). ``device`` must name the CPU. Example: ``fastgrad.tensor([[1., 2.]])``.
    """
    check_device(device, "tensor")
    return _from_data(data, dtype, requires_grad)


# h1-nnfast: NumPy's own descriptors of the four dtypes in native byte order (singletons), by id
_NATIVE_DESCRS = tuple(np.dtype(t) for t in (np.float32, np.float64, np.int64, np.bool_))
_NATIVE_DTYPES = frozenset(id(d) for d in _NATIVE_DESCRS)


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing memory with the NumPy array ``a`` (no copy): writes show through both."""
    if type(a) is np.ndarray and id(a.dtype) in _NATIVE_DTYPES:  # h1-nnfast: no checks to do
        b = _backend.current
        return _wrap(b.from_numpy(a), b)
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(a).__name__}")
    from_numpy_dtype(a.dtype, "from_numpy")
    if not a.dtype.isnative:
        raise TypeError(
            "from_numpy: arrays of non-native byte order cannot be shared; "
            "use fastgrad.tensor(a) to copy it"
        )
    b = _backend.current
    return _wrap(b.from_numpy(a), b)


def _shape(size: Sequence[Any]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None, requires_grad: bool = False,
         device: Any = None) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``."""
    check_device(device, "full")
    if dtype is None:
        d = bool_ if isinstance(fill_value, bool) else (
            int64 if isinstance(fill_value, (int, np.integer)) else get_default_dtype())
    else:
        d = as_dtype(dtype)
    b = _backend.current
    shape = _shape([size])
    t = _wrap(b.full(list(shape), float(fill_value), d.code), b)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False,
          device: Any = None) -> Tensor:
    check_device(device, "zeros")
    return full(_shape(size), 0.0, dtype or get_default_dtype(), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False,
         device: Any = None) -> Tensor:
    check_device(device, "ones")
    return full(_shape(size), 1.0, dtype or get_default_dtype(), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False,
          device: Any = None) -> Tensor:
    check_device(device, "empty")
    return full(_shape(size), 0.0, dtype or get_default_dtype(), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False,
        device: Any = None) -> Tensor:
    check_device(device, "eye")
    d = as_dtype(dtype or get_default_dtype())
    return _finish(np.eye(n, m, dtype=d.np), requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None,
           requires_grad: bool = False, device: Any = None) -> Tensor:
    check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if dtype is None:
        floating = any(isinstance(v, float) for v in (start, end, step))
        d = get_default_dtype() if floating else int64
    else:
        d = as_dtype(dtype)
    return _finish(np.arange(start, end, step).astype(d.np), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None,
             requires_grad: bool = False, device: Any = None) -> Tensor:
    check_device(device, "linspace")
    d = as_dtype(dtype or get_default_dtype())
    return _finish(np.linspace(start, end, steps).astype(d.np), requires_grad)


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False,
         device: Any = None) -> Tensor:
    check_device(device, "rand")
    d = as_dtype(dtype or get_default_dtype())
    return _finish(_rng().random(_shape(size)).astype(d.np), requires_grad)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False,
          device: Any = None) -> Tensor:
    check_device(device, "randn")
    d = as_dtype(dtype or get_default_dtype())
    return _finish(_rng().standard_normal(_shape(size)).astype(d.np), requires_grad)


def randint(*args: Any, size: Sequence[int] | None = None, low: int | None = None,
            high: int | None = None, dtype: Any = None, generator: Any = None,
            requires_grad: bool = False, device: Any = None, **kwargs: Any) -> Tensor:
    """Integers drawn uniformly from [low, high): PyTorch's ``randint(high, size)`` and
    ``randint(low, high, size)`` (positional or keyword). Example: ``randint(10, (2, 3))``."""
    check_device(device, "randint")
    rest = list(args)
    if rest and isinstance(rest[-1], (tuple, list)) and size is None:
        size = rest.pop()
    if len(rest) == 2:
        low, high = rest
    elif len(rest) == 1:
        if high is None:
            high = rest[0]
        else:
            low = rest[0]
    elif rest:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {len(args)} "
                        "positional arguments")
    if high is None:
        raise TypeError("randint: missing the upper bound high")
    if size is None:
        raise TypeError("randint: missing the argument size")
    low = 0 if low is None else int(low)
    if int(high) <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    d = as_dtype(dtype or int64)
    rng = _rng(generator)
    return _finish(rng.integers(low, int(high), size=tuple(size)).astype(d.np), requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
    return full(t.shape, 0.0, dtype or t.dtype, requires_grad, device)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
              device: Any = None) -> Tensor:
    return full(t.shape, 1.0, dtype or t.dtype, requires_grad, device)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
              device: Any = None) -> Tensor:
    return full(t.shape, fill_value, dtype or t.dtype, requires_grad, device)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
    return randn(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=device)


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
              device: Any = None) -> Tensor:
    return rand(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=device)


def empty_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
    """A tensor of t's shape (zero-filled: fastgrad never hands out uninitialised memory)."""
    return full(t.shape, 0.0, dtype or t.dtype, requires_grad, device)
