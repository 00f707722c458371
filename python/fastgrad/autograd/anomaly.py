"""Anomaly mode: ``detect_anomaly()`` makes backward raise at the first op whose backward produces
NaN or inf, naming the op and the forward line that created it.

While it is on, every new graph node records the Python call site of its forward op (a few frames
outside the fastgrad package): a per-op cost paid only in anomaly mode. Example::

    with fastgrad.autograd.detect_anomaly():
        y = x.sqrt()          # x == 0: the backward of sqrt is inf
        y.sum().backward()    # RuntimeError: ... 'SqrtBackward' ... y = x.sqrt()
"""

from __future__ import annotations

import functools
import linecache
import os
import sys
from typing import Any, Callable, TypeVar

from fastgrad import _backend

F = TypeVar("F", bound=Callable[..., Any])

_here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE_DIRS = tuple({_here + os.sep, os.path.realpath(_here) + os.sep})


def creation_trace(depth: int = 4) -> str:
    """The innermost ``depth`` frames of the caller outside fastgrad, as traceback lines."""
    frames = []
    f = sys._getframe(1)
    while f is not None and len(frames) < depth:
        name = f.f_code.co_filename
        if not name.startswith(_PACKAGE_DIRS):
            line = linecache.getline(name, f.f_lineno).strip()
            frames.append(f'  File "{name}", line {f.f_lineno}, in {f.f_code.co_name}\n    {line}')
        f = f.f_back
    return "\n".join(reversed(frames))  # most recent call last


# The backends sit below this module: they call back through this registration, never import it.
for _b in _backend._BACKENDS.values():
    _b.set_creation_trace_fn(creation_trace)


def is_anomaly_enabled() -> bool:
    """Whether anomaly mode is on for this thread."""
    return bool(_backend.current.is_anomaly_enabled())


def _set(flag: bool) -> None:
    for b in _backend._BACKENDS.values():
        b.set_anomaly_enabled(flag)


class detect_anomaly:
    """Context manager (and decorator) turning anomaly mode on; ``check_nan=False`` turns it off."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = bool(check_nan)

    def __enter__(self) -> None:
        self._prev = is_anomaly_enabled()
        _set(self.check_nan)

    def __exit__(self, *exc: object) -> None:
        _set(self._prev)

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class set_detect_anomaly(detect_anomaly):
    """``set_detect_anomaly(True)`` as a call (sets the mode now) or as a context manager."""

    def __init__(self, mode: bool) -> None:
        super().__init__(mode)
        self._prev = is_anomaly_enabled()
        _set(self.check_nan)

    def __enter__(self) -> None:
        pass
