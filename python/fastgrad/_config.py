"""``fastgrad.show_config()``: the version, the GEMM kernel this CPU runs, OpenMP threads and the
build flags of the C++ extension. Reports only; nothing here changes how fastgrad runs."""

from __future__ import annotations

import os
import platform
import sys
from typing import IO, Any

import numpy as np

from fastgrad import _backend
from fastgrad._version import __version__


def config() -> dict[str, Any]:
    """The facts ``show_config`` prints, as a dict (``extension`` is None without the C++ core)."""
    info: dict[str, Any] = {
        "version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "backend": _backend.get_backend(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "FASTGRAD_GEMM_LEVEL": os.environ.get("FASTGRAD_GEMM_LEVEL"),
        "extension": None,
        "extension_error": _backend._core_error,
    }
    core = _backend._BACKENDS.get("cpp")
    if core is not None:
        ext = dict(core.build_info())
        ext["threads"] = int(core.get_num_threads())
        ext["path"] = core.__file__
        info["extension"] = ext
    return info


def _openmp_name(date: int | None) -> str:
    versions = {201107: "3.1", 201307: "4.0", 201511: "4.5", 201811: "5.0", 202011: "5.1"}
    if date is None:
        return "not compiled in (one thread)"
    return f"OpenMP {versions.get(date, '?')} ({date})"


def show_config(file: IO[str] | None = None) -> None:
    """Print how fastgrad is built and what it runs on this machine.

    Example::

        >>> fastgrad.show_config()   # version, GEMM kernel, OpenMP threads, build flags
    """
    out = file if file is not None else sys.stdout
    c = config()
    lines = [
        f"fastgrad {c['version']} (Python {c['python']}, NumPy {c['numpy']}, {c['machine']})",
        f"backend: {c['backend']}",
    ]
    ext = c["extension"]
    if ext is None:
        lines.append(f"C++ extension: not available ({c['extension_error']})")
    else:
        levels = ", ".join(ext["cpu_levels"]) or "baseline only"
        lines += [
            f"C++ extension: {ext['path']}",
            f"GEMM kernel: {ext['gemm_float32']}; {ext['gemm_float64']}"
            + (f" (FASTGRAD_GEMM_LEVEL={c['FASTGRAD_GEMM_LEVEL']})"
               if c["FASTGRAD_GEMM_LEVEL"] else " (the best level this CPU has)"),
            f"CPU levels supported: {levels}",
            (f"OpenMP: {_openmp_name(ext['openmp'])}, {ext['threads']} thread(s)"
             f" (OMP_NUM_THREADS={c['OMP_NUM_THREADS'] or 'unset'})"),
            f"compiler: {ext['compiler']}, build type {ext['build_type']}",
            f"build flags: {ext['flags']}",
            f"built for this CPU only (-march=native): {'yes' if ext['native'] else 'no'}",
            f"sanitizers (ASan + UBSan): {'on' if ext['sanitize'] else 'off'}",
        ]
    print("\n".join(lines), file=out)
