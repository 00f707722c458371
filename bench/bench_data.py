"""One epoch of a DataLoader over an in-memory TensorDataset (MNIST-sized), fastgrad vs PyTorch.

Dataset: 60,000 x 784 float32 images and int64 labels; batch 64, shuffled, default collate.
Per repetition, alternating: fastgrad's DataLoader, PyTorch's (when installed) and the floor, a
NumPy permutation plus one fancy index per batch. Then the same with num_workers=2 (no goal).
Prints min / median seconds per epoch and the ratios. Not a test: nothing is asserted except
that fastgrad's sequential batches equal NumPy's slices.

Usage: python bench/bench_data.py [--reps 5] [--worker-reps 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import fastgrad
import numpy as np
from fastgrad.utils.data import DataLoader, TensorDataset

N, D, BATCH = 60_000, 784, 64


def epoch(loader) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    for xb, yb in loader:
        pass
    del xb, yb
    return time.perf_counter() - t


def numpy_epoch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    t = time.perf_counter()
    perm = rng.permutation(len(x))
    for i in range(0, len(x), BATCH):
        b = perm[i:i + BATCH]
        xb, yb = x[b], y[b]
    del xb, yb
    return time.perf_counter() - t


def report(name: str, times: list[float], ref: list[float] | None) -> None:
    line = f"{name:<34} min {min(times):7.3f} s   median {statistics.median(times):7.3f} s"
    if ref:
        line += f"   ratio to PyTorch (median) {statistics.median(times) / statistics.median(ref):5.2f}x"
    print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--worker-reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    fastgrad.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    x = rng.random((N, D), dtype=np.float32)
    y = rng.integers(0, 10, N)

    ds = TensorDataset(fastgrad.from_numpy(x), fastgrad.from_numpy(y))
    for i, (xb, yb) in enumerate(DataLoader(ds, batch_size=BATCH)):  # correctness, once
        assert np.array_equal(xb.numpy(), x[i * BATCH:(i + 1) * BATCH])
        assert np.array_equal(yb.numpy(), y[i * BATCH:(i + 1) * BATCH])

    try:
        import torch
        from torch.utils.data import DataLoader as TDataLoader
        from torch.utils.data import TensorDataset as TTensorDataset

        torch.set_num_threads(a.threads)
        tds = TTensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    except ImportError:
        torch = None

    print(f"epoch of {N} x {D} float32 + int64 labels, batch {BATCH}, shuffled; "
          f"{a.threads} thread(s); machine shared with other jobs")
    for workers, reps in ((0, a.reps), (2, a.worker_reps)):
        kw = {"num_workers": workers}
        fg_loader = DataLoader(ds, batch_size=BATCH, shuffle=True, **kw)
        t_loader = TDataLoader(tds, batch_size=BATCH, shuffle=True, **kw) if torch else None
        fg, th, npy = [], [], []
        for _ in range(reps):
            fg.append(epoch(fg_loader))
            if t_loader is not None:
                th.append(epoch(t_loader))
            if workers == 0:
                npy.append(numpy_epoch(x, y, rng))
        print(f"-- num_workers={workers}")
        report("fastgrad DataLoader", fg, th)
        if th:
            report("PyTorch DataLoader", th, th)
        if npy:
            report("NumPy permutation + fancy index", npy, th)


if __name__ == "__main__":
    main()
