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


def workloads(lib: Any, m: Any, x: Any, y: Any) -> dict[str, Callable[[], Any]]:
    loss_fn = lib.nn.CrossEntropyLoss()
    out = {}
    for name, make in (("RMSprop", lambda: lib.optim.RMSprop(m.parameters(), lr=1e-4)),
                       ("RMSprop-centered-momentum",
                        lambda: lib.optim.RMSprop(m.parameters(), lr=1e-4, momentum=0.9,
                                                  centered=True)),
                       ("Adagrad", lambda: lib.optim.Adagrad(m.parameters(), lr=1e-3))):
        opt = make()

        def step(opt: Any = opt) -> Any:
            opt.zero_grad()
            loss = loss_fn(m(x), y)
            loss.backward()
            opt.step()
            return loss

        out[name] = step
        out[name + " (step only)"] = opt.step
    for ls in (None, "strong_wolfe"):
        opt = lib.optim.LBFGS(m.parameters(), line_search_fn=ls, **LBFGS_KW)

        def closure(opt: Any = opt) -> Any:
            opt.zero_grad()
            loss = loss_fn(m(x), y)
            loss.backward()
            return loss

        out[f"LBFGS max_iter=5 {ls or 'no line search'}"] = \
            lambda opt=opt, closure=closure: opt.step(closure)
    return out


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
    libs = {"fastgrad": (fg, fg.tensor(xs), fg.tensor(ys)),
            "torch": (torch, torch.from_numpy(xs), torch.from_numpy(ys))}
    fns = {}
    for lib_name, (lib, x, y) in libs.items():
        m = build(lib, weights)
        loss_fn = lib.nn.CrossEntropyLoss()
        loss_fn(m(x), y).backward()  # grads exist for the "step only" rows
        fns[lib_name] = workloads(lib, m, x, y)
    print(f"threads={threads}  (machine shared with other agents: figures are noisy)")
    print(f"{'workload':42s} {'fastgrad min/med ms':>20s} {'torch min/med ms':>18s} {'ratio':>6s}")
    for name in fns["fastgrad"]:
        f, t = fns["fastgrad"][name], fns["torch"][name]
        first = (float(f() or 0.0), float(t() or 0.0))  # warm-up, and the losses side by side
        tf, tt = [], []
        for _ in range(repeats):
            s = time.perf_counter()
            f()
            tf.append(time.perf_counter() - s)
            s = time.perf_counter()
            t()
            tt.append(time.perf_counter() - s)
        mf, mt = statistics.median(tf), statistics.median(tt)
        extra = "" if "step only" in name else f"  first loss {first[0]:.5f} / {first[1]:.5f}"
        print(f"{name:42s} {min(tf)*1e3:9.2f} /{mf*1e3:8.2f} {min(tt)*1e3:8.2f} /{mt*1e3:8.2f}"
              f" {mf / mt:6.2f}{extra}")
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
