"""``fastgrad.utils.dlpack``: ``from_dlpack`` and ``to_dlpack``, as torch.utils.dlpack."""

from __future__ import annotations

from fastgrad._dlpack import from_dlpack, to_dlpack

__all__ = ["from_dlpack", "to_dlpack"]
