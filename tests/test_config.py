"""fastgrad.show_config(): the version, the GEMM kernel the run-time dispatch picked for this CPU,
the OpenMP thread count and the build flags (no -march=native unless asked for)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import fastgrad
import pytest
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
    best = "x86-64-v4" if "x86-64-v4" in levels else "x86-64-v3" if "x86-64-v3" in levels else \
        "portable"
    best = os.environ.get("FASTGRAD_GEMM_LEVEL") or best  # a lower level asked for by hand
    for key, dt in (("gemm_float32", "float32"), ("gemm_float64", "float64")):
        assert ext[key].startswith(best) and dt in ext[key]
    assert f"GEMM kernel: {ext['gemm_float32']}; {ext['gemm_float64']} (" in _shown()


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


LEVEL_SCRIPT = """
import numpy as np, fastgrad
from fastgrad._config import config
ext = config()["extension"]
rng = np.random.default_rng(0)
worst = 0.0
for dt in (np.float32, np.float64):
    # edge tiles, a transposed operand read in place, a batch, a product large enough for threads
    for sa, sb, ta in [((1, 1), (1, 1), False), ((7, 13), (13, 29), False),
                       ((300, 70), (300, 45), True), ((3, 17, 9), (9, 33), False),
                       ((520, 530), (530, 1100), False)]:
        a, b = rng.standard_normal(sa).astype(dt), rng.standard_normal(sb).astype(dt)
        x = fastgrad.tensor(a)
        got = ((x.T if ta else x) @ fastgrad.tensor(b)).numpy()
        want = (a.T if ta else a).astype(np.float64) @ b.astype(np.float64)
        worst = max(worst, float(np.abs(got - want).max() / (1 + np.abs(want).max())))
print(ext["gemm_float32"], "|", ext["gemm_float64"], "|", worst)
"""


def _run_level(level: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, FASTGRAD_GEMM_LEVEL=level, FASTGRAD_BACKEND="cpp")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(fastgrad.__file__).parent.parent),
                                         env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", LEVEL_SCRIPT], capture_output=True, text=True,
                          env=env, check=False, timeout=300)


def test_every_gemm_level_this_cpu_has_is_correct() -> None:
    # The wheel ships all levels; FASTGRAD_GEMM_LEVEL runs the lower ones on this machine.
    _core_or_skip()
    levels = [lv for lv in ("x86-64-v4", "x86-64-v3") if lv in config()["extension"]["cpu_levels"]]
    for level in levels + ["portable"]:
        r = _run_level(level)
        assert r.returncode == 0, r.stderr
        f32, f64, worst = (s.strip() for s in r.stdout.split("|"))
        assert f32.startswith(level) and "float32" in f32 and f64.startswith(level), r.stdout
        assert float(worst) < 1e-5, f"{level}: relative error {worst}"


def test_unknown_gemm_level_is_an_error() -> None:
    _core_or_skip()
    r = _run_level("avx9000")
    assert r.returncode != 0
    assert "ValueError: FASTGRAD_GEMM_LEVEL=avx9000: expected x86-64-v4, x86-64-v3 or portable" \
        in r.stderr


def test_openmp_threads_sleep_when_idle_unless_the_user_says_otherwise() -> None:
    """fastgrad sets OMP_WAIT_POLICY=PASSIVE before OpenMP loads, keeping a value already set."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(fastgrad.__file__).parent.parent),
                                         env.get("PYTHONPATH", "")])
    code = "import os, fastgrad; print(os.environ['OMP_WAIT_POLICY'])"
    env.pop("OMP_WAIT_POLICY", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "PASSIVE", out.stderr
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "ACTIVE", out.stderr
