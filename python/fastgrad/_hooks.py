"""RemovableHandle: what ``register_*hook`` returns; ``handle.remove()`` unregisters the hook.

Hooks live in an ordered dict keyed by a process-wide id, so removing one is O(1) and the others
keep their order.
"""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()


class RemovableHandle:
    """``h = t.register_hook(fn)``; later ``h.remove()``. Also a context manager that removes."""

    def __init__(self, hooks: dict[int, Any]) -> None:
        self.hooks = hooks
        self.id = next(_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


# --- h8-dist: callbacks at the end of a backward pass ----------------------------------------
# Tensor.backward and autograd.grad push a list on entry and, when the backend returns, run the
# callbacks queued during that pass (fastgrad.autograd.graph.queue_callback; DistributedDataParallel
# waits for its gradient all-reduces there). A pass that raises drops its callbacks.
_callback_stack: list[list[Any]] = []


def queue_callback(fn: Any) -> None:
    """Runs ``fn()`` once the backward pass now running has finished (only during backward)."""
    if not _callback_stack:
        raise RuntimeError("queue_callback: can only be called during a backward pass "
                           "(from a hook)")
    _callback_stack[-1].append(fn)


def queue_outer_callback(fn: Any) -> None:
    """Like queue_callback, but for the outermost backward pass now running: a backward run
    inside a backward (reentrant checkpoint) does not end it. DistributedDataParallel's wait."""
    if not _callback_stack:
        raise RuntimeError("queue_callback: can only be called during a backward pass "
                           "(from a hook)")
    _callback_stack[0].append(fn)


def outer_pass() -> object | None:
    """A token of the outermost backward pass now running (None outside backward)."""
    return _callback_stack[0] if _callback_stack else None


def run_with_callbacks(run: Any) -> Any:
    """``run()`` (a backward pass), then the callbacks it queued, in order; returns run()'s value."""
    queued: list[Any] = []
    _callback_stack.append(queued)
    try:
        out = run()
    finally:
        _callback_stack.pop()
    i = 0
    while i < len(queued):  # a callback may queue another (PyTorch runs those too)
        _callback_stack.append(queued)
        try:
            queued[i]()
        finally:
            _callback_stack.pop()
        i += 1
    return out
