"""The device surface of a CPU-only library: ``fastgrad.device``, the default device and dtype,
and the argument parsing behind ``Tensor.to`` / ``Module.to`` and every ``device=`` argument.

fastgrad computes on CPUs only: a ``device`` object may name any PyTorch device type (as
``torch.device("cuda")`` works on a CPU-only PyTorch), but placing anything on a device other
than the CPU raises a RuntimeError that names the requested device.
"""

from __future__ import annotations

from typing import Any

from fastgrad._dtype import as_dtype, dtype, float32, float64

_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hpu", "mtia", "ipu", "vulkan", "opengl",
          "opencl", "mkldnn", "ideep", "fpga", "maia", "lazy", "ve", "privateuseone")


class device:
    """A device: ``device("cpu")``, ``device("cpu", 0)``, ``device("cpu:0")``; ``.type`` and
    ``.index`` (None unless given). Equal to another device of the same type and index.

    Example: ``x.to(fastgrad.device("cpu"))``; ``fastgrad.device("cuda")`` can be built but not
    used (fastgrad runs on CPUs only).
    """

    __slots__ = ("_index", "_type")

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device: an index cannot be given with a device object")
            self._type, self._index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):  # PyTorch: an ordinal is CUDA
            if type < 0 or index is not None:
                raise RuntimeError(f"device: invalid device ordinal {type}")
            self._type, self._index = "cuda", int(type)
            return
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string or a device, got "
                            f"{builtin_type(type).__name__}")
        s = type.strip()
        name, sep, idx = s.partition(":")
        if name not in _TYPES:
            raise RuntimeError(f"device: expected one of {', '.join(_TYPES)} device type at the "
                               f"start of the device string: {type!r}")
        parsed: int | None = None
        if sep:
            if index is not None:
                raise RuntimeError(f"device: type {type!r} already has an index; index={index} "
                                   "cannot be given too")
            if not idx.isdigit():
                raise RuntimeError(f"device: invalid device string: {type!r}")
            parsed = int(idx)
        elif index is not None:
            parsed = int(index)
            if parsed < 0:
                raise RuntimeError(f"device: the index must be non-negative, got {index}")
        self._type, self._index = name, parsed

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, device) and self._type == other._type
                and self._index == other._index)

    def __hash__(self) -> int:
        return hash((self._type, self._index))

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type={self._type!r})"
        return f"device(type={self._type!r}, index={self._index})"

    def __reduce__(self) -> tuple:
        return (device, (self._type, self._index))

    def __enter__(self) -> device:  # noqa: PYI034
        _check(self, "device")
        return self

    def __exit__(self, *exc: object) -> None:
        return None


builtin_type = type
CPU = device("cpu")


def _cpu_only(name: str) -> str:
    return (f"fastgrad runs on CPUs only: device {name!r} was requested; use 'cpu' (or drop the "
            "device argument)")


def _check(d: Any, op: str = "device") -> device:
    """``d`` (None, a string, a device or a CUDA ordinal) as the CPU device, or a RuntimeError
    naming the requested device."""
    if d is None:
        return CPU
    if isinstance(d, device):
        dv = d
    elif isinstance(d, str) or isinstance(d, int) and not isinstance(d, bool):
        dv = device(d)
    else:
        raise TypeError(f"{op}: expected a device (a string such as 'cpu' or a fastgrad.device), "
                        f"got {builtin_type(d).__name__}")
    if dv.type != "cpu":
        raise RuntimeError(f"{op}: " + _cpu_only(str(dv)))
    return dv


def cuda_error(index: Any = None) -> RuntimeError:
    """The error of ``.cuda()`` calls (``index`` as given to them)."""
    name = "cuda" if index is None else (f"cuda:{index}" if isinstance(index, int) else str(index))
    return RuntimeError("cuda: " + _cpu_only(name))


def check_device(d: Any, op: str = "device") -> None:
    """Raises unless ``d`` (a ``device=`` argument) is None or names the CPU."""
    if d is not None and not (isinstance(d, str) and d == "cpu"):
        _check(d, op)


# --- defaults --------------------------------------------------------------------------------
_default_dtype: dtype = float32


def set_default_dtype(d: Any) -> None:
    """The dtype of Python floats in ``tensor()``, of floating creation functions without a dtype,
    and of layer parameters: float32 (the default) or float64.

    Example: ``fastgrad.set_default_dtype(fastgrad.float64)``.
    """
    global _default_dtype
    dt = as_dtype(d)
    if dt not in (float32, float64):
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the "
                        f"default type, got {dt.name} (fastgrad has float32 and float64)")
    _default_dtype = dt


def get_default_dtype() -> dtype:
    """The default floating-point dtype (float32 unless set_default_dtype changed it)."""
    return _default_dtype


def set_default_device(d: Any) -> None:
    """Accepts the CPU (or None); any other device raises, since fastgrad runs on CPUs only."""
    if d is not None:
        _check(d, "set_default_device")


def get_default_device() -> device:
    """Always ``device(type='cpu')``."""
    return CPU


def factory_kwargs(device: Any = None, dtype: Any = None, op: str = "layer") -> dict[str, Any]:
    """The ``device=None, dtype=None`` pair of a layer constructor, checked (a non-CPU device
    raises naming ``op``) and resolved: ``{"dtype": <dtype>}`` with the default dtype for None.
    Pass it on to the creation functions: ``empty(out, in, **factory_kwargs(device, dtype,
    "Linear"))``."""
    check_device(device, op)
    return {"dtype": _default_dtype if dtype is None else as_dtype(dtype)}


# --- argument parsing for Tensor.to / Module.to ----------------------------------------------
def _is_device_like(a: Any) -> bool:
    return isinstance(a, device) or (isinstance(a, str) and a.partition(":")[0] in _TYPES) or (
        isinstance(a, int) and not isinstance(a, bool))


def parse_to(op: str, args: tuple, kwargs: dict, tensor_type: type) -> tuple[dtype | None, bool]:
    """PyTorch's overloads of ``to``: ``to(dtype)``, ``to(device, dtype=None)``, ``to(tensor)``
    (an instance of ``tensor_type``), with keywords ``device dtype non_blocking copy
    memory_format``. Returns (dtype or None, copy) after checking that the device is the CPU."""
    kw = dict(kwargs)
    allowed = {"device", "dtype", "non_blocking", "copy", "memory_format"}
    bad = set(kw) - allowed
    if bad:
        raise TypeError(f"{op}: unexpected keyword argument {min(bad)!r}")
    dev, dt = kw.pop("device", None), kw.pop("dtype", None)
    copy = bool(kw.pop("copy", False))
    rest = list(args)
    if rest and isinstance(rest[0], tensor_type):
        other = rest.pop(0)
        if dt is None:
            dt = other.dtype
    elif rest and _is_device_like(rest[0]):
        if dev is not None:
            raise TypeError(f"{op}: the device was given twice")
        dev = rest.pop(0)
    if rest and dt is None and not isinstance(rest[0], bool):
        dt = rest.pop(0)
    if rest:  # positional non_blocking, copy
        rest.pop(0)
    if rest:
        copy = bool(rest.pop(0))
    if rest:
        raise TypeError(f"{op}: too many arguments: {args!r}")
    check_device(dev, op)
    return (None if dt is None else as_dtype(dt)), copy


def map_location_check(map_location: Any) -> Any:
    """fastgrad.load's ``map_location``: None, "cpu", a CPU device, a dict whose targets are the
    CPU, or a callable (returned, to be applied to each loaded tensor). Anything mapping to
    another device raises."""
    if map_location is None or callable(map_location) and not isinstance(map_location, device):
        return map_location
    if isinstance(map_location, dict):
        for target in map_location.values():
            _check(target, "load: map_location")
        return None
    _check(map_location, "load: map_location")
    return None


__all__ = ["device", "factory_kwargs", "get_default_device", "get_default_dtype",
           "set_default_device", "set_default_dtype"]
