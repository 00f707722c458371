"""Smoke test of an installed wheel, run by tools/build_wheel.sh in a venv that has only NumPy and
the wheel. Checks the import comes from that venv with the bundled OpenMP runtime, prints
show_config(), and runs a multithreaded product and a few training steps against NumPy.
Usage: python tools/wheel_smoke.py VENV_DIR. Not a pytest file."""

from __future__ import annotations

import os
import sys

import numpy as np


def fail(msg: str) -> None:
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main(venv: str) -> None:
    import fastgrad
    from fastgrad._config import config

    venv = os.path.realpath(venv)
    if not os.path.realpath(fastgrad.__file__).startswith(venv + os.sep):
        fail(f"fastgrad imported from {fastgrad.__file__}, not from {venv}")
    fastgrad.show_config()
    ext = config()["extension"]
    if ext is None:
        fail("the C++ extension did not import")
    if ext["native"] or "-march" in ext["flags"] or "-mavx" in ext["flags"]:
        fail(f"the wheel was built for one CPU only: {ext['flags']}")
    level = os.environ.get("FASTGRAD_GEMM_LEVEL")
    if level and not (ext["gemm_float32"].startswith(level)
                      and ext["gemm_float64"].startswith(level)):
        fail(f"FASTGRAD_GEMM_LEVEL={level} but the kernels are {ext['gemm_float32']}, "
             f"{ext['gemm_float64']}")
    with open("/proc/self/maps") as f:
        gomp = {line.split()[-1] for line in f if "libgomp" in line}
    if not gomp or not all("fastgrad.libs" in p and p.startswith(venv) for p in gomp):
        fail(f"OpenMP runtime not the one bundled in the wheel: {sorted(gomp)}")

    rng = np.random.default_rng(0)
    a = rng.standard_normal((700, 600)).astype(np.float32)
    b = rng.standard_normal((600, 500)).astype(np.float32)
    fastgrad.set_num_threads(2)
    c2 = (fastgrad.tensor(a) @ fastgrad.tensor(b)).numpy()
    fastgrad.set_num_threads(1)
    c1 = (fastgrad.tensor(a) @ fastgrad.tensor(b)).numpy()
    if not np.array_equal(c1, c2):
        fail("matmul differs between 1 and 2 threads")
    err = np.abs(c1 - a @ b).max()
    if err > 1e-3:
        fail(f"matmul differs from NumPy by {err}")

    fastgrad.manual_seed(0)  # the same initial weights in every run
    xs = rng.standard_normal((64, 8)).astype(np.float32)
    x, y = fastgrad.tensor(xs), fastgrad.tensor(xs[:, :3].argmax(1))  # a learnable labelling
    model = fastgrad.nn.Sequential(fastgrad.nn.Linear(8, 16), fastgrad.nn.ReLU(),
                                   fastgrad.nn.Linear(16, 3))
    opt = fastgrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(30):
        loss = fastgrad.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    if not losses[-1] < 0.5 * losses[0]:
        fail(f"training did not reduce the loss: {losses[0]:.4f} -> {losses[-1]:.4f}")
    print(f"wheel smoke test passed: matmul error {err:.2e}, loss {losses[0]:.4f} -> "
          f"{losses[-1]:.4f}, OpenMP from {min(gomp)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: wheel_smoke.py VENV_DIR")
    main(sys.argv[1])
