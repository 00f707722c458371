"""``fastgrad.utils``: helpers beside the tensor library, as torch.utils (so far: ``dlpack``)."""

from __future__ import annotations

from fastgrad.utils import dlpack

__all__ = ["dlpack"]
