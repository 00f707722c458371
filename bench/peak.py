"""The core's FMA peak beside the GEMMs: ``python bench/peak.py [--sizes 256 1024]``.

Compiles a small C loop of twelve independent FMA chains with the system C compiler (``cc``),
widest vectors the CPU has (AVX-512 or AVX2+FMA), runs it on one thread and prints the fp32 and
fp64 peak per core in GFLOP/s; then times one-thread GEMMs (fastgrad, NumPy's BLAS, PyTorch when
importable) at square sizes and prints each as a fraction of that peak. This is how the project
tells a GEMM goal that is beyond a machine (a ratio to NumPy that would need more than the peak)
from one that is not. Needs a C compiler; prints why not otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np

KERNEL = r"""
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
                          return t.tv_sec + 1e-9 * t.tv_nsec; }
#define CHAINS 12
#define PEAK(NAME, VEC, SET1, FMA, STORE, LANES)                                    \
  static double NAME(long iters) {                                                   \
    VEC a[CHAINS]; VEC b = SET1(1.0000001), c = SET1(1e-7);                          \
    for (int i = 0; i < CHAINS; ++i) a[i] = SET1((double)i);                         \
    double best = 1e30;                                                              \
    for (int r = 0; r < 7; ++r) {                                                    \
      double t = now();                                                              \
      for (long k = 0; k < iters; ++k) {                                             \
        _Pragma("GCC unroll 12")                                                     \
        for (int i = 0; i < CHAINS; ++i) a[i] = FMA(a[i], b, c);                     \
      }                                                                              \
      t = now() - t; if (t < best) best = t;                                         \
    }                                                                                \
    double out[16], sink = 0;                                                        \
    for (int i = 0; i < CHAINS; ++i) { STORE(out, a[i]); sink += out[0]; }    \
    if (sink == 1.5) printf(" ");                                                    \
    return (double)iters * CHAINS * LANES * 2 / best / 1e9;                          \
  }
#ifdef __AVX512F__
static void st32(void* p, __m512 v) { _mm512_storeu_ps((float*)p, v); }
static void st64(void* p, __m512d v) { _mm512_storeu_pd((double*)p, v); }
PEAK(peak32, __m512, _mm512_set1_ps, _mm512_fmadd_ps, st32, 16)
PEAK(peak64, __m512d, _mm512_set1_pd, _mm512_fmadd_pd, st64, 8)
#define ISA "AVX-512"
#else
static void st32(void* p, __m256 v) { _mm256_storeu_ps((float*)p, v); }
static void st64(void* p, __m256d v) { _mm256_storeu_pd((double*)p, v); }
PEAK(peak32, __m256, _mm256_set1_ps, _mm256_fmadd_ps, st32, 8)
PEAK(peak64, __m256d, _mm256_set1_pd, _mm256_fmadd_pd, st64, 4)
#define ISA "AVX2+FMA"
#endif
int main(void) { printf("%s %.1f %.1f\n", ISA, peak32(20000000), peak64(20000000)); return 0; }
"""


def fma_peak() -> tuple[str, float, float]:
    """(ISA, fp32 GFLOP/s, fp64 GFLOP/s) of one core, from the compiled FMA loop."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("bench/peak.py needs a C compiler (cc) to measure the FMA peak")
    info = Path("/proc/cpuinfo")
    flags = info.read_text().split() if info.exists() else []
    arch = ["-mavx512f"] if "avx512f" in flags else ["-mavx2", "-mfma"]
    with tempfile.TemporaryDirectory() as d:
        src, exe = Path(d) / "peak.c", Path(d) / "peak"
        src.write_text(KERNEL)
        subprocess.run([cc, "-O3", *arch, str(src), "-o", str(exe)], check=True)
        isa, p32, p64 = subprocess.run([str(exe)], check=True, capture_output=True,
                                       text=True).stdout.split()
    return isa, float(p32), float(p64)


def gemm_rate(a, b, reps: int = 7) -> float:
    """Best GFLOP/s of a @ b (n x n by n x n) over reps samples of at least 0.2 s each."""
    n = a.shape[0]
    a @ b
    t0 = time.perf_counter()
    a @ b
    inner = max(1, int(0.2 / max(time.perf_counter() - t0, 1e-6)))
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            a @ b
        best = min(best, (time.perf_counter() - t0) / inner)
    return 2.0 * n**3 / best / 1e9


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    args = p.parse_args(argv)
    import fastgrad as fg

    fg.set_num_threads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    isa, p32, p64 = fma_peak()
    rows = []
    rng = np.random.default_rng(0)
    for dt in ("float32", "float64"):
        for n in args.sizes:
            a, b = rng.standard_normal((n, n)).astype(dt), rng.standard_normal((n, n)).astype(dt)
            fa, fb = fg.from_numpy(a), fg.from_numpy(b)
            rates = {"fastgrad": gemm_rate(fa, fb), "numpy": gemm_rate(a, b)}
            if torch is not None:
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                rates["torch"] = gemm_rate(ta, tb)
            rows.append((dt, n, rates))
    _, q32, q64 = fma_peak()  # again after the GEMMs: the larger of the two is the peak
    p32, p64 = max(p32, q32), max(p64, q64)
    print(f"one core, {isa}: fp32 FMA peak {p32:.1f} GFLOP/s, fp64 {p64:.1f} (the better of two "
          f"measurements, before and after the GEMMs); load average {os.getloadavg()[0]:.1f}")
    print("| dtype | n | fastgrad | numpy | torch | fastgrad % peak | numpy % peak | "
          "1.1x numpy % peak |")
    print("|---|---|---|---|---|---|---|---|")
    for dt, n, rates in rows:
        peak = p32 if dt == "float32" else p64
        tr = f"{rates['torch']:.1f}" if "torch" in rates else "-"
        print(f"| {dt} | {n} | {rates['fastgrad']:.1f} | {rates['numpy']:.1f} | {tr} | "
              f"{100 * rates['fastgrad'] / peak:.0f}% | {100 * rates['numpy'] / peak:.0f}% | "
              f"{110 * rates['numpy'] / peak:.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
