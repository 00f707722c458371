"""``fastgrad.serialization``: torch.serialization's names. ``save`` and ``load`` are
``fastgrad.save`` / ``fastgrad.load``; ``add_safe_globals`` and ``safe_globals`` allow the classes
(and functions) of a module saved whole, ``torch.save(model, f)``, to be rebuilt on loading.
Nothing else in a file is ever called."""

from __future__ import annotations

from fastgrad._serialization import load, save
from fastgrad._torch_format import (
    add_safe_globals,
    clear_safe_globals,
    get_safe_globals,
    safe_globals,
)

__all__ = ["add_safe_globals", "clear_safe_globals", "get_safe_globals", "load", "safe_globals",
           "save"]
