"""fastgrad.backends.cudnn: no cuDNN; the flags scripts set (benchmark, deterministic, enabled,
allow_tf32) are plain attributes that change nothing."""

from __future__ import annotations

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version() -> None:
    return None
