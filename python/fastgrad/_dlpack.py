"""DLPack exchange: ``Tensor.__dlpack__``/``__dlpack_device__`` and ``fastgrad.from_dlpack``.

Zero-copy through NumPy, which implements DLPack for CPU memory: a fastgrad tensor and the array
NumPy makes of it share memory, so the consumer (NumPy, PyTorch, ...) sees the tensor's memory.
CPU only; not a device transfer. This module sits above tensor.py and installs the two methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastgrad._creation import from_numpy
from fastgrad.tensor import Tensor

_KDLCPU = 1


def __dlpack__(self: Tensor, *, stream: Any = None, max_version: Any = None,
               dl_device: Any = None, copy: Any = None) -> Any:
    """A DLPack capsule of this tensor's memory (no copy), as PyTorch's ``Tensor.__dlpack__``.
    A tensor that requires grad is refused (detach first), as in PyTorch. Example:
    ``np.from_dlpack(t)`` or ``torch.from_dlpack(t)``."""
    if self.requires_grad:
        raise RuntimeError("__dlpack__: can't export a tensor that requires grad; "
                           "use tensor.detach()")
    if stream is not None and stream != -1:
        raise ValueError(f"__dlpack__: stream={stream!r}: fastgrad tensors live on the CPU, "
                         "which has no streams (pass None)")
    if dl_device is not None and next(iter(dl_device)) != _KDLCPU:
        raise ValueError(f"__dlpack__: dl_device={dl_device!r}: only the CPU (1, 0) is available")
    a = self._b.to_numpy(self._impl)
    kw: dict[str, Any] = {}
    if max_version is not None:
        kw["max_version"] = max_version
    if copy is not None:
        kw["copy"] = copy
    return a.__dlpack__(**kw)


def __dlpack_device__(self: Tensor) -> tuple[int, int]:
    """``(1, 0)``: DLPack's kDLCPU, device 0."""
    return (_KDLCPU, 0)


class _Capsule:
    """Wraps a bare DLPack capsule (``torch.utils.dlpack.to_dlpack``) so NumPy accepts it."""

    def __init__(self, capsule: Any) -> None:
        self.capsule = capsule

    def __dlpack__(self, **kw: Any) -> Any:
        return self.capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (_KDLCPU, 0)


def from_dlpack(ext_tensor: Any) -> Tensor:
    """A tensor sharing memory with ``ext_tensor``: any CPU object with ``__dlpack__`` (a NumPy
    array, a PyTorch tensor, ...) or a DLPack capsule. Writes show through both. Example:
    ``t = fastgrad.from_dlpack(torch.arange(3.))``."""
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    if type(ext_tensor).__name__ == "PyCapsule":
        ext_tensor = _Capsule(ext_tensor)
    elif not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ or a DLPack capsule, "
                        f"got {type(ext_tensor).__name__}")
    dev = ext_tensor.__dlpack_device__() if hasattr(ext_tensor, "__dlpack_device__") else None
    if dev is not None and int(dev[0]) != _KDLCPU:
        raise RuntimeError(f"from_dlpack: the tensor is on DLPack device {tuple(dev)}; fastgrad "
                           "takes CPU memory only (kDLCPU = 1)")
    try:
        a = np.from_dlpack(ext_tensor)
    except (BufferError, TypeError, RuntimeError) as e:
        raise TypeError(f"from_dlpack: cannot import this tensor ({e})") from None
    return from_numpy(a)


def to_dlpack(tensor: Tensor) -> Any:
    """A DLPack capsule of ``tensor`` (legacy form of ``tensor.__dlpack__()``)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dlpack: expected a Tensor, got {type(tensor).__name__}")
    return tensor.__dlpack__()


Tensor.__dlpack__ = __dlpack__  # type: ignore[method-assign]
Tensor.__dlpack_device__ = __dlpack_device__  # type: ignore[method-assign]

__all__ = ["from_dlpack", "to_dlpack"]
