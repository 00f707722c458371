# Benchmark of fastgrad.distributed and DistributedDataParallel beside PyTorch's DDP (gloo):
# all-reduce GB/s by size beside a memory copy, and the 784-512-256-10 MLP step at batch 128 per
# rank on 1 and 2 ranks with two controls. A script, not a test: run `python bench/distributed.py`.
"""Run ``python bench/distributed.py`` (it launches ``mpiexec`` itself; needs mpi4py + mpich).

Configurations (one thread per rank unless said; OMP/OpenBLAS threads pinned):
  allreduce   2 ranks, in-place all_reduce of float32 tensors of 10^3..10^7 elements (fastgrad),
              the same through mpi4py on NumPy arrays, torch.distributed gloo; a memcpy beside.
  step        the MLP training step (forward, cross-entropy, backward, SGD momentum):
              1 rank; 2 ranks DDP; 2 ranks without communication (control); 1 rank, 2 threads
              (control). fastgrad and PyTorch in the same runs, alternating.
Figures: GB/s = buffer bytes / time (algorithm bandwidth); step times min / median in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SIZES = [10**3, 10**4, 10**5, 10**6, 4 * 10**6, 10**7]


def _mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else (shutil.which("mpiexec") or "mpiexec")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(n: int, *args: str, threads: int = 1) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", BENCH_PORT=str(_free_port()))
    out = subprocess.run([_mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", str(HERE),
                          "--worker", *args], capture_output=True, text=True, env=env,
                         timeout=900, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{out.stdout}\n{out.stderr}")
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


# --- workers (run under mpiexec) -----------------------------------------------------------------
def _torch_dist(rank: int, world: int):
    import torch.distributed as tdist
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{os.environ['BENCH_PORT']}",
                             rank=rank, world_size=world)
    return tdist


def _times(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def worker_allreduce() -> None:
    import fastgrad
    import fastgrad.distributed as dist
    from mpi4py import MPI
    fastgrad.set_num_threads(1)
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        import torch
        torch.set_num_threads(1)
        tdist = _torch_dist(rank, world)
    except ImportError:
        torch = tdist = None
    res = {}
    comm = MPI.COMM_WORLD
    for n in SIZES:
        reps = max(5, min(200, int(2e7 // n)))
        t = fastgrad.ones(n)
        a = np.ones(n, dtype=np.float32)
        src = np.ones(n, dtype=np.float32)
        dst = np.empty_like(src)
        tt = torch.ones(n) if torch is not None else None
        row = {"fastgrad": [], "mpi4py": [], "torch_gloo": [], "memcpy": []}
        for _ in range(3):  # alternate the contestants
            dist.barrier()
            row["fastgrad"] += _times(lambda: dist.all_reduce(t), reps)  # noqa: B023
            comm.Barrier()
            row["mpi4py"] += _times(lambda: comm.Allreduce(MPI.IN_PLACE, a), reps)  # noqa: B023
            if tdist is not None:
                tdist.barrier()
                row["torch_gloo"] += _times(lambda: tdist.all_reduce(tt), reps)  # noqa: B023
            row["memcpy"] += _times(lambda: np.copyto(dst, src), reps)  # noqa: B023
        res[n] = {k: (4 * n / float(np.median(v)) / 1e9 if v else None) for k, v in row.items()}
    if rank == 0:
        print("RESULT " + json.dumps(res), flush=True)


def _fg_mlp(mode: str, threads: int, rank: int):
    import fastgrad
    import fastgrad.nn.functional as F
    from fastgrad import nn
    fastgrad.set_num_threads(threads)
    fastgrad.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                        nn.Linear(256, 10))
    model = net
    if mode == "ddp":
        from fastgrad.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(net)
    opt = fastgrad.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(rank)
    x = fastgrad.from_numpy(rng.standard_normal((128, 784)).astype(np.float32))
    y = fastgrad.from_numpy(rng.integers(0, 10, 128))

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def _torch_mlp(mode: str, threads: int, rank: int):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    model = net
    if mode == "ddp":
        model = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(rank)
    x = torch.randn(128, 784, generator=g)
    y = torch.randint(0, 10, (128,), generator=g)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def worker_step(mode: str, threads: int) -> None:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, world = comm.Get_rank(), comm.Get_size()
    if mode == "ddp":
        import fastgrad.distributed as dist
        dist.init_process_group("mpi")
    fns = {"fastgrad": _fg_mlp(mode, threads, rank)}
    try:
        import torch  # noqa: F401
        if mode == "ddp":
            _torch_dist(rank, world)
        fns["torch"] = _torch_mlp(mode, threads, rank)
    except ImportError:
        pass
    times: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        for _ in range(5):
            f()
    for _ in range(6):  # alternate
        for k, f in fns.items():
            comm.Barrier()
            times[k] += _times(f, 10)
    if rank == 0:
        print("RESULT " + json.dumps({k: [1e3 * min(v), 1e3 * float(np.median(v))]
                                      for k, v in times.items()}), flush=True)


# --- driver ---------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker", nargs="*")
    p.add_argument("--only", choices=("allreduce", "step"), default=None)
    a = p.parse_args()
    if a.worker is not None:
        kind = a.worker[0]
        if kind == "allreduce":
            worker_allreduce()
        else:
            worker_step(a.worker[1], int(a.worker[2]))
        return
    print(f"machine: {os.cpu_count()} vCPUs, load average {os.getloadavg()[0]:.1f} "
          "(shared with other jobs: figures are noisy)")
    if a.only in (None, "allreduce"):
        r = _launch(2, "allreduce")
        print("\nall_reduce, 2 ranks, float32 in place, GB/s (buffer bytes / median time)")
        print(f"{'elements':>10} {'MB':>7} {'fastgrad':>9} {'mpi4py':>8} {'gloo':>8} "
              f"{'memcpy':>8} {'fg/copy':>8}")
        for n, row in r.items():
            n = int(n)
            g = row["torch_gloo"]
            print(f"{n:>10} {4 * n / 1e6:>7.3f} {row['fastgrad']:>9.2f} {row['mpi4py']:>8.2f} "
                  f"{(f'{g:.2f}' if g else '-'):>8} {row['memcpy']:>8.2f} "
                  f"{row['fastgrad'] / row['memcpy']:>8.2f}")
    if a.only in (None, "step"):
        print("\nMLP 784-512-256-10, batch 128 per rank, SGD momentum: step time ms (min / median)")
        confs = [("1 rank, 1 thread", 1, "single", 1), ("2 ranks DDP", 2, "ddp", 1),
                 ("2 ranks, no communication", 2, "single", 1), ("1 rank, 2 threads", 1,
                                                                 "single", 2)]
        for name, n, mode, th in confs:
            r = _launch(n, "step", mode, str(th), threads=th)
            fg = r["fastgrad"]
            line = f"{name:<28} fastgrad {fg[0]:7.2f} / {fg[1]:7.2f}"
            if "torch" in r:
                t = r["torch"]
                line += f"   torch {t[0]:7.2f} / {t[1]:7.2f}   ratio (median) {fg[1] / t[1]:.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
