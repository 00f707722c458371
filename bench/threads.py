"""fastgrad on one thread against two, side by side: ``python bench/threads.py [--busy]``.

The suite (bench/run.py) runs each thread count in its own process, with NumPy's and PyTorch's
thread pools in it; on a host whose speed drifts over minutes, and with those pools still spinning
after their own calls, its 1-thread and 2-thread rows of fastgrad are not a fair comparison of
the two. Here fastgrad runs alone in one process and ``set_num_threads`` switches between 1 and 2
before every sample, so both counts see the same moment of the host. ``--busy`` keeps the other
core busy with a CPU-bound process the whole time. Prints a table and writes JSON.

    python bench/threads.py
    python bench/threads.py --busy --out /tmp/threads
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import fastgrad as fg
import numpy as np
from fastgrad.nn import functional as F

HERE = Path(__file__).resolve().parent
MIN_SAMPLE = 0.05  # seconds per sample


def mlp_step(batch: int) -> Callable[[], Any]:
    fg.manual_seed(0)
    model = fg.nn.Sequential(fg.nn.Linear(784, 512), fg.nn.ReLU(), fg.nn.Linear(512, 256),
                             fg.nn.ReLU(), fg.nn.Linear(256, 10))
    opt = fg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(1)
    x = fg.tensor(rng.standard_normal((batch, 784)).astype(np.float32))
    y = fg.tensor(rng.integers(0, 10, batch))

    def step() -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def grad_of(shape: tuple[int, ...], f: Callable[[Any], Any]) -> Callable[[], Any]:
    rng = np.random.default_rng(0)
    x = fg.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    g = fg.tensor(rng.standard_normal(f(x.detach()).shape).astype(np.float32))

    def run() -> Any:
        x.grad = None
        f(x).backward(g)
        return x.grad

    return run


def matmul(n: int, d: int, m: int) -> Callable[[], Any]:
    rng = np.random.default_rng(0)
    x = fg.tensor(rng.standard_normal((n, d)).astype(np.float32), requires_grad=True)
    w = fg.tensor(rng.standard_normal((d, m)).astype(np.float32), requires_grad=True)
    g = fg.tensor(rng.standard_normal((n, m)).astype(np.float32))

    def run() -> Any:
        x.grad = w.grad = None
        (x @ w).backward(g)
        return w.grad

    return run


def chain(n: int, shape: tuple[int, ...]) -> Callable[[], Any]:
    w = fg.full(shape, 1.0000001, dtype=fg.float64)

    def f(x: Any) -> Any:
        for _ in range(n):
            x = x * w
        return x.sum()

    def run() -> Any:
        x = fg.ones(shape, dtype=fg.float64, requires_grad=True)
        f(x).backward()
        return x.grad

    return run


def gemm(n: int) -> Callable[[], Any]:
    rng = np.random.default_rng(n)
    a = fg.tensor(rng.standard_normal((n, n)).astype(np.float32))
    b = fg.tensor(rng.standard_normal((n, n)).astype(np.float32))
    return lambda: a @ b


LABELS = fg.tensor(np.random.default_rng(0).integers(0, 1000, 512))

# name, unit, per-call scale (seconds -> unit), the call
CASES: list[tuple[str, str, float, Callable[[], Callable[[], Any]]]] = [
    ("gemm n=256 float32", "ms", 1e3, lambda: gemm(256)),
    ("gemm n=1024 float32", "ms", 1e3, lambda: gemm(1024)),
    ("matmul fwd+bwd (256,1024)@(1024,1024)", "ms", 1e3, lambda: matmul(256, 1024, 1024)),
    ("matmul fwd+bwd (128,784)@(784,512)", "ms", 1e3, lambda: matmul(128, 784, 512)),
    ("MLP 784-512-256-10 SGD step, batch 32", "ms", 1e3, lambda: mlp_step(32)),
    ("MLP 784-512-256-10 SGD step, batch 128", "ms", 1e3, lambda: mlp_step(128)),
    ("MLP 784-512-256-10 SGD step, batch 512", "ms", 1e3, lambda: mlp_step(512)),
    ("100-op chain of 16x16 mul, per op", "us", 1e6 / 100, lambda: chain(100, (16, 16))),
    ("relu fwd+bwd on 1e7 floats", "ms", 1e3, lambda: grad_of((10**7,), lambda x: x.relu())),
    ("sigmoid fwd+bwd on 1e7 floats", "ms", 1e3,
     lambda: grad_of((10**7,), lambda x: x.sigmoid())),
    ("softmax cross-entropy (512,1000) value+grad", "ms", 1e3,
     lambda: grad_of((512, 1000), lambda z: F.cross_entropy(z, LABELS))),
    ("1e6-step chain of 0-d mul, per op", "us", 1e6 / 10**6, lambda: chain(10**6, ())),
]


def compare(fn: Callable[[], Any], rounds: int) -> dict[int, float]:
    """Median seconds per call at 1 and 2 threads, the counts alternating sample by sample."""
    for t in (1, 2):
        fg.set_num_threads(t)
        fn()
    t0 = time.perf_counter()
    fn()
    reps = max(1, round(MIN_SAMPLE / max(time.perf_counter() - t0, 1e-9)))
    samples: dict[int, list[float]] = {1: [], 2: []}
    for r in range(rounds):
        for t in ((1, 2) if r % 2 == 0 else (2, 1)):
            fg.set_num_threads(t)
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            samples[t].append((time.perf_counter() - t0) / reps)
    return {t: statistics.median(v) for t, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--busy", action="store_true", help="keep the other core busy meanwhile")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    fg.set_backend("cpp")
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    rows = []
    try:
        for name, unit, scale, make in CASES:
            secs = compare(make(), args.rounds if "1e6" not in name else 3)
            rows.append({"name": name, "unit": unit, "busy": args.busy,
                         "1 thread": secs[1] * scale, "2 threads": secs[2] * scale})
            print(f"# {name}", file=sys.stderr, flush=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    busy = ", other core busy" if args.busy else ""
    print(f"| benchmark{busy} | unit | 1 thread | 2 threads | 2 threads / 1 thread |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['unit']} | {r['1 thread']:.3g} | {r['2 threads']:.3g} | "
              f"{r['2 threads'] / r['1 thread']:.2f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("threads_busy.json" if args.busy else "threads.json")
    path.write_text(json.dumps(rows, indent=1))
    print(f"\nfastgrad alone, 1 and 2 threads alternating sample by sample (median of "
          f"{args.rounds} samples each). JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
