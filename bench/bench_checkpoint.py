"""Peak memory of one training step (forward + backward) of a deep MLP, with and without
activation checkpointing (fastgrad.checkpoint_sequential), each configuration in a fresh process.

Model: LAYERS x (Linear(WIDTH, WIDTH) + ReLU), batch BATCH, loss = mean(out ** 2), float32.
Per configuration it prints peak RSS (ru_maxrss), the RSS once parameters and their .grad
buffers exist, and the difference: what the step itself needs (activations + backward
temporaries), which checkpointing shrinks. Also the step time, and PyTorch's own checkpoint as
a reference when torch is installed. Not a test: nothing asserted.

Usage: python bench/bench_checkpoint.py [--threads 1] [--backend cpp] runs the two PRESETS;
       [--layers 16] [--width 2048] [--batch 256] [--segments 4] runs one configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(a: argparse.Namespace) -> dict:
    import time

    if a.child == "torch":
        import torch as lib
        from torch.utils.checkpoint import checkpoint_sequential

        def ckpt(model, segments, x):  # type: ignore[no-untyped-def]
            return checkpoint_sequential(model, segments, x, use_reentrant=False)
    else:
        import fastgrad as lib

        lib.set_backend(a.backend)
        ckpt = lib.checkpoint_sequential
    lib.set_num_threads(a.threads)
    lib.manual_seed(0)

    def mlp(depth: int, width: int):  # type: ignore[no-untyped-def]
        layers = []
        for _ in range(depth):
            layers += [lib.nn.Linear(width, width), lib.nn.ReLU()]
        return lib.nn.Sequential(*layers)

    tiny = mlp(2, 8)  # warm-up: one-time initialisation is not part of the step
    ckpt(tiny, 2, lib.randn(2, 8, requires_grad=True)).sum().backward()
    model = mlp(a.layers, a.width)
    for p in model.parameters():
        p.grad = lib.zeros_like(p)
    x = lib.randn(a.batch, a.width)
    base = rss_mb()
    t = time.perf_counter()
    out = ckpt(model, a.segments, x) if a.segments else model(x)
    (out * out).mean().backward()
    seconds = time.perf_counter() - t
    return {"base": base, "peak": peak_mb(), "seconds": seconds,
            "threads": lib.get_num_threads()}


def run(a: argparse.Namespace, lib: str, segments: int) -> dict | None:
    cmd = [sys.executable, __file__, "--child", lib, "--layers", str(a.layers), "--width",
           str(a.width), "--batch", str(a.batch), "--segments", str(segments), "--threads",
           str(a.threads), "--backend", a.backend]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        if lib == "torch" and "No module named 'torch'" in r.stderr:
            return None
        raise RuntimeError(f"{lib} child failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# (layers, width, batch, segments): the example, where parameters and their gradients
# are most of the memory, and a deeper, activation-dominated MLP.
PRESETS = ((16, 2048, 256, 4), (64, 512, 4096, 8))


def report(a: argparse.Namespace) -> None:
    print(f"\nMLP {a.layers} x (Linear({a.width}, {a.width}) + ReLU), batch {a.batch}, float32, "
          f"{a.threads} thread(s); checkpoint_sequential with {a.segments} segments")
    print(f"{'library':<18}{'mode':<14}{'peak MB':>9}{'params+grads MB':>17}{'step MB':>9}"
          f"{'step s':>8}")
    for lib in (f"fastgrad-{a.backend}", "torch"):
        rows = {}
        for mode, seg in (("plain", 0), ("checkpointed", a.segments)):
            r = run(a, "torch" if lib == "torch" else "fastgrad", seg)
            if r is None:
                print(f"{lib:<18}(not installed)")
                break
            rows[mode] = r
            print(f"{lib:<18}{mode:<14}{r['peak']:>9.0f}{r['base']:>17.0f}"
                  f"{r['peak'] - r['base']:>9.0f}{r['seconds']:>8.2f}")
        if len(rows) == 2:
            plain, ck = rows["plain"], rows["checkpointed"]
            step = (plain["peak"] - plain["base"]) / max(ck["peak"] - ck["base"], 1e-9)
            print(f"{lib:<18}plain/checkpointed: peak {plain['peak'] / ck['peak']:.2f}x, step "
                  f"memory {step:.2f}x; checkpointed takes {ck['seconds'] / plain['seconds']:.2f}x "
                  "the time")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--segments", type=int)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--backend", default="cpp")
    p.add_argument("--child", choices=["fastgrad", "torch"])
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a)))
        return
    given = (a.layers, a.width, a.batch, a.segments)
    configs = PRESETS if given == (None,) * 4 else [
        tuple(v if v is not None else d for v, d in zip(given, PRESETS[0]))]
    for a.layers, a.width, a.batch, a.segments in configs:
        report(a)


if __name__ == "__main__":
    main()
