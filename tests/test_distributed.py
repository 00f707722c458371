"""fastgrad.distributed, DistributedDataParallel and the engine hooks they use.

MPI tests launch ``mpiexec -n 1`` / ``-n 2`` subprocesses (a few seconds each, with a timeout) that
run both backends in one job; they skip without mpi4py or mpiexec. The hook tests run in process.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import fastgrad
import pytest
from fastgrad import _backend

_HAVE_CPP = "cpp" in _backend.available()
_BACKENDS = ["cpp", "python"] if _HAVE_CPP else ["python"]


def _mpiexec() -> str | None:
    # The mpiexec of mpi4py's MPI: the mpich wheel puts it next to python (a system mpiexec of
    # another MPI would start ranks that each run alone).
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or _mpiexec() is None
    # tools/sanitize.sh preloads libasan: MPICH and its launcher are not built for that, and the
    # in-process hook tests below cover fastgrad's C++ side under the sanitizer.
    or "libasan" in os.environ.get("LD_PRELOAD", ""),
    reason="mpi4py or mpiexec not installed (pip install \"fastgrad[distributed]\"), or "
           "running under tools/sanitize.sh")

_PRELUDE = """
import os, sys
import numpy as np
import fastgrad
import fastgrad.distributed as dist
BACKENDS = {backends!r}
"""


def _run(tmp_path: Path, n: int | None, body: str, timeout: float = 60,
         env: dict | None = None, runner: tuple = ("-m", "mpi4py")) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(_PRELUDE.format(backends=_BACKENDS) + textwrap.dedent(body))
    e = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(fastgrad.__file__)))  # no resolve()
    e["PYTHONPATH"] = pkg + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("OMP_NUM_THREADS", "1")
    e.update(env or {})
    cmd = [sys.executable, *runner, str(script)]
    if n is not None:
        cmd = [_mpiexec(), "-n", str(n), *cmd]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=e,
                          cwd=tmp_path)


def _ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p.stdout


# --- collectives ----------------------------------------------------------------------------------
_COLLECTIVES = """
dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "mpi"
R = dist.ReduceOp
for be in BACKENDS:
    fastgrad.set_backend(be)
    for dt, npdt in ((fastgrad.float32, np.float32), (fastgrad.float64, np.float64),
                     (fastgrad.int64, np.int64)):
        base = np.arange(1, 7, dtype=npdt).reshape(2, 3)
        want = sum(base * (k + 1) for k in range(n))
        t = fastgrad.tensor(base * (r + 1))
        mem = t.numpy().ctypes.data
        v = t._impl.version
        dist.all_reduce(t)
        assert np.array_equal(t.numpy(), want) and t.dtype == dt, (be, dt, t.tolist())
        assert t.numpy().ctypes.data == mem and t._impl.version > v   # own memory, version bumped
        for op, f in ((R.MAX, np.max), (R.MIN, np.min), (R.PRODUCT, np.prod)):
            t = fastgrad.tensor(base * (r + 1))
            dist.all_reduce(t, op)
            assert np.array_equal(t.numpy(), f(np.stack([base * (k + 1) for k in range(n)]), 0))
        if npdt != np.int64:
            t = fastgrad.tensor(base * (r + 1))
            w = dist.all_reduce(t, R.AVG, async_op=True)
            assert w.wait() and w.is_completed()
            assert np.allclose(t.numpy(), want / n)
        for shape in ((0,), (2, 0)):                                       # empty tensors
            e = fastgrad.zeros(*shape, dtype=dt)
            dist.all_reduce(e); dist.broadcast(e, 0)
            lst = [fastgrad.zeros(*shape, dtype=dt) for _ in range(n)]
            dist.all_gather(lst, e)
            assert all(tuple(x.shape) == shape for x in lst)
        t = fastgrad.tensor(base * (r + 1))
        dist.broadcast(t, n - 1)
        assert np.array_equal(t.numpy(), base * n)
        lst = [fastgrad.zeros(2, 3, dtype=dt) for _ in range(n)]
        dist.all_gather(lst, fastgrad.tensor(base + r))
        assert all(np.array_equal(lst[k].numpy(), base + k) for k in range(n))
        out = fastgrad.zeros(2 * n, 3, dtype=dt)
        dist.all_gather_into_tensor(out, fastgrad.tensor(base + r))
        assert np.array_equal(out.numpy(), np.concatenate([base + k for k in range(n)]))
        inp = fastgrad.tensor(np.arange(3 * n, dtype=npdt) + r)
        out = fastgrad.zeros(3, dtype=dt)
        dist.reduce_scatter_tensor(out, inp)
        full = sum(np.arange(3 * n, dtype=npdt) + k for k in range(n))
        assert np.array_equal(out.numpy(), full[3 * r:3 * r + 3])
        t = fastgrad.tensor(base + r)
        dist.reduce(t, dst=0)
        if r == 0:
            assert np.array_equal(t.numpy(), sum(base + k for k in range(n)))
        gl = [fastgrad.zeros(2, 3, dtype=dt) for _ in range(n)] if r == 0 else None
        dist.gather(fastgrad.tensor(base + r), gl, dst=0)
        if r == 0:
            assert all(np.array_equal(gl[k].numpy(), base + k) for k in range(n))
        sl = [fastgrad.tensor(base * k) for k in range(n)] if r == 0 else None
        t = fastgrad.zeros(2, 3, dtype=dt)
        dist.scatter(t, sl, src=0)
        assert np.array_equal(t.numpy(), base * r)
        if n == 2:
            t = fastgrad.tensor(base + r)
            if r == 0:
                dist.send(t, 1, tag=3)
                w = dist.irecv(t, 1); w.wait()
                assert np.array_equal(t.numpy(), base + 10)
            else:
                assert dist.recv(t, tag=3) == 0                     # any source: the sender
                assert np.array_equal(t.numpy(), base)
                dist.isend(fastgrad.tensor(base + 10), 0).wait()
    # a parameter (requires grad) is written through its memory
    p = fastgrad.ones(3, requires_grad=True)
    dist.all_reduce(p)
    assert p.detach().tolist() == [float(n)] * 3
    # errors name the op before any communication
    errs = []
    for call in (lambda: dist.all_reduce(fastgrad.ones(3, 4).t()),
                 lambda: dist.all_reduce(fastgrad.ones(3) > 0),
                 lambda: dist.all_reduce(fastgrad.ones(3, dtype=fastgrad.int64), R.AVG),
                 lambda: dist.all_reduce(fastgrad.ones(3), "sum"),
                 lambda: dist.broadcast(fastgrad.ones(3), n),
                 lambda: dist.all_gather([fastgrad.ones(3)], fastgrad.ones(2)),
                 lambda: dist.all_gather_into_tensor(fastgrad.ones(1), fastgrad.ones(2))):
        try:
            call()
        except (ValueError, TypeError) as ex:
            errs.append(f"{type(ex).__name__}: {ex}")
    assert len(errs) == 7, errs
    assert "not contiguous" in errs[0] and "bool" in errs[1] and "AVG" in errs[2]
objs = [{"w": 1}, "x"] if r == 0 else [None, None]
dist.broadcast_object_list(objs, src=0)
assert objs == [{"w": 1}, "x"]
got = [None] * n
dist.all_gather_object(got, ("rank", r))
assert got == [("rank", k) for k in range(n)]
try:   # fastgrad.utils.data (branch h2-data): rank and world size from the process group
    from fastgrad.utils.data.distributed import DistributedSampler
except ImportError:
    DistributedSampler = None
if DistributedSampler is not None:
    for shuffle in (False, True):
        s = DistributedSampler(list(range(7)), shuffle=shuffle, seed=3)
        s.set_epoch(2)
        mine = list(s)
        shards = [None] * n
        dist.all_gather_object(shards, mine)
        assert len(mine) == -(-7 // n) and sorted(set(sum(shards, []))) == list(range(7))
        assert len(set(sum(shards, []))) == 7
dist.barrier()
dist.destroy_process_group()
assert not dist.is_initialized()
print("OK", r, n)
"""


@needs_mpi
@pytest.mark.parametrize("n", [1, 2])
def test_collectives(tmp_path: Path, n: int) -> None:
    out = _ok(_run(tmp_path, n, _COLLECTIVES))
    assert out.count("OK") == n  # the ranks' lines may interleave


def test_import_does_not_need_mpi() -> None:
    code = ("import sys, fastgrad, fastgrad.distributed, fastgrad.nn.parallel; "
            "assert 'mpi4py' not in sys.modules; "
            "assert not fastgrad.distributed.is_initialized()")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(
                       os.path.abspath(fastgrad.__file__)))})


def test_uninitialized_errors() -> None:
    import fastgrad.distributed as dist
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend 'gloo'"):
        dist.init_process_group("gloo")


# --- DistributedDataParallel ----------------------------------------------------------------------
_DDP = """
import fastgrad.nn as nn, fastgrad.nn.functional as F
from fastgrad.nn.parallel import DistributedDataParallel as DDP
dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
rng = np.random.default_rng(1)
X = rng.standard_normal((4, 4 * n, 5)).astype(np.float32)
Y = rng.integers(0, 3, (4, 4 * n))

def net():
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3))

def flat(m):
    return np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])

def same_on_all_ranks(a):
    allv = [None] * n
    dist.all_gather_object(allv, a.tobytes())
    return all(x == allv[0] for x in allv)

for be in BACKENDS:
    fastgrad.set_backend(be)
    fastgrad.manual_seed(100 + r)               # different weights per rank: DDP broadcasts rank 0's
    local = net()
    ref = net(); ref.load_state_dict(local.state_dict())   # rank 0's ref is the single process
    model = DDP(local, bucket_cap_mb=0.0002)    # several buckets
    assert len(model._buckets) > 1 and model.module is local
    assert list(model.state_dict())[0] == "module.0.weight"
    assert same_on_all_ranks(flat(model))
    opt = fastgrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for s in range(4):
        opt.zero_grad()
        if s == 2:                              # gradient accumulation: two halves, no_sync first
            with model.no_sync():
                F.cross_entropy(model(fastgrad.tensor(X[s, r*4:r*4+2])),
                                fastgrad.tensor(Y[s, r*4:r*4+2])).backward()
            g_local = model.module[0].weight.grad.numpy().copy()
            assert not same_on_all_ranks(g_local) or n == 1   # no communication happened
            loss = F.cross_entropy(model(fastgrad.tensor(X[s, r*4+2:r*4+4])),
                                   fastgrad.tensor(Y[s, r*4+2:r*4+4]))
            loss.backward()
            for p in model.parameters():           # two means of 2 summed = 2x the mean of 4
                p.grad.mul_(0.5)
        else:
            F.cross_entropy(model(fastgrad.tensor(X[s, r*4:r*4+4])),
                            fastgrad.tensor(Y[s, r*4:r*4+4])).backward()
        assert same_on_all_ranks(np.concatenate([p.grad.numpy().ravel()
                                                 for p in model.parameters()]))
        opt.step()
        assert same_on_all_ranks(flat(model))   # bitwise identical after every step
    if r == 0:                                  # single process on the union of the batches
        o2 = fastgrad.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
        for s in range(4):
            o2.zero_grad()
            F.cross_entropy(ref(fastgrad.tensor(X[s])), fastgrad.tensor(Y[s])).backward()
            o2.step()
        err = np.abs(flat(ref) - flat(model)).max()
        assert err < 1e-5, err
    # gradient_as_bucket_view: .grad is the bucket's memory; the same bits as copying
    fastgrad.manual_seed(0)
    a = net(); b2 = net(); b2.load_state_dict(a.state_dict())
    ma, mb = DDP(a), DDP(b2, gradient_as_bucket_view=True, bucket_cap_mb=0.0002)
    oa = fastgrad.optim.SGD(ma.parameters(), lr=0.1, momentum=0.9)
    ob = fastgrad.optim.SGD(mb.parameters(), lr=0.1, momentum=0.9)
    for s in range(3):
        for m, o in ((ma, oa), (mb, ob)):
            o.zero_grad(set_to_none=s != 1)
            F.cross_entropy(m(fastgrad.tensor(X[s, r*4:r*4+4])),
                            fastgrad.tensor(Y[s, r*4:r*4+4])).backward()
            o.step()
        assert np.array_equal(flat(ma), flat(mb))
    # a reentrant checkpoint inside the model: its inner backward fills the same buckets
    class Ck(nn.Module):
        def __init__(self, ck):
            super().__init__()
            self.ck = ck
            self.l0 = nn.Linear(5, 6); self.l1 = nn.Linear(6, 6); self.l2 = nn.Linear(6, 3)
        def forward(self, x):
            f = lambda h: self.l1(h).relu()
            h = self.l0(x)
            return self.l2(fastgrad.checkpoint(f, h) if self.ck else f(h))
    fastgrad.manual_seed(0)
    plain = Ck(False); ck = Ck(True); ck.load_state_dict(plain.state_dict())
    grads = []
    for m in (DDP(plain, bucket_cap_mb=0.0001), DDP(ck, bucket_cap_mb=0.0001)):
        F.cross_entropy(m(fastgrad.tensor(X[0, r*4:r*4+4])),
                        fastgrad.tensor(Y[0, r*4:r*4+4])).backward()
        grads.append(np.concatenate([p.grad.numpy().ravel() for p in m.parameters()]))
    assert np.array_equal(grads[0], grads[1])
    # find_unused_parameters: a branch only rank 0 uses; a layer no rank uses keeps .grad None
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2); self.b = nn.Linear(3, 2); self.c = nn.Linear(3, 2)
        def forward(self, x, use_b):
            return self.a(x) + (self.b(x) if use_b else 0)
    fastgrad.manual_seed(0)
    m = DDP(Two(), find_unused_parameters=True)
    m(fastgrad.ones(1, 3), r == 0).sum().backward()
    assert m.module.c.weight.grad is None
    assert np.allclose(m.module.b.weight.grad.numpy(), 1.0 / n)
    assert same_on_all_ranks(m.module.b.weight.grad.numpy())
    m2 = DDP(Two())
    try:
        m2(fastgrad.ones(1, 3), True).sum().backward()
        raise AssertionError("no error for an unused parameter")
    except RuntimeError as ex:
        assert "find_unused_parameters" in str(ex) and "c.weight" in str(ex)
    dist.barrier()
print("OK", r)
"""


@needs_mpi
@pytest.mark.parametrize("n", [1, 2, 3])  # 3: the reduce-scatter + all-gather path
def test_ddp(tmp_path: Path, n: int) -> None:
    out = _ok(_run(tmp_path, n, _DDP))
    assert out.count("OK") == n


# --- faults ---------------------------------------------------------------------------------------
@needs_mpi
def test_raising_rank_ends_job(tmp_path: Path) -> None:
    # Plain `python` (not -m mpi4py): the excepthook init_process_group installs aborts the job.
    p = _run(tmp_path, 2, """
        from datetime import timedelta
        dist.init_process_group("mpi", timeout=timedelta(seconds=120))
        if dist.get_rank() == 1:
            raise ValueError("boom on rank 1")
        dist.barrier()                          # rank 0 would wait 120 s without the abort
        """, timeout=60, runner=())
    assert p.returncode != 0
    assert "ValueError: boom on rank 1" in p.stderr and "Traceback" in p.stderr


@needs_mpi
def test_timeout_raises_on_every_rank(tmp_path: Path) -> None:
    p = _run(tmp_path, 2, """
        from datetime import timedelta
        from mpi4py import MPI
        dist.init_process_group("mpi", timeout=timedelta(seconds=0.5))
        r = dist.get_rank()
        t = fastgrad.zeros(3)
        try:
            dist.recv(t, src=1 - r)             # nobody sends: both ranks wait
        except RuntimeError as e:
            print(f"TIMEOUT {r} {type(e).__name__} {e}", flush=True)
        MPI.COMM_WORLD.Barrier()                # MPI itself still works
        os._exit(0)                             # the group's requests are still pending
        """, timeout=60)
    # (the two ranks' lines may interleave)
    assert p.stdout.count("DistTimeoutError") == 2, p.stdout + p.stderr
    assert "recv: rank 0 of 2 waited" in p.stdout and "recv: rank 1 of 2 waited" in p.stdout
    assert "process group's timeout (0.5 s)" in p.stdout


@needs_mpi
def test_hung_rank_times_out_and_ends_job(tmp_path: Path) -> None:
    p = _run(tmp_path, 2, """
        import time
        from datetime import timedelta
        dist.init_process_group("mpi", timeout=timedelta(seconds=0.5))
        if dist.get_rank() == 1:
            time.sleep(120)                     # a hung rank; the abort ends it
        dist.all_reduce(fastgrad.ones(3))
        """, timeout=60)
    assert p.returncode != 0
    assert "DistTimeoutError: all_reduce: rank 0 of 2 waited" in p.stderr


@needs_mpi
def test_mismatched_launcher_is_named(tmp_path: Path) -> None:
    # As if Open MPI's mpirun had started this process with an MPICH mpi4py: a world of 1.
    p = _run(tmp_path, 1, """
        dist.init_process_group("mpi")
        """, env={"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"}, runner=())
    assert p.returncode != 0
    assert "Open MPI's mpirun/mpiexec started 2 (OMPI_COMM_WORLD_SIZE=2)" in p.stderr
    assert "mpi4py uses:" in p.stderr


# --- engine hooks (in process) --------------------------------------------------------------------
def test_post_accumulate_grad_hook(backend: str) -> None:
    w = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    b = fastgrad.tensor([3.0], requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda t: seen.append(("w", t.grad.tolist())))
    b.register_post_accumulate_grad_hook(lambda t: seen.append(("b", t.grad.tolist())))
    ((w * w).sum() + b.sum() * 2).backward()
    assert sorted(seen) == [("b", [2.0]), ("w", [2.0, 4.0])]   # .grad already accumulated
    seen.clear()
    (w * 3).sum().backward()
    assert seen == [("w", [5.0, 7.0])]          # the sum with the earlier .grad
    h.remove()
    seen.clear()
    (w * 3).sum().backward()
    assert seen == []
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook"):
        fastgrad.ones(2).register_post_accumulate_grad_hook(lambda t: None)


def test_queue_callback(backend: str) -> None:
    from fastgrad.autograd.graph import Variable, queue_callback
    w = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    order = []

    def hook(t: fastgrad.Tensor) -> None:
        order.append("hook")
        queue_callback(lambda: order.append(("end", t.grad.tolist())))
        Variable._execution_engine.queue_callback(lambda: order.append("end2"))

    w.register_post_accumulate_grad_hook(hook)
    (w * w).sum().backward()
    assert order == ["hook", ("end", [2.0, 4.0]), "end2"]
    order.clear()
    fastgrad.autograd.grad((w * w).sum(), w)    # no accumulation into w: no hook, no callback
    assert order == []
    order.clear()
    fastgrad.autograd.backward([(w * 2).sum()])
    assert order[0] == "hook" and order[-1] == "end2"
    with pytest.raises(RuntimeError, match="during a backward pass"):
        queue_callback(lambda: None)
