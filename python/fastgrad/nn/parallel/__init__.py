"""fastgrad.nn.parallel: DistributedDataParallel (data parallelism over fastgrad.distributed)."""

from __future__ import annotations

from fastgrad.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
