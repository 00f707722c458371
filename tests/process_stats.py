"""What the memory tests read about their own process: resident memory and the build kind."""

from __future__ import annotations

import os

import fastgrad


def rss() -> int:
    """Resident set size of this process in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sanitized() -> bool:
    """True under tools/sanitize.sh: ASan keeps freed blocks in a quarantine (up to 256 MiB),
    so resident memory grows by design and only live-object counts mean anything."""
    ext = fastgrad._config.config()["extension"]
    return bool(ext and ext["sanitize"])
