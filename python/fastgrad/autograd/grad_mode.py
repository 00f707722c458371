"""Grad mode: ``no_grad`` and ``enable_grad`` (context managers and decorators).

Grad mode is per thread, as in PyTorch, and is switched on both backends at once.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from fastgrad import _backend

F = TypeVar("F", bound=Callable[..., Any])


def is_grad_enabled() -> bool:
    """Whether ops record the graph on this thread."""
    return bool(_backend.current.is_grad_enabled())


def _set(flag: bool) -> None:
    for b in _backend._BACKENDS.values():
        b.set_grad_enabled(flag)


def _get() -> list[bool]:
    # Each backend's own flag: a backend's engine switches only its own during backward (e.g. a
    # checkpoint's recomputation inside the C++ engine), so restore each one as it was.
    return [bool(b.is_grad_enabled()) for b in _backend._BACKENDS.values()]


def _restore(flags: list[bool]) -> None:
    for b, f in zip(_backend._BACKENDS.values(), flags):
        b.set_grad_enabled(f)


class _GradMode:
    _flag = True

    def __enter__(self) -> None:
        self._prev = _get()
        _set(self._flag)

    def __exit__(self, *exc: object) -> None:
        _restore(self._prev)

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradMode):
    """Ops inside record no graph: ``with fastgrad.no_grad(): w -= lr * w.grad``."""

    _flag = False


class enable_grad(_GradMode):
    """Turns recording back on inside a ``no_grad`` block."""

    _flag = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` as a call, a context manager or a decorator."""

    def __init__(self, mode: bool) -> None:
        self._flag = bool(mode)
        self._prev = _get()
        _set(self._flag)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _restore(self._prev)
