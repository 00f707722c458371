"""fastgrad.show_config(): the version, the GEMM kernel the run-time dispatch picked for this CPU,
the OpenMP thread count and the build flags (no -march=native unless asked for)."""

from __future__ import annotations

import io

import pytest

import fastgrad
from fastgrad import _backend
from fastgrad._config import config


def _shown() -> str:
    buf = io.StringIO()
    fastgrad.show_config(file=buf)
    return buf.getvalue()


def test_show_config_prints_version_and_backend(capsys: pytest.CaptureFixture[str]) -> None:
    fastgrad.show_config()
    out = capsys.readouterr().out
    assert out.startswith(f"fastgrad {fastgrad.__version__} (Python ")
    assert f"backend: {fastgrad.get_backend()}\n" in out


def _core_or_skip():  # type: ignore[no-untyped-def]
    if "cpp" not in _backend.available():
        pytest.skip(f"the C++ backend did not import: {_backend._core_error}")
    return _backend._BACKENDS["cpp"]


def test_gemm_kernel_is_the_best_level_this_cpu_has() -> None:
    _core_or_skip()
    ext = config()["extension"]
    levels = ext["cpu_levels"]
    best = "x86-64-v4" if "x86-64-v4" in levels else "x86-64-v3" if "x86-64-v3" in levels else None
    for key, dt in (("gemm_float32", "float32"), ("gemm_float64", "float64")):
        name = ext[key]
        assert dt in name
        if best is None:
            assert name.startswith("portable")
        else:
            assert name.startswith(best)
    assert f"GEMM kernel: {ext['gemm_float32']}; {ext['gemm_float64']}\n" in _shown()


def test_threads_shown_follow_set_num_threads() -> None:
    _core_or_skip()
    prev = fastgrad.get_num_threads()
    try:
        fastgrad.set_num_threads(3)
        assert config()["extension"]["threads"] == 3
        assert ", 3 thread(s)" in _shown()
    finally:
        fastgrad.set_num_threads(prev)


def test_build_flags_are_portable_unless_native_was_asked_for() -> None:
    _core_or_skip()
    ext = config()["extension"]
    flags = ext["flags"].split()
    assert ("-O1" if ext["sanitize"] else "-O3") in flags
    assert "-ffast-math" not in flags  # it would break isnan for the whole process
    assert ("-march=native" in flags) == ext["native"]
    assert not [f for f in flags if f.startswith(("-march=", "-mavx", "-mtune=native"))
                and f != "-march=native"]
    assert ("-fsanitize=address,undefined" in flags) == ext["sanitize"]
    assert f"build flags: {ext['flags']}\n" in _shown()
