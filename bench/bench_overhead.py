"""Per-op overhead: a 100-op chain of 16x16 tensors (forward + backward) and a scalar-graph MLP
(8-16-16-1 on 0-d tensors), fastgrad C++ vs fastgrad Python vs PyTorch, in one process, 1 thread.

Prints microseconds per op (chain) and per graph node (scalar MLP). Not a test: nothing asserted.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import fastgrad as fg  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(1)
except ImportError:
    torch = None


def timeit(fn, repeats: int = 7, inner: int = 20) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    return statistics.median(times)


def chain(lib, x, w, g, n: int = 100):  # type: ignore[no-untyped-def]
    def run() -> None:
        y = x
        for _ in range(n):
            y = y * w
        y.backward(g)

    return run


def scalar_mlp(lib, params, inputs):  # type: ignore[no-untyped-def]
    """8-16-16-1 MLP on 0-d tensors, micrograd style; returns (run, nodes per run)."""
    w1, b1, w2, b2, w3, b3 = params

    def forward():  # type: ignore[no-untyped-def]
        h = inputs
        for W, B in ((w1, b1), (w2, b2)):
            h = [sum((wi * hi for wi, hi in zip(row, h)), bb).tanh() for row, bb in zip(W, B)]
        return sum((wi * hi for wi, hi in zip(w3[0], h)), b3[0])

    def run() -> None:
        forward().backward()

    nodes = (8 * 16 * 2 + 16) + (16 * 16 * 2 + 16) + (16 * 2)
    return run, nodes


def make_scalar_params(tensor_fn, rng):  # type: ignore[no-untyped-def]
    def t(v):  # type: ignore[no-untyped-def]
        return tensor_fn(float(v))

    shapes = [(16, 8), (16,), (16, 16), (16,), (1, 16), (1,)]
    params = []
    for s in shapes:
        a = rng.standard_normal(s) * 0.3
        params.append([[t(v) for v in row] for row in a] if len(s) == 2 else [t(v) for v in a])
    inputs = [tensor_fn(float(v), grad=False) for v in rng.standard_normal(8)]
    return params, inputs


def main() -> None:
    fg.set_num_threads(1)
    rng = np.random.default_rng(0)
    xs, ws = rng.standard_normal((16, 16)).astype(np.float32), rng.standard_normal((16, 16)).astype(np.float32)
    rows = []
    for backend in ("cpp", "python"):
        fg.set_backend(backend)
        x = fg.tensor(xs, requires_grad=True)
        run = chain(fg, x, fg.tensor(ws), fg.ones(16, 16))
        per_op = timeit(run, inner=5 if backend == "python" else 20) / 100
        fparams, finputs = make_scalar_params(
            lambda v, grad=True: fg.tensor(v, requires_grad=grad), np.random.default_rng(1))
        srun, nodes = scalar_mlp(fg, fparams, finputs)
        per_node = timeit(srun, repeats=5, inner=2 if backend == "python" else 5) / nodes
        rows.append((f"fastgrad-{backend}", per_op, per_node))
    fg.set_backend("cpp")
    if torch is not None:
        x = torch.tensor(xs, requires_grad=True)
        per_op = timeit(chain(torch, x, torch.tensor(ws), torch.ones(16, 16))) / 100
        tparams, tinputs = make_scalar_params(
            lambda v, grad=True: torch.tensor(v, requires_grad=grad), np.random.default_rng(1))
        srun, nodes = scalar_mlp(torch, tparams, tinputs)
        per_node = timeit(srun, repeats=5, inner=5) / nodes
        rows.append(("torch", per_op, per_node))
    base = rows[0]
    print(f"threads=1  {'library':16s} {'16x16 op fwd+bwd':>18s} {'scalar node fwd+bwd':>20s}")
    for name, op, node in rows:
        print(f"threads=1  {name:16s} {op * 1e6:15.2f} us {node * 1e6:17.2f} us"
              f"   (x{op / base[1]:.2f}, x{node / base[2]:.2f} of fastgrad-cpp)")


if __name__ == "__main__":
    main()
