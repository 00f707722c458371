"""``fastgrad.utils``: helpers beside the tensor library, as torch.utils (so far: ``data``,
``dlpack``)."""

from __future__ import annotations

from fastgrad.utils import data, dlpack

__all__ = ["data", "dlpack"]
