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
