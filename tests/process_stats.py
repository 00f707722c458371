"""What the memory tests read about their own process: resident memory, live tensors and graph
nodes, and the build kind."""

from __future__ import annotations

import gc
import os

import fastgrad
from fastgrad import _backend


def rss() -> int:
    """Resident set size of this process in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sanitized() -> bool:
    """True under tools/sanitize.sh: ASan keeps freed blocks in a quarantine (up to 256 MiB),
    so resident memory grows by design and only live-object counts mean anything."""
    ext = fastgrad._config.config()["extension"]
    return bool(ext and ext["sanitize"])


def live_objects(backend: str) -> tuple[int, int]:
    """(tensors, graph nodes) alive: C++ counters, or the reference backend's objects."""
    gc.collect()
    if backend == "cpp":
        return tuple(_backend._BACKENDS["cpp"].live_counts())
    from fastgrad.reference.tape import Node, RTensor

    kinds = [type(o) for o in gc.get_objects()]  # type(), not isinstance: no __class__ lookups
    return (sum(issubclass(k, RTensor) for k in kinds), sum(issubclass(k, Node) for k in kinds))
