"""``fastgrad.utils``: helpers beside the tensor library, as torch.utils (so far: ``data``)."""

from __future__ import annotations

from fastgrad.utils import data

__all__ = ["data"]
