"""fastgrad.backends.mkldnn: fastgrad uses its own CPU kernels, not oneDNN."""

from __future__ import annotations

enabled = False


def is_available() -> bool:
    return False
