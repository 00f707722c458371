"""fastgrad.accelerator: PyTorch's torch.accelerator for a CPU-only library: no accelerator."""

from __future__ import annotations

from typing import Any


def is_available() -> bool:
    """False: fastgrad runs on CPUs only."""
    return False


def current_accelerator(check_available: bool = False) -> Any:
    """None: there is no accelerator."""
    return None


def device_count() -> int:
    """0."""
    return 0


__all__ = ["current_accelerator", "device_count", "is_available"]
