"""The blocked, packed GEMM of the C++ backend against its naive twin (one dot product per
element) on odd sizes, sizes past the cache blocks, transposed (strided) operands, beta = 1
accumulation, float32 and float64; and bitwise the same for any thread count."""

from __future__ import annotations

import fastgrad
import numpy as np
import pytest
from fastgrad import _backend

pytestmark = pytest.mark.skipif("cpp" not in _backend.available(),
                                reason="the GEMM kernels are the C++ backend's")

SIZES = [(1, 1, 1), (7, 1, 3), (1, 7, 33), (7, 33, 5), (33, 7, 257), (257, 33, 7),
         (13, 600, 29), (530, 17, 300), (70, 70, 1100)]


def run(kind: bool, a: np.ndarray, b: np.ndarray, c0: np.ndarray, beta: float,
        ta: bool, tb: bool) -> np.ndarray:
    from fastgrad import _core

    # A transposed operand is passed as the transpose view of a contiguous array: cs != 1.
    fa = fastgrad.from_numpy(np.ascontiguousarray(a.T)).T if ta else fastgrad.from_numpy(a)
    fb = fastgrad.from_numpy(np.ascontiguousarray(b.T)).T if tb else fastgrad.from_numpy(b)
    c = c0.copy()
    _core._gemm(fa._impl, fb._impl, fastgrad.from_numpy(c)._impl, beta, kind)
    return c


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SIZES)
def test_blocked_matches_naive(dtype: type, m: int, k: int, n: int) -> None:
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    eps = np.finfo(dtype).eps
    for ta, tb, beta in ((False, False, 0.0), (True, False, 1.0), (False, True, 0.0),
                         (True, True, 1.0)):
        got = run(False, a, b, c0, beta, ta, tb)
        want = run(True, a, b, c0, beta, ta, tb)
        exact = a.astype(np.float64) @ b.astype(np.float64) + beta * c0
        bound = 4 * k * eps * (np.abs(a) @ np.abs(b) + beta * np.abs(c0)) + 1e-30
        assert (np.abs(got - exact) <= bound).all(), (ta, tb, beta)
        assert (np.abs(want - exact) <= bound).all(), (ta, tb, beta)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SIZES + [(6, 19, 64), (12, 37, 130), (64, 16, 128)])
def test_layouts_pack_to_the_same_panels(dtype: type, m: int, k: int, n: int) -> None:
    """Packing is a copy: transposed operands (the register-transpose path for column-major B,
    its k tails, edge panels) give bitwise the product of contiguous ones."""
    rng = np.random.default_rng(m + 7 * k + 31 * n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c0 = np.zeros((m, n), dtype)
    want = run(False, a, b, c0, 0.0, False, False)
    for ta, tb in ((False, True), (True, False), (True, True)):
        np.testing.assert_array_equal(run(False, a, b, c0, 0.0, ta, tb), want, err_msg=str((ta, tb)))


def test_beta_zero_never_reads_c() -> None:
    a = np.ones((5, 3), np.float32)
    b = np.ones((3, 4), np.float32)
    c0 = np.full((5, 4), np.nan, np.float32)
    for naive in (False, True):
        np.testing.assert_array_equal(run(naive, a, b, c0, 0.0, False, False), np.full((5, 4), 3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_for_any_thread_count(dtype: type) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 520)).astype(dtype)
    b = rng.standard_normal((520, 270)).astype(dtype)
    prev = fastgrad.get_num_threads()
    outs = []
    try:
        for t in (1, 2, 3):
            fastgrad.set_num_threads(t)
            outs.append(run(False, a, b, np.zeros((300, 270), dtype), 0.0, True, False))
    finally:
        fastgrad.set_num_threads(prev)
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


def test_kernel_name_names_the_instruction_set() -> None:
    from fastgrad import _core

    for is_double in (False, True):
        name = _core._gemm_kernel_name(is_double)
        assert name.split()[0] in ("x86-64-v4", "x86-64-v3", "portable"), name
