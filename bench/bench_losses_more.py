"""Forward + backward time of the issue-14 losses (composites of Tensor ops) beside PyTorch's
fused kernels: BCEWithLogitsLoss, BCELoss, SmoothL1Loss, KLDivLoss(batchmean),
CosineEmbeddingLoss, TripletMarginLoss, at a training-batch size and a large one, float32.
One thread first (then --threads 2), fastgrad and PyTorch alternating; min and median of
--repeat runs and the ratio fastgrad / PyTorch of the medians. Not a test: nothing asserted.

Usage: OMP_NUM_THREADS=1 python bench/bench_losses_more.py [--threads 1] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import fastgrad
import numpy as np

SIZES = ((64, 10), (1024, 1000))


def cases(lib, rng, n, d):  # type: ignore[no-untyped-def]
    F = lib.nn.functional
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (rng.random((n, d)) < 0.5).astype(np.float32)
    p = 1 / (1 + np.exp(-x))
    t = lambda a, g=True: lib.tensor(a, requires_grad=g)
    lab = np.where(rng.random(n) < 0.5, 1.0, -1.0).astype(np.float32)
    return {
        "bce_with_logits": lambda: F.binary_cross_entropy_with_logits(t(x), t(y, False)),
        "bce": lambda: F.binary_cross_entropy(t(p), t(y, False)),
        "smooth_l1": lambda: F.smooth_l1_loss(t(x), t(y, False)),
        "kl_div_batchmean": lambda: F.kl_div(t(x), t(p, False), reduction="batchmean"),
        "cosine_embedding": lambda: F.cosine_embedding_loss(t(x), t(y), t(lab, False)),
        "triplet_margin": lambda: F.triplet_margin_loss(t(x), t(y), t(p)),
    }


def timeit(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn().backward()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=30)
    a = ap.parse_args()
    fastgrad.set_num_threads(a.threads)
    try:
        import torch

        torch.set_num_threads(a.threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"threads {a.threads}; machine shared with other jobs: figures are noisy")
    for n, d in SIZES:
        ours = cases(fastgrad, rng, n, d)
        theirs = cases(torch, rng, n, d) if torch else {}
        for name, fn in ours.items():
            tf, tt = [], []
            for _ in range(3):  # warm-up
                timeit(fn)
                if torch:
                    timeit(theirs[name])
            for _ in range(a.repeat):
                tf.append(timeit(fn))
                if torch:
                    tt.append(timeit(theirs[name]))
            line = (f"{name:18s} ({n}, {d}): fastgrad min {min(tf) * 1e3:8.3f} ms "
                    f"median {statistics.median(tf) * 1e3:8.3f} ms")
            if torch:
                ratio = statistics.median(tf) / statistics.median(tt)
                line += (f" | torch min {min(tt) * 1e3:8.3f} median "
                         f"{statistics.median(tt) * 1e3:8.3f} ms | ratio {ratio:5.2f}")
            print(line)


if __name__ == "__main__":
    main()
