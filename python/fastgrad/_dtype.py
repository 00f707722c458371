"""fastgrad dtypes: float32 (the default for Python floats), float64, int64 and bool.

A dtype's ``code`` is the integer both backends use; ``np`` is the matching NumPy dtype.
"""

from __future__ import annotations

import numpy as np


class dtype:
    """An element type, e.g. ``fastgrad.float32``."""

    __slots__ = ("category", "code", "is_floating_point", "itemsize", "name", "np")

    def __init__(self, name: str, code: int, np_dtype: type, category: int) -> None:
        self.name = name
        self.code = code
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.category = category  # 0 bool, 1 integer, 2 floating
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"fastgrad.{self.name}"

    def __reduce__(self) -> str:
        return self.name


float32 = dtype("float32", 0, np.float32, 2)
float64 = dtype("float64", 1, np.float64, 2)
int64 = dtype("int64", 2, np.int64, 1)
bool_ = dtype("bool", 3, np.bool_, 0)

BY_CODE = (float32, float64, int64, bool_)
_ALIASES = {
    "float32": float32, "float": float32, "float64": float64, "double": float64,
    "int64": int64, "long": int64, "bool": bool_,
}


def as_dtype(d: object) -> dtype:
    """Accepts a fastgrad dtype, a NumPy dtype or type, or a name such as ``"float32"``."""
    if isinstance(d, dtype):
        return d
    if isinstance(d, str) and d in _ALIASES:
        return _ALIASES[d]
    if d is float:
        return float32
    if d is int:
        return int64
    if d is bool:
        return bool_
    try:
        nd = np.dtype(d)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"unsupported dtype {d!r}; use float32, float64, int64 or bool") from None
    return from_numpy_dtype(nd, "dtype")


def from_numpy_dtype(nd: np.dtype, op: str) -> dtype:
    """The fastgrad dtype of a NumPy dtype (exact kinds only)."""
    if nd.kind == "f" and nd.itemsize == 4:
        return float32
    if nd.kind == "f" and nd.itemsize == 8:
        return float64
    if nd.kind == "i" and nd.itemsize == 8:
        return int64
    if nd.kind == "b":
        return bool_
    raise TypeError(f"{op}: unsupported dtype {nd}; fastgrad has float32, float64, int64 and bool")


def for_array(nd: np.dtype) -> dtype:
    """The dtype ``fastgrad.tensor`` gives a NumPy array: nearest supported kind, copied."""
    if nd.kind == "f":
        return float64 if nd.itemsize == 8 else float32
    if nd.kind in "iu":
        return int64
    if nd.kind == "b":
        return bool_
    raise TypeError(f"tensor: unsupported NumPy dtype {nd}")
