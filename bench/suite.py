"""The benchmarks of bench/run.py, for one thread count (run.py starts this file once per count
with the thread environment set; run it directly for one count). Prints JSON records on stdout:
{"name", "unit", "threads", "values": {library: number}}; time units are per call, GFLOP/s and MB
as named. Each benchmark checks fastgrad against NumPy before timing.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/suite.py --threads 1 --only chain
    python bench/suite.py --mem fastgrad mlp      # peak RSS of one workload (used by "memory")
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
Fns = dict[str, Callable[[], Any]]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", nargs="+", default=None)
    p.add_argument("--mem", nargs=2, metavar=("LIB", "WORKLOAD"), default=None)
    return p.parse_args()


ARGS = parse()
if ARGS.mem is None:
    import fastgrad as fg

    try:
        import torch

        torch.set_num_threads(ARGS.threads)
    except ImportError:
        torch = None
    fg.set_num_threads(ARGS.threads)
    fg.set_backend("cpp")
    from fastgrad.demo import NumpyMLP
    from fastgrad.nn import functional as F

REPEATS = 3 if ARGS.quick else 7


MIN_SAMPLE = 0.025  # seconds: a sample repeats a call at least this long


def timed(fns: Fns, repeats: int = REPEATS, inner: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, interleaved round by round.

    Each sample runs a function ``inner`` times, or more so that it lasts at least MIN_SAMPLE:
    the first calls after gc.collect() or after another library's run find cold caches, which
    cost about 0.4 ms and inflated per-op figures of millisecond samples by 30-40% (for every
    library alike)."""
    counts = {}
    for k, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        once = time.perf_counter() - t0
        counts[k] = max(inner, math.ceil(MIN_SAMPLE / max(once, 1e-9)))
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            gc.collect()
            n = counts[k]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[k].append((time.perf_counter() - t0) / n)
    return {k: statistics.median(v) for k, v in samples.items()}


def close(name: str, got: Any, want: np.ndarray, rtol: float) -> None:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    scale = float(np.abs(want).max()) or 1.0
    err = float(np.abs(got - want).max())
    if err > rtol * scale:
        raise SystemExit(f"bench {name}: fastgrad differs from NumPy by {err:.3g} "
                         f"(scale {scale:.3g})")


def record(name: str, unit: str, values: dict[str, float]) -> dict[str, Any]:
    return {"name": name, "unit": unit, "threads": ARGS.threads, "values": values}


def both_backends(make: Callable[[Any], Callable[[], Any]]) -> Fns:
    """``make(backend_name)`` builds a closure on tensors of that backend."""
    fns = {}
    for lib, b in (("fastgrad", "cpp"), ("fastgrad-py", "python")):
        fg.set_backend(b)
        fns[lib] = make(b)
    fg.set_backend("cpp")
    return fns


# --- GEMM ---------------------------------------------------------------------------------------
def bench_gemm() -> list[dict[str, Any]]:
    out = []
    sizes = (256, 1024) if ARGS.quick else (256, 512, 1024, 2048)
    for dt in ("float32", "float64"):
        for n in sizes:
            rng = np.random.default_rng(n)
            a, b = rng.standard_normal((n, n)).astype(dt), rng.standard_normal((n, n)).astype(dt)

            def make(_b: str, a: np.ndarray = a, b: np.ndarray = b) -> Callable[[], Any]:
                ta, tb = fg.from_numpy(a), fg.from_numpy(b)
                return lambda: ta @ tb

            fns = both_backends(make)
            close("gemm", fns["fastgrad"]().numpy(), a @ b, 1e-4 if dt == "float32" else 1e-12)
            fns["numpy"] = lambda a=a, b=b: a @ b
            if torch is not None:
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                fns["torch"] = lambda ta=ta, tb=tb: ta @ tb
            if n >= 2048:
                fns.pop("fastgrad-py")  # the same BLAS call as numpy's
            secs = timed(fns, repeats=3 if n >= 2048 else REPEATS)
            out.append(record(f"gemm n={n} {dt}", "GFLOP/s",
                              {k: 2 * n**3 / s / 1e9 for k, s in secs.items()}))
    return out


# --- matmul forward + backward ------------------------------------------------------------------
def bench_matmul() -> list[dict[str, Any]]:
    out = []
    shapes = ((256, 1024, 1024),) if ARGS.quick else ((64, 4096, 4096), (256, 1024, 1024),
                                                      (128, 784, 512))
    for n, d, m in shapes:
        rng = np.random.default_rng(0)
        xa = rng.standard_normal((n, d)).astype(np.float32)
        wa = (rng.standard_normal((d, m)) / np.sqrt(d)).astype(np.float32)
        ga = rng.standard_normal((n, m)).astype(np.float32)

        def make(_b: str, xa: np.ndarray = xa, wa: np.ndarray = wa,
                 ga: np.ndarray = ga) -> Callable[[], Any]:
            x = fg.tensor(xa, requires_grad=True)
            w = fg.tensor(wa, requires_grad=True)
            g = fg.tensor(ga)

            def run() -> Any:
                x.grad = w.grad = None
                (x @ w).backward(g)
                return x.grad, w.grad

            return run

        fns = both_backends(make)
        dx, dw = fns["fastgrad"]()
        close("matmul dX", dx.numpy(), ga @ wa.T, 1e-4)
        close("matmul dW", dw.numpy(), xa.T @ ga, 1e-4)

        def np_run(xa: np.ndarray = xa, wa: np.ndarray = wa, ga: np.ndarray = ga) -> Any:
            _y = xa @ wa
            return ga @ wa.T, xa.T @ ga

        fns["numpy"] = np_run
        if torch is not None:
            tx = torch.tensor(xa, requires_grad=True)
            tw = torch.tensor(wa, requires_grad=True)
            tg = torch.tensor(ga)

            def t_run(tx: Any = tx, tw: Any = tw, tg: Any = tg) -> Any:
                tx.grad = tw.grad = None
                (tx @ tw).backward(tg)

            fns["torch"] = t_run
        secs = timed(fns)
        out.append(record(f"matmul fwd+bwd ({n},{d})@({d},{m})", "ms",
                          {k: s * 1e3 for k, s in secs.items()}))
    return out


# --- MLP training step --------------------------------------------------------------------------
SIZES = (784, 512, 256, 10)
DEMO = (64, 128, 10)  # python -m fastgrad.demo's model (scikit-learn digits), batch 32
MIDDLE = {784: (512, 256), 64: (128,)}  # hidden sizes by input width


def mlp_init(sizes: tuple[int, ...] = SIZES, seed: int = 0
             ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    ws, bs = [], []
    for i, o in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(i)
        ws.append(rng.uniform(-bound, bound, (o, i)).astype(np.float32))
        bs.append(rng.uniform(-bound, bound, (o,)).astype(np.float32))
    return ws, bs


def mlp_data(batch: int, sizes: tuple[int, ...] = SIZES, seed: int = 1
             ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, sizes[0])).astype(np.float32),
            rng.integers(0, sizes[-1], batch).astype(np.int64))


def lib_mlp_step(lib: Any, xa: np.ndarray, ya: np.ndarray) -> Callable[[], Any]:
    """The PyTorch training step, run by ``lib`` (fastgrad or torch: the same code)."""
    ws, bs = mlp_init((xa.shape[1],) + MIDDLE[xa.shape[1]] + (10,))
    layers: list[Any] = []
    for w, b in zip(ws, bs):
        lin = lib.nn.Linear(w.shape[1], w.shape[0])
        with lib.no_grad():
            lin.weight.copy_(lib.from_numpy(w))
            lin.bias.copy_(lib.from_numpy(b))
        layers += [lin, lib.nn.ReLU()]
    model = lib.nn.Sequential(*layers[:-1])
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()
    x, y = lib.from_numpy(xa), lib.from_numpy(ya)

    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def fg_mlp_step(xa: np.ndarray, ya: np.ndarray) -> Callable[[], Any]:
    return lib_mlp_step(fg, xa, ya)


def torch_mlp_step(xa: np.ndarray, ya: np.ndarray) -> Callable[[], Any]:
    return lib_mlp_step(torch, xa, ya)


def np_mlp_step(xa: np.ndarray, ya: np.ndarray) -> Callable[[], Any]:
    ws, bs = mlp_init((xa.shape[1],) + MIDDLE[xa.shape[1]] + (10,))
    ref = NumpyMLP(ws, bs, lr=0.01, momentum=0.9)
    return lambda: ref.step(xa, ya)


def bench_mlp() -> list[dict[str, Any]]:
    out = []
    cases = [(SIZES, b) for b in ((128,) if ARGS.quick else (32, 128, 512))] + [(DEMO, 32)]
    for sizes, batch in cases:
        xa, ya = mlp_data(batch, sizes)
        fns = both_backends(lambda _b, xa=xa, ya=ya: fg_mlp_step(xa, ya))
        fns["numpy"] = np_mlp_step(xa, ya)
        # Same weights, same batch: three steps give the same losses as the NumPy reference.
        check_fg, check_np = fg_mlp_step(xa, ya), np_mlp_step(xa, ya)
        close("mlp loss", [float(check_fg()) for _ in range(3)], [check_np() for _ in range(3)],
              1e-4)
        if torch is not None:
            fns["torch"] = torch_mlp_step(xa, ya)
        secs = timed(fns, inner=5 if batch <= 128 else 2)
        name = "-".join(map(str, sizes))
        out.append(record(f"MLP {name} SGD step, batch {batch}", "ms",
                          {k: s * 1e3 for k, s in secs.items()}))
    return out


def grad_of(x: Any, f: Callable[[Any], Any], g: Any = None) -> Callable[[], Any]:
    """A timed call: f(x).backward(g) from a cleared x.grad; returns x.grad. The same for fastgrad
    and torch tensors (fastgrad's API is PyTorch's)."""
    def run() -> Any:
        x.grad = None
        f(x).backward(g)
        return x.grad

    return run


# --- per-op overhead ----------------------------------------------------------------------------
def mul_chain(x: Any, w: Any, n: int) -> Any:
    for _ in range(n):
        x = x * w
    return x


def bench_chain() -> list[dict[str, Any]]:
    n = 100
    rng = np.random.default_rng(0)
    xa = rng.uniform(0.9, 1.1, (16, 16)).astype(np.float32)
    wa = rng.uniform(0.9, 1.1, (16, 16)).astype(np.float32)
    ga = np.ones((16, 16), np.float32)

    def make(_b: str) -> Callable[[], Any]:
        w = fg.tensor(wa)
        return grad_of(fg.tensor(xa, requires_grad=True), lambda x: mul_chain(x, w, n),
                       fg.tensor(ga))

    def np_run() -> Any:  # forward, then the hand-written backward: dy/dx = w at each step
        y = xa
        for _ in range(n):
            y = y * wa
        gx = ga
        for _ in range(n):
            gx = gx * wa
        return gx

    fns = both_backends(make)
    close("chain", fns["fastgrad"]().numpy(), np_run(), 1e-5)
    fns["numpy"] = np_run
    if torch is not None:
        tw = torch.tensor(wa)
        fns["torch"] = grad_of(torch.tensor(xa, requires_grad=True),
                               lambda x: mul_chain(x, tw, n), torch.tensor(ga))
    secs = timed(fns, repeats=REPEATS * 2, inner=10)
    return [record("100-op chain of 16x16 mul, per op fwd+bwd", "us",
                   {k: s / n * 1e6 for k, s in secs.items()})]


def scalar_mlp(tensor: Callable[..., Any]) -> tuple[Callable[[], Any], int, list[Any]]:
    """8-16-16-1 tanh MLP on 0-d tensors, micrograd style: (run, graph nodes per run, params)."""
    rng = np.random.default_rng(1)
    layers = []
    params = []
    for i, o in ((8, 16), (16, 16), (16, 1)):
        w = [[tensor(float(v), requires_grad=True) for v in row]
             for row in rng.standard_normal((o, i)) * 0.3]
        b = [tensor(float(v), requires_grad=True) for v in rng.standard_normal(o) * 0.3]
        layers.append((w, b))
        params += [p for row in w for p in row] + b
    inputs = [tensor(float(v)) for v in rng.standard_normal(8)]

    def run() -> Any:
        for p in params:
            p.grad = None
        h = inputs
        for k, (w, b) in enumerate(layers):
            h = [sum((wi * hi for wi, hi in zip(row, h)), bb) for row, bb in zip(w, b)]
            if k < 2:
                h = [v.tanh() for v in h]
        h[0].backward()
        return params[0].grad

    nodes = (8 * 16 * 2 + 16) + (16 * 16 * 2 + 16) + 16 * 2
    return run, nodes, params


def bench_scalar() -> list[dict[str, Any]]:
    fns = both_backends(lambda _b: scalar_mlp(fg.tensor)[0])
    if torch is not None:
        fns["torch"] = scalar_mlp(lambda v, requires_grad=False: torch.tensor(
            v, requires_grad=requires_grad))[0]
    _, nodes, _ = scalar_mlp(fg.tensor)
    if torch is not None:
        close("scalar", float(fns["fastgrad"]()), float(fns["torch"]()), 1e-5)
    secs = timed(fns, repeats=REPEATS * 2, inner=3)
    return [record("scalar MLP 8-16-16-1 on 0-d tensors, per node fwd+bwd", "us",
                   {k: s / nodes * 1e6 for k, s in secs.items()})]


# --- big elementwise ----------------------------------------------------------------------------
def bench_unary(name: str) -> list[dict[str, Any]]:
    n = 10**6 if ARGS.quick else 10**7
    rng = np.random.default_rng(0)
    xa = rng.standard_normal(n).astype(np.float32)
    ga = rng.standard_normal(n).astype(np.float32)

    def make(_b: str) -> Callable[[], Any]:
        return grad_of(fg.tensor(xa, requires_grad=True), lambda x: getattr(x, name)(),
                       fg.tensor(ga))

    def np_run() -> Any:
        if name == "relu":
            _y = np.maximum(xa, 0)
            return ga * (xa > 0)
        y = 1 / (1 + np.exp(-xa))
        return ga * y * (1 - y)

    fns = both_backends(make)
    close(name, fns["fastgrad"]().numpy(), np_run(), 1e-5)
    fns["numpy"] = np_run
    if torch is not None:
        fns["torch"] = grad_of(torch.tensor(xa, requires_grad=True),
                               lambda x: getattr(x, name)(), torch.tensor(ga))
    secs = timed(fns)
    return [record(f"{name} fwd+bwd on {n:.0e} floats", "ms",
                   {k: s * 1e3 for k, s in secs.items()})]


def bench_xent() -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    la = rng.standard_normal((512, 1000)).astype(np.float32)
    ya = rng.integers(0, 1000, 512)

    def make(_b: str) -> Callable[[], Any]:
        y = fg.tensor(ya)
        return grad_of(fg.tensor(la, requires_grad=True), lambda z: F.cross_entropy(z, y))

    def np_run() -> Any:
        m = la - la.max(axis=1, keepdims=True)
        e = np.exp(m)
        s = e.sum(axis=1, keepdims=True)
        _loss = float(np.log(s[:, 0]).mean() - m[np.arange(512), ya].mean())
        d = e / s
        d[np.arange(512), ya] -= 1
        return d / 512

    fns = both_backends(make)
    close("xent", fns["fastgrad"]().numpy(), np_run(), 1e-5)
    fns["numpy"] = np_run
    if torch is not None:
        ty = torch.tensor(ya)
        fns["torch"] = grad_of(torch.tensor(la, requires_grad=True),
                               lambda z: torch.nn.functional.cross_entropy(z, ty))
    secs = timed(fns)
    return [record("softmax cross-entropy (512,1000) value+grad", "ms",
                   {k: s * 1e3 for k, s in secs.items()})]


# --- deep chain ---------------------------------------------------------------------------------
def deep_chain(lib: Any, n: int) -> Callable[[], Any]:
    """y = x * c * c * ... (n muls of 0-d float64 tensors), then backward: dy/dx = c^n."""
    x = lib.tensor(1.0, dtype=lib.float64, requires_grad=True)
    c = lib.tensor(1.0000001, dtype=lib.float64)

    def run() -> Any:
        x.grad = None
        y = x
        for _ in range(n):
            y = y * c
        y.backward()
        return x.grad

    return run


def bench_deep() -> list[dict[str, Any]]:
    n = 10**5 if ARGS.quick else 10**6
    n_py = 10**5
    fns: Fns = {"fastgrad": deep_chain(fg, n)}
    close("deep", float(fns["fastgrad"]()), 1.0000001 ** n, 1e-6)
    secs = timed(fns, repeats=3)
    vals = {"fastgrad": secs["fastgrad"] / n * 1e6}
    fg.set_backend("python")
    py = deep_chain(fg, n_py)
    fg.set_backend("cpp")
    vals["fastgrad-py"] = timed({"p": py}, repeats=3)["p"] / n_py * 1e6
    if torch is not None:
        vals["torch"] = timed({"t": deep_chain(torch, n)}, repeats=3)["t"] / n * 1e6
    return [record(f"{n:.0e}-step chain of 0-d mul, per op fwd+bwd", "us", vals)]


# --- peak memory, each in a fresh process -------------------------------------------------------
def mem_workload(lib: str, workload: str) -> float:
    """Runs one workload in this (fresh) process; returns its peak RSS in MB."""
    global fg, torch, NumpyMLP
    if lib.startswith("fastgrad"):
        import fastgrad as fg

        fg.set_backend("python" if lib == "fastgrad-py" else "cpp")
    elif lib == "torch":
        import torch
    else:
        from fastgrad.demo import NumpyMLP
    if workload == "mlp":
        xa, ya = mlp_data(128)
        step = {"fastgrad": fg_mlp_step, "fastgrad-py": fg_mlp_step, "numpy": np_mlp_step,
                "torch": torch_mlp_step}[lib](xa, ya)
        for _ in range(20):
            step()
    else:  # deep chain of 10^6 ops
        deep_chain(fg if lib.startswith("fastgrad") else torch, 10**6)()
    # VmHWM, this process's peak resident set (ru_maxrss would include what the parent held
    # when it forked: Linux carries it across exec).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_memory() -> list[dict[str, Any]]:
    out = []
    for workload, libs, name in (
            ("mlp", ("fastgrad", "fastgrad-py", "numpy", "torch"),
             "peak RSS of a process doing 20 MLP steps (batch 128)"),
            ("deep", ("fastgrad", "torch"), "peak RSS of a process doing a 1e6-op chain")):
        vals = {}
        for lib in libs:
            if lib == "torch" and torch is None:
                continue
            r = subprocess.run([sys.executable, __file__, "--threads", str(ARGS.threads), "--mem",
                                lib, workload], capture_output=True, text=True, env=os.environ, check=False)
            if r.returncode != 0:
                raise SystemExit(f"bench memory {lib} {workload} failed:\n{r.stderr}")
            vals[lib] = float(r.stdout)
        out.append(record(name, "MB", vals))
    return out


BENCHES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "gemm": lambda: bench_gemm(),
    "matmul": lambda: bench_matmul(),
    "mlp": lambda: bench_mlp(),
    "chain": lambda: bench_chain(),
    "scalar": lambda: bench_scalar(),
    "relu": lambda: bench_unary("relu"),
    "sigmoid": lambda: bench_unary("sigmoid"),
    "xent": lambda: bench_xent(),
    "deep": lambda: bench_deep(),
    "memory": lambda: bench_memory(),
}


def main() -> int:
    if ARGS.mem is not None:
        print(mem_workload(*ARGS.mem))
        return 0
    results = []
    for name in ARGS.only or list(BENCHES):
        t0 = time.perf_counter()
        results += BENCHES[name]()
        print(f"#   {name} ({ARGS.threads} threads): {time.perf_counter() - t0:.1f} s",
              file=sys.stderr, flush=True)
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
