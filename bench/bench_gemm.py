"""GEMM benchmark: fastgrad's matmul (C++ core) against NumPy and torch (if importable).

For each size n and dtype: checks fastgrad's n x n @ n x n product against NumPy once, then
times warmup + repeats of each library, interleaved so that a busy machine slows all of them
alike, and prints the median GFLOP/s of each, the ratios and the thread count. One thread by
default; the thread counts are fixed through environment variables before NumPy and torch load
(threadpoolctl is not installed).

    PYTHONPATH=build/dev-gemm/cmake python bench/bench_gemm.py
    PYTHONPATH=build/dev-gemm/cmake python bench/bench_gemm.py --sizes 1024 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7, help="timed calls per library (median)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with time.thread_time (1 thread only): ignores time spent descheduled on a "
        "busy machine",
    )
    return p.parse_args()


ARGS = parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread-count environment is set)

# For now the raw extension module is imported directly (PYTHONPATH=build/dev-NAME/cmake, as
# tools/dev_build.sh builds it); switch to `import fastgrad` once the package exposes matmul.
try:
    import _core  # noqa: E402
except ImportError:
    from fastgrad import _core  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(ARGS.threads)
except ImportError:
    torch = None


def fastgrad_matmul(a: np.ndarray, b: np.ndarray) -> Callable[[], object]:
    ha, hb = _core.from_numpy(a), _core.from_numpy(b)  # shares memory, no copy
    return lambda: _core.matmul(ha, hb)


def check(a: np.ndarray, b: np.ndarray) -> None:
    """Raises if fastgrad's product differs from NumPy's beyond rounding."""
    got = _core.to_numpy(_core.matmul(_core.from_numpy(a), _core.from_numpy(b)))
    want = a @ b
    rtol = 1e-5 if a.dtype == np.float32 else 1e-12
    atol = rtol * np.sqrt(a.shape[1]) * float(np.abs(want).max())
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        err = float(np.abs(got - want).max())
        raise SystemExit(f"bench_gemm: fastgrad differs from NumPy at {a.shape}: max error {err}")


def time_interleaved(fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved round by round."""
    clock = time.thread_time if ARGS.cpu_time else time.perf_counter
    for fn in fns.values():
        for _ in range(ARGS.warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(ARGS.repeats):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            samples[name].append(clock() - t0)
    return {name: statistics.median(ts) for name, ts in samples.items()}


def bench(n: int, dtype: str) -> str:
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    check(a, b)
    fns: dict[str, Callable[[], object]] = {
        "fastgrad": fastgrad_matmul(a, b),
        "numpy": lambda: a @ b,
    }
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch"] = lambda: ta @ tb
    secs = time_interleaved(fns)
    gflops = {name: 2.0 * n**3 / s / 1e9 for name, s in secs.items()}
    cols = "  ".join(f"{name} {g:6.1f}" for name, g in gflops.items())
    ratios = "  ".join(
        f"fastgrad/{name} {gflops['fastgrad'] / g:4.2f}" for name, g in gflops.items()
        if name != "fastgrad"
    )
    return f"n={n:5d} {dtype:7s}  GFLOP/s: {cols}  |  {ratios}  |  threads {ARGS.threads}"


def main() -> None:
    if ARGS.cpu_time and ARGS.threads != 1:
        raise SystemExit("bench_gemm: --cpu-time measures one thread; use it with --threads 1")
    _core.set_num_threads(ARGS.threads)
    clock = "time.thread_time" if ARGS.cpu_time else "time.perf_counter"
    torch_note = f"torch {torch.__version__}" if torch is not None else "torch not importable"
    print(f"# numpy {np.__version__}, {torch_note}; {clock}, median of {ARGS.repeats} "
          f"after {ARGS.warmup} warmup; load average {os.getloadavg()[0]:.1f}")
    for n in ARGS.sizes:
        for dtype in ARGS.dtypes:
            print(bench(n, dtype), flush=True)


if __name__ == "__main__":
    sys.exit(main())
