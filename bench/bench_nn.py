"""The demo's training step three ways, side by side: ``python bench/bench_nn.py`` (issue 19).

The model of ``python -m fastgrad.demo`` (MLP 64-128-10, ReLU, batch 32, float32, softmax
cross-entropy, SGD lr 0.02 momentum 0.9) trained on the same batches from the same weights:
- nn: exactly the demo's loop (nn.Sequential, nn.CrossEntropyLoss, optim.SGD, from_numpy batches);
- raw: the same math with raw tensor ops (``x @ w.T + b``, ``relu``, the functional
  ``F.cross_entropy``, the momentum update written by hand with in-place ops under no_grad);
- numpy: the demo's hand-written NumPy step (fastgrad.demo.NumpyMLP.step).
The three alternate round by round (a busy machine slows all alike); the median per-step time of
the rounds is reported, with the ratios nn/raw and nn/numpy. Each thread count runs in its own
process (NumPy's BLAS threads are fixed before NumPy loads). Not a test: no assertions on time.

    python bench/bench_nn.py                       # 1 then 2 threads
    python bench/bench_nn.py --threads 1 --rounds 30
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

N_TRAIN, N_IN, N_HIDDEN, N_OUT, BATCH, LR, MOMENTUM = 1437, 64, 128, 10, 32, 0.02, 0.9


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=21, help="alternating rounds (21)")
    p.add_argument("--steps", type=int, default=200, help="steps per round and way (200)")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def make_steps(seed: int = 0) -> dict[str, Callable[[Any], Any]]:
    """The three step functions, each over its own copy of the same initial weights."""
    import fastgrad as fg
    import numpy as np
    from fastgrad import nn, optim
    from fastgrad.demo import NumpyMLP
    from fastgrad.nn import functional as F

    fg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_TRAIN, N_IN)).astype(np.float32)
    y = rng.integers(0, N_OUT, N_TRAIN)
    model = nn.Sequential(nn.Linear(N_IN, N_HIDDEN), nn.ReLU(), nn.Linear(N_HIDDEN, N_OUT))
    init = {k: np.array(v) for k, v in model.state_dict().items()}
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def nn_step(idx: Any) -> Any:  # the demo's loop body
        xb, yb = fg.from_numpy(x[idx]), fg.from_numpy(y[idx])
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    names = ("0.weight", "0.bias", "2.weight", "2.bias")
    params = [fg.tensor(init[k], requires_grad=True) for k in names]
    bufs: list[Any] = [None] * 4

    def raw_step(idx: Any) -> Any:
        w1, b1, w2, b2 = params
        xb, yb = fg.from_numpy(x[idx]), fg.from_numpy(y[idx])
        out = (xb @ w1.T + b1).relu() @ w2.T + b2
        loss = F.cross_entropy(out, yb)
        for p in params:
            p.grad = None
        loss.backward()
        with fg.no_grad():
            for i, p in enumerate(params):
                if bufs[i] is None:
                    bufs[i] = p.grad.clone()
                else:
                    bufs[i].mul_(MOMENTUM).add_(p.grad)
                p.sub_(bufs[i], alpha=LR)
        return loss

    ref = NumpyMLP([init["0.weight"], init["2.weight"]], [init["0.bias"], init["2.bias"]],
                   lr=LR, momentum=MOMENTUM)

    def np_step(idx: Any) -> Any:
        return ref.step(x[idx], y[idx])

    # the three agree on the first steps (same batches, same weights)
    check = [rng.choice(N_TRAIN, BATCH, replace=False) for _ in range(3)]
    for idx in check:
        a, b, c = float(nn_step(idx).item()), float(raw_step(idx).item()), np_step(idx)
        if not (abs(a - c) < 1e-4 * max(1.0, abs(c)) and abs(b - c) < 1e-4 * max(1.0, abs(c))):
            raise SystemExit(f"bench_nn: losses differ: nn {a}, raw {b}, numpy {c}")
    return {"nn": nn_step, "raw": raw_step, "numpy": np_step}


def worker(threads: int, rounds: int, steps: int) -> dict[str, Any]:
    import fastgrad as fg
    import numpy as np

    fg.set_num_threads(threads)
    fns = make_steps()
    rng = np.random.default_rng(1)
    batches = [rng.choice(N_TRAIN, BATCH, replace=False) for _ in range(steps)]
    times: dict[str, list[float]] = {k: [] for k in fns}
    for name, f in fns.items():  # warm-up
        for idx in batches[:20]:
            f(idx)
    for _ in range(rounds):
        for name, f in fns.items():
            t0 = time.perf_counter()
            for idx in batches:
                f(idx)
            times[name].append((time.perf_counter() - t0) / steps * 1e6)
    med = {k: statistics.median(v) for k, v in times.items()}
    low = {k: min(v) for k, v in times.items()}
    return {"threads": threads, "median_us": med, "min_us": low,
            "load": os.getloadavg()[0], "backend": fg.get_backend()}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.rounds, args.steps)))
        return 0
    print(f"demo step (MLP {N_IN}-{N_HIDDEN}-{N_OUT}, batch {BATCH}, float32, SGD momentum): "
          f"median (min) us per step over {args.rounds} alternating rounds of {args.steps} steps")
    print(f"{'threads':>7}  {'nn':>15}  {'raw ops':>15}  {'numpy':>15}  {'nn/raw':>6}  "
          f"{'nn/numpy':>8}  load")
    for t in args.threads:
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(t)
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(t), "--rounds",
               str(args.rounds), "--steps", str(args.steps)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            return 1
        res = json.loads(r.stdout)
        m, lo = res["median_us"], res["min_us"]
        cell = {k: f"{m[k]:7.1f} ({lo[k]:5.1f})" for k in m}
        print(f"{t:>7}  {cell['nn']:>15}  {cell['raw']:>15}  {cell['numpy']:>15}  "
              f"{m['nn'] / m['raw']:6.2f}  {m['nn'] / m['numpy']:8.2f}  {res['load']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
