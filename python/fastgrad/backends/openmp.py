"""fastgrad.backends.openmp: whether the C++ kernels were built with OpenMP."""

from __future__ import annotations


def is_available() -> bool:
    from fastgrad import _backend

    core = _backend._BACKENDS.get("cpp")
    return core is not None and dict(core.build_info()).get("openmp") is not None
