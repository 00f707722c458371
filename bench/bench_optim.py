"""RMSprop, Adagrad and LBFGS training steps (forward + backward + step) on the 784-512-256-10
MLP, batch 128, float32, fastgrad (C++ backend) beside PyTorch from the same weights, timed
alternately; also the optimizer step alone. One thread, then two (each count in a fresh process
with OMP/OpenBLAS threads set). Prints min and median per call and the ratio fastgrad / PyTorch
(of medians). Not a test: nothing asserted (the first losses are printed side by side as a check).

Usage: python bench/bench_optim.py [--threads 1 2] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

LBFGS_KW = {"lr": 0.5, "max_iter": 5, "history_size": 10}


def build(lib: Any, weights: list[np.ndarray]) -> Any:
    m = lib.nn.Sequential(lib.nn.Linear(784, 512), lib.nn.ReLU(), lib.nn.Linear(512, 256),
                          lib.nn.ReLU(), lib.nn.Linear(256, 10))
    with lib.no_grad():
        for p, w in zip(m.parameters(), weights):
            p.copy_(lib.from_numpy(w))
    return m


def make_workload(lib: Any, name: str, weights: list[np.ndarray], x: Any,
                  y: Any) -> tuple[Callable[[], None], Callable[[], Any], Callable[[], str]]:
    """(setup, timed call, info) of one workload on a fresh model. LBFGS restarts from the same
    weights with a fresh optimizer before every call (untimed), so both libraries do the same
    work each time; the others keep training (a small lr)."""
    m = build(lib, weights)
    loss_fn = lib.nn.CrossEntropyLoss()
    if name.startswith("LBFGS"):
        ls = "strong_wolfe" if "strong_wolfe" in name else None
        box: dict[str, Any] = {}

        def setup() -> None:
            with lib.no_grad():
                for p, w in zip(m.parameters(), weights):
                    p.copy_(lib.from_numpy(w))
            box["opt"] = lib.optim.LBFGS(m.parameters(), line_search_fn=ls, **LBFGS_KW)

        def closure() -> Any:
            box["opt"].zero_grad()
            loss = loss_fn(m(x), y)
            loss.backward()
            return loss

        def info() -> str:
            st = box["opt"].state[next(iter(m.parameters()))]
            return f"func_evals {st['func_evals']}"

        return setup, lambda: box["opt"].step(closure), info
    if name.startswith("RMSprop"):
        kw = {"momentum": 0.9, "centered": True} if "centered" in name else {}
        opt = lib.optim.RMSprop(m.parameters(), lr=1e-5, **kw)
    else:
        opt = lib.optim.Adagrad(m.parameters(), lr=1e-4)
    loss_fn(m(x), y).backward()  # gradients for the "step only" rows
    if name.endswith("(step only)"):
        return (lambda: None), opt.step, lambda: ""

    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn(m(x), y)
        loss.backward()
        opt.step()
        return loss

    return (lambda: None), step, lambda: ""


NAMES = ["RMSprop", "RMSprop (step only)", "RMSprop centered momentum",
         "RMSprop centered momentum (step only)", "Adagrad", "Adagrad (step only)",
         "LBFGS max_iter=5 no line search", "LBFGS max_iter=5 strong_wolfe"]


def child(threads: int, repeats: int) -> None:
    import fastgrad as fg
    import torch

    fg.set_backend("cpp")
    fg.set_num_threads(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    shapes = [(512, 784), (512,), (256, 512), (256,), (10, 256), (10,)]
    weights = [(rng.standard_normal(s) * 0.05).astype(np.float32) for s in shapes]
    xs = rng.standard_normal((128, 784)).astype(np.float32)
    ys = rng.integers(0, 10, 128)
    data = {"fastgrad": (fg, fg.tensor(xs), fg.tensor(ys)),
            "torch": (torch, torch.from_numpy(xs), torch.from_numpy(ys))}
    print(f"threads={threads}  (machine shared with other agents: figures are noisy; "
          f"min is the steadier figure)")
    print(f"{'workload':40s} {'fastgrad min/med ms':>20s} {'torch min/med ms':>18s} "
          f"{'min ratio':>9s} {'med ratio':>9s}")
    for name in NAMES:
        w = {lib_name: make_workload(lib, name, weights, x, y)
             for lib_name, (lib, x, y) in data.items()}
        first = []
        for setup, fn, _ in w.values():  # warm-up; the losses side by side as a check
            setup()
            r = fn()
            first.append(float(r.detach()) if r is not None else 0.0)
        times: dict[str, list[float]] = {"fastgrad": [], "torch": []}
        for _ in range(repeats):
            for lib_name, (setup, fn, _) in w.items():
                setup()
                s = time.perf_counter()
                fn()
                times[lib_name].append(time.perf_counter() - s)
        tf, tt = times["fastgrad"], times["torch"]
        mf, mt = statistics.median(tf), statistics.median(tt)
        extra = "" if "step only" in name else f"  first loss {first[0]:.5f} / {first[1]:.5f}"
        if name.startswith("LBFGS"):
            extra += f"  {w['fastgrad'][2]()} / {w['torch'][2]()}"
        print(f"{name:40s} {min(tf)*1e3:9.2f} /{mf*1e3:8.2f} {min(tt)*1e3:8.2f} /{mt*1e3:8.2f}"
              f" {min(tf) / min(tt):9.2f} {mf / mt:9.2f}{extra}")
        sys.stdout.flush()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--child", type=int, default=None)
    a = p.parse_args()
    if a.child is not None:
        child(a.child, a.repeats)
        return
    for n in a.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        subprocess.run([sys.executable, __file__, "--child", str(n), "--repeats",
                        str(a.repeats)], env=env, check=True)


if __name__ == "__main__":
    main()
