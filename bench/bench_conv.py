"""Convolutional networks, fastgrad against PyTorch side by side: ``python bench/bench_conv.py``.

Workloads (float32, the same weights and data in both libraries, checked close before timing):
pytorch/examples' MNIST CNN SGD step at batch 64 (conv 1->32->64 3x3, max-pool 2, dropout,
linear 9216->128->10); a ResNet basic block (64 channels, 32x32, batch 32) forward+backward; a 3x3
convolution 64->64 at 56x56, batch 8, forward (GFLOP/s, beside fastgrad's own GEMM at the same
M, N, K); a depthwise 3x3 convolution (64 channels, 56x56, batch 8) forward+backward; BatchNorm2d
forward+backward on (32, 64, 56, 56). One thread first, then two: samples alternate between the
libraries, min and median reported with the ratio fastgrad / PyTorch (time; < 1 is faster).
Then the peak resident memory of a process training the MNIST CNN for a few steps, per library.

    python bench/bench_conv.py [--quick] [--only mnist block conv3x3 depthwise kernels fused batchnorm
                                           memory]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = Path(__file__).resolve()
MIN_SAMPLE = 0.1  # seconds: a sample repeats a call at least this long


def timed(fns: dict[str, Callable[[], Any]], samples: int) -> dict[str, tuple[float, float]]:
    """Per library, (min, median) seconds per call; samples alternate between the libraries."""
    reps = {}
    for name, f in fns.items():
        f()
        t0 = time.perf_counter()
        f()
        dt = max(time.perf_counter() - t0, 1e-6)
        reps[name] = max(1, int(MIN_SAMPLE / dt))
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(samples):
        for name, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(reps[name]):
                f()
            out[name].append((time.perf_counter() - t0) / reps[name])
    return {k: (min(v), statistics.median(v)) for k, v in out.items()}


# --- workloads -------------------------------------------------------------------------------
def mnist_models(fg: Any, torch: Any) -> tuple[Any, Any]:
    """The MNIST CNN in fastgrad and (when torch is given) PyTorch, with the same weights."""
    fnn = fg.nn

    class FNet(fnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = fnn.Conv2d(1, 32, 3, 1)
            self.conv2 = fnn.Conv2d(32, 64, 3, 1)
            self.dropout1 = fnn.Dropout(0.25)
            self.dropout2 = fnn.Dropout(0.5)
            self.fc1 = fnn.Linear(9216, 128)
            self.fc2 = fnn.Linear(128, 10)

        def forward(self, x: Any) -> Any:
            F = fg.nn.functional
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x).flatten(1)
            x = self.dropout2(F.relu(self.fc1(x)))
            return F.log_softmax(self.fc2(x), dim=1)

    fm = FNet()
    if torch is None:
        return fm, None
    tnn = torch.nn

    class TNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 32, 3, 1)
            self.conv2 = tnn.Conv2d(32, 64, 3, 1)
            self.dropout1 = tnn.Dropout(0.25)
            self.dropout2 = tnn.Dropout(0.5)
            self.fc1 = tnn.Linear(9216, 128)
            self.fc2 = tnn.Linear(128, 10)

        def forward(self, x: Any) -> Any:
            F = torch.nn.functional
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = torch.flatten(self.dropout1(x), 1)
            x = self.dropout2(F.relu(self.fc1(x)))
            return F.log_softmax(self.fc2(x), dim=1)

    tm = TNet()
    tm.load_state_dict({k: torch.tensor(np.array(v.detach().numpy())) for k, v in
                        fm.state_dict().items()})
    return fm, tm


def mnist_step(lib: str, fg: Any, torch: Any, model: Any, batch: int = 64) -> Callable[[], Any]:
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    ya = rng.integers(0, 10, batch)
    if lib == "fastgrad":
        opt = fg.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
        x, y = fg.tensor(xa), fg.tensor(ya)
        nll = fg.nn.functional.nll_loss
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
        x, y = torch.tensor(xa), torch.tensor(ya)
        nll = torch.nn.functional.nll_loss

    def step() -> Any:
        opt.zero_grad()
        loss = nll(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def block_fns(fg: Any, torch: Any) -> dict[str, Callable[[], Any]]:
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN, + identity, ReLU; forward+backward."""
    fnn, tnn = fg.nn, torch.nn
    fl = [fnn.Conv2d(64, 64, 3, padding=1, bias=False), fnn.BatchNorm2d(64),
          fnn.Conv2d(64, 64, 3, padding=1, bias=False), fnn.BatchNorm2d(64)]
    tl = [tnn.Conv2d(64, 64, 3, padding=1, bias=False), tnn.BatchNorm2d(64),
          tnn.Conv2d(64, 64, 3, padding=1, bias=False), tnn.BatchNorm2d(64)]
    for f, t in zip(fl, tl):
        t.load_state_dict({k: torch.tensor(np.array(v.detach().numpy())) for k, v in
                           f.state_dict().items()})
    xa = np.random.default_rng(0).standard_normal((32, 64, 32, 32)).astype(np.float32)
    fx = fg.tensor(xa, requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)

    def f_run() -> Any:
        h = fl[1](fl[0](fx)).relu()
        y = (fl[3](fl[2](h)) + fx).relu()
        y.sum().backward()
        return y

    def t_run() -> Any:
        h = tl[1](tl[0](tx)).relu()
        y = (tl[3](tl[2](h)) + tx).relu()
        y.sum().backward()
        return y

    return {"fastgrad": f_run, "torch": t_run}


def conv_fns(fg: Any, torch: Any, groups: int, backward: bool) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((8, 64, 56, 56)).astype(np.float32)
    wa = (rng.standard_normal((64, 64 // groups, 3, 3)) * 0.1).astype(np.float32)
    fx, fw = fg.tensor(xa, requires_grad=backward), fg.tensor(wa, requires_grad=backward)
    tx, tw = torch.tensor(xa, requires_grad=backward), torch.tensor(wa, requires_grad=backward)
    FF, TF = fg.nn.functional, torch.nn.functional
    yf = FF.conv2d(fx, fw, padding=1, groups=groups).detach().numpy()
    yt = TF.conv2d(tx, tw, padding=1, groups=groups).detach().numpy()
    np.testing.assert_allclose(yf, yt, rtol=1e-3, atol=1e-3)

    def f_run() -> Any:
        y = FF.conv2d(fx, fw, padding=1, groups=groups)
        if backward:
            y.sum().backward()
        return y

    def t_run() -> Any:
        if backward:
            y = TF.conv2d(tx, tw, padding=1, groups=groups)
            y.sum().backward()
            return y
        with torch.no_grad():
            return TF.conv2d(tx, tw, padding=1, groups=groups)

    if not backward:
        def f_run() -> Any:  # forward only: no graph
            with fg.no_grad():
                return FF.conv2d(fx, fw, padding=1, groups=groups)

    return {"fastgrad": f_run, "torch": t_run}


def gemm_fn(fg: Any) -> Callable[[], Any]:
    """fastgrad's GEMM at the 3x3 convolution's size: (64, 576) @ (576, 8 * 56 * 56)."""
    rng = np.random.default_rng(0)
    a = fg.tensor(rng.standard_normal((64, 576)).astype(np.float32))
    b = fg.tensor(rng.standard_normal((576, 8 * 56 * 56)).astype(np.float32))
    return lambda: a @ b


def kernel_fns(fg: Any, xs: tuple, ws: tuple, pad: int) -> tuple[dict[str, Callable[[], Any]],
                                                                 float]:
    """The three convolution primitives alone (no graph) at one shape, and their flop count."""
    core = fg.tensor([0.0])._b
    rng = np.random.default_rng(0)
    x = fg.tensor(rng.standard_normal(xs).astype(np.float32))
    w = fg.tensor((rng.standard_normal(ws) * 0.1).astype(np.float32))
    s, p, d = [1, 1], [pad, pad], [1, 1]
    with fg.no_grad():
        y = fg.nn.functional.conv2d(x, w, padding=pad)
    flops = 2.0 * xs[0] * ws[0] * ws[1] * ws[2] * ws[3] * y.shape[2] * y.shape[3]
    xi, wi, yi = x._impl, w._impl, y._impl
    return {"fwd": lambda: core.conv2d(xi, wi, s, p, d, 1),
            "wgrad": lambda: core.conv2d_weight(xi, yi, list(ws), s, p, d, 1),
            "igrad": lambda: core.conv_transpose2d(yi, wi, s, p, d, 1, list(xs[2:]))}, flops


def kernel_rows(fg: Any, samples: int) -> None:
    """GFLOP/s of each convolution kernel alone: forward, weight gradient and input gradient of
    the MNIST CNN's conv2 and of the basic block's conv."""
    shapes = {"MNIST conv2 32->64 26x26 b64": ((64, 32, 26, 26), (64, 32, 3, 3), 0),
              "block conv 64->64 32x32 b32": ((32, 64, 32, 32), (64, 64, 3, 3), 1)}
    for name, (xs, ws, pad) in shapes.items():
        fns, flops = kernel_fns(fg, xs, ws, pad)
        with fg.no_grad():
            res = timed(fns, samples)
        print(f"    {name}: " + ", ".join(
            f"{k} {1e3 * v[1]:.2f} ms {flops / v[1] / 1e9:.1f} GFLOP/s" for k, v in res.items()))


def fused_fns(fg: Any, torch: Any, grad: bool) -> dict[str, Callable[[], Any]]:
    """conv 32->64 3x3 + bias + ReLU at the MNIST CNN's conv2 size (batch 64, 26x26): fused
    (nn.intrinsic.ConvReLU2d: bias and ReLU in the GEMM's store), bias fused + a ReLU pass
    (F.relu(conv(x)): nn.Conv2d's path), fully unfused (conv, a bias pass, a ReLU pass: the path
    before the epilogue), and PyTorch's F.relu(conv(x)); forward, or forward + backward."""
    fnn, F = fg.nn, fg.nn.functional
    conv = fnn.Conv2d(32, 64, 3)
    fused = fnn.intrinsic.ConvReLU2d(conv, fnn.ReLU())
    tconv = torch.nn.Conv2d(32, 64, 3)
    tconv.load_state_dict({k: torch.tensor(np.array(v.detach().numpy())) for k, v in
                           conv.state_dict().items()})
    xa = np.random.default_rng(0).standard_normal((64, 32, 26, 26)).astype(np.float32)
    x, tx = fg.tensor(xa, requires_grad=grad), torch.tensor(xa, requires_grad=grad)
    np.testing.assert_allclose(fused(x).detach().numpy(),
                               torch.relu(tconv(tx)).detach().numpy(), rtol=1e-3, atol=1e-3)

    def run(f: Callable[[], Any], lib: Any) -> Callable[[], Any]:
        if grad:
            def g() -> Any:
                y = f()
                y.sum().backward()
                return y
            return g

        def n() -> Any:
            with lib.no_grad():
                return f()
        return n

    return {"fused": run(lambda: fused(x), fg),
            "bias fused, relu pass": run(lambda: F.relu(conv(x)), fg),
            "unfused": run(lambda: F.relu(F.conv2d(x, conv.weight) + conv.bias.reshape(-1, 1, 1)),
                           fg),
            "torch": run(lambda: torch.relu(tconv(tx)), torch)}


def bn_fns(fg: Any, torch: Any) -> dict[str, Callable[[], Any]]:
    xa = np.random.default_rng(0).standard_normal((32, 64, 56, 56)).astype(np.float32)
    fb, tb = fg.nn.BatchNorm2d(64), torch.nn.BatchNorm2d(64)
    fx, tx = fg.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    np.testing.assert_allclose(fb(fx).detach().numpy(), tb(tx).detach().numpy(), rtol=1e-3,
                               atol=1e-3)

    def f_run() -> Any:
        y = fb(fx)
        y.sum().backward()
        return y

    def t_run() -> Any:
        y = tb(tx)
        y.sum().backward()
        return y

    def c_run() -> Any:  # the composite of Tensor ops (before the fused primitive)
        from fastgrad.nn import _functional_conv as FC

        keep, FC._fused_bn_ok = FC._fused_bn_ok, lambda *a: False
        try:
            return f_run()
        finally:
            FC._fused_bn_ok = keep

    return {"fastgrad": f_run, "torch": t_run, "composite": c_run}


# --- memory: one child process per library ---------------------------------------------------
def mem_child(lib: str, steps: int) -> None:
    """Trains the MNIST CNN with one library only (the other is never imported)."""
    if lib == "fastgrad":
        import fastgrad as fg

        fg.set_num_threads(1)
        step = mnist_step(lib, fg, None, mnist_models(fg, None)[0])
    else:
        import torch

        torch.set_num_threads(1)
        tm = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(),
                                 torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Dropout(0.25),
                                 torch.nn.Flatten(), torch.nn.Linear(9216, 128), torch.nn.ReLU(),
                                 torch.nn.Dropout(0.5), torch.nn.Linear(128, 10),
                                 torch.nn.LogSoftmax(dim=1))
        step = mnist_step(lib, None, torch, tm)
    for _ in range(steps):
        step()
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across fork+exec)
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(hwm / 1024.0)  # MiB


def peak_rss(lib: str, steps: int) -> float:
    r = subprocess.run([sys.executable, str(HERE), "--mem-child", lib, str(steps)],
                       capture_output=True, text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


# --- main ------------------------------------------------------------------------------------
def row(name: str, res: dict[str, tuple[float, float]], unit: str = "ms") -> None:
    f, t = res["fastgrad"], res["torch"]
    print(f"  {name:<34} fastgrad {1e3 * f[0]:9.2f} / {1e3 * f[1]:9.2f}   torch "
          f"{1e3 * t[0]:9.2f} / {1e3 * t[1]:9.2f} {unit} (min / median)   ratio "
          f"{f[1] / t[1]:.2f}x (min {f[0] / t[0]:.2f}x)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--only", nargs="+", default=None)
    p.add_argument("--mem-child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mem_child:
        mem_child(args.mem_child[0], int(args.mem_child[1]))
        return
    import fastgrad as fg
    import torch

    fg.set_backend("cpp")
    samples = 3 if args.quick else 7
    want = set(args.only or ["mnist", "block", "conv3x3", "depthwise", "kernels", "fused",
                              "batchnorm", "memory"])
    load = os.getloadavg()[0]
    print(f"bench_conv: fastgrad {fg.__version__} vs torch {torch.__version__}; load average "
          f"{load:.1f} on {os.cpu_count()} CPUs (other agents share the machine: figures are "
          f"noisy, compare ratios)")
    for threads in args.threads:
        fg.set_num_threads(threads)
        torch.set_num_threads(threads)
        print(f"threads = {threads}")
        if "mnist" in want:
            fg.manual_seed(0)
            fm, tm = mnist_models(fg, torch)
            res = timed({"fastgrad": mnist_step("fastgrad", fg, torch, fm),
                         "torch": mnist_step("torch", fg, torch, tm)}, samples)
            row("MNIST CNN SGD step, batch 64", res)
        if "block" in want:
            row("ResNet basic block fwd+bwd", timed(block_fns(fg, torch), samples))
        if "conv3x3" in want:
            res = timed(conv_fns(fg, torch, 1, False), samples)
            row("conv3x3 64->64 56x56 b8 fwd", res)
            flops = 2 * 8 * 64 * 64 * 9 * 56 * 56
            g = timed({"gemm": gemm_fn(fg)}, samples)["gemm"]
            print(f"    GFLOP/s (median): fastgrad conv {flops / res['fastgrad'][1] / 1e9:.1f}, "
                  f"torch conv {flops / res['torch'][1] / 1e9:.1f}, fastgrad GEMM (64x576 @ "
                  f"576x25088) {flops / g[1] / 1e9:.1f}; conv / GEMM "
                  f"{g[1] / res['fastgrad'][1]:.2f}, conv vs torch "
                  f"{res['torch'][1] / res['fastgrad'][1]:.2f}x")
        if "depthwise" in want:
            row("depthwise 3x3 64ch 56x56 b8 fwd+bwd", timed(conv_fns(fg, torch, 64, True),
                                                             samples))
        if "fused" in want:
            for grad in (False, True):
                res = timed(fused_fns(fg, torch, grad), samples)
                u = res["unfused"][1]
                print(f"  conv+bias+ReLU 32->64 26x26 b64 {'fwd+bwd' if grad else 'fwd'}: " +
                      ", ".join(f"{k} {1e3 * v[1]:.2f} ms ({v[1] / u:.2f}x)" for k, v in
                                res.items()) + " (median; ratio to unfused)")
        if "kernels" in want:
            print("  convolution kernels alone (median):")
            kernel_rows(fg, samples)
        if "batchnorm" in want:
            res = timed(bn_fns(fg, torch), samples)
            row("BatchNorm2d (32,64,56,56) fwd+bwd", res)
            c, t = res["composite"], res["torch"]
            print(f"    composite of Tensor ops (before the fused kernels): {1e3 * c[0]:.2f} / "
                  f"{1e3 * c[1]:.2f} ms (min / median), ratio to torch {c[1] / t[1]:.2f}x; "
                  f"fused / composite {res['fastgrad'][1] / c[1]:.2f}x")
    if "memory" in want:
        steps = 5 if args.quick else 20
        f, t = peak_rss("fastgrad", steps), peak_rss("torch", steps)
        print(f"peak RSS of a process training the MNIST CNN ({steps} steps, batch 64, one "
              f"thread; each process imports its own library only): fastgrad {f:.0f} MiB, torch {t:.0f} MiB, "
              f"ratio {f / t:.2f}")


if __name__ == "__main__":
    main()
