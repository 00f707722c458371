"""fastgrad.cuda: PyTorch's torch.cuda answers for a library without CUDA: nothing is available,
there are no devices, seeding is a no-op (as PyTorch allows without CUDA), and everything that
needs a GPU raises a RuntimeError saying fastgrad runs on CPUs only.
"""

from __future__ import annotations

from typing import Any

from fastgrad._device import cuda_error


def is_available() -> bool:
    """False: fastgrad runs on CPUs only."""
    return False


def device_count() -> int:
    """0: no CUDA devices."""
    return 0


def is_initialized() -> bool:
    return False


def manual_seed(seed: int) -> None:
    """A no-op without CUDA (as in PyTorch); ``fastgrad.manual_seed`` seeds the CPU generator."""


def manual_seed_all(seed: int) -> None:
    """A no-op without CUDA (as in PyTorch)."""


def seed() -> None:
    """A no-op without CUDA."""


def seed_all() -> None:
    """A no-op without CUDA."""


def empty_cache() -> None:
    """A no-op: there is no CUDA cache."""


def synchronize(device: Any = None) -> None:
    raise cuda_error(device)


def current_device() -> int:
    raise cuda_error()


def set_device(device: Any) -> None:
    raise cuda_error(device)


def get_device_name(device: Any = None) -> str:
    raise cuda_error(device)


__all__ = ["current_device", "device_count", "empty_cache", "get_device_name", "is_available",
           "is_initialized", "manual_seed", "manual_seed_all", "seed", "seed_all", "set_device",
           "synchronize"]
