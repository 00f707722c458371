# The MPI process group behind fastgrad.distributed: collectives on the tensors' own memory (a
# contiguous tensor's .numpy() is a view), non-blocking MPI requests polled against the group's
# timeout. Not a launcher: processes come from `mpiexec`; mpi4py is imported lazily.
from __future__ import annotations

import importlib.util
import os
import pickle
import sys
import time
from datetime import timedelta
from typing import Any, Callable

import numpy as np

from fastgrad.tensor import Tensor

_DEFAULT_TIMEOUT = timedelta(minutes=30)  # torch.distributed's default for non-NCCL backends
_SPIN = 0.05  # seconds of tight polling before a wait starts sleeping


class DistTimeoutError(RuntimeError):
    """A collective or point-to-point operation waited past the process group's timeout."""


class ReduceOp:
    """The reduction of all_reduce / reduce / reduce_scatter_tensor: ``ReduceOp.SUM`` etc."""

    SUM: ReduceOp
    AVG: ReduceOp
    PRODUCT: ReduceOp
    MIN: ReduceOp
    MAX: ReduceOp

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<ReduceOp.{self.name}>"


for _n in ("SUM", "AVG", "PRODUCT", "MIN", "MAX"):
    setattr(ReduceOp, _n, ReduceOp(_n))


class ProcessGroup:
    """All processes of the job (MPI_COMM_WORLD, duplicated), with the group's timeout."""

    def __init__(self, comm: Any, timeout: float) -> None:
        self.comm = comm
        self.timeout = timeout
        self._rank = comm.Get_rank()
        self._size = comm.Get_size()

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"ProcessGroup(backend='mpi', rank={self._rank}, size={self._size})"


class GroupMember:
    """``GroupMember.WORLD``: the default group once ``init_process_group`` has run."""

    WORLD: ProcessGroup | None = None


_state: dict[str, Any] = {"group": None, "prev_excepthook": None}


def _MPI() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("fastgrad.distributed needs mpi4py and an MPI: "
                           "pip install \"fastgrad[distributed]\" (mpi4py and mpich)") from e
    return MPI


def is_mpi_available() -> bool:
    """True if mpi4py can be imported (checked without importing it: that would start MPI)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_available() -> bool:
    """True if this build can run distributed (fastgrad.distributed needs mpi4py)."""
    return is_mpi_available()


def is_initialized() -> bool:
    return _state["group"] is not None


def _group(group: Any, name: str) -> ProcessGroup:
    g = _state["group"]
    if g is None:
        raise RuntimeError(f"{name}: the default process group is not initialized; call "
                           "fastgrad.distributed.init_process_group('mpi') first")
    if group is not None and group is not g:
        raise ValueError(f"{name}: only the default group (group=None) is supported")
    return g


def get_rank(group: Any = None) -> int:
    return _group(group, "get_rank").rank()


def get_world_size(group: Any = None) -> int:
    return _group(group, "get_world_size").size()


def get_backend(group: Any = None) -> str:
    _group(group, "get_backend")
    return "mpi"


# Environment variables launchers set in every process: name -> who sets it.
_LAUNCHER_VARS = (
    ("OMPI_COMM_WORLD_SIZE", "Open MPI's mpirun/mpiexec"),
    ("PMI_SIZE", "an MPICH-family launcher (Hydra mpiexec, Intel MPI, PMI-1/2)"),
    ("PMIX_SIZE", "a PMIx launcher"),
    ("MV2_COMM_WORLD_SIZE", "MVAPICH's launcher"),
    ("MPI_LOCALNRANKS", "an MPICH-family launcher"),
    ("SLURM_STEP_NUM_TASKS", "Slurm's srun"),
)


def _launcher_mismatch(MPI: Any) -> str | None:
    """A message if this process sees a world of 1 while its launcher started several."""
    for var, who in _LAUNCHER_VARS:
        v = os.environ.get(var)
        if v is not None and v.strip().isdigit() and int(v) > 1:
            lib = MPI.Get_library_version().strip().splitlines()[0]
            return (f"init_process_group: this process sees an MPI world of 1 process, but "
                    f"{who} started {v} ({var}={v}): the launcher and mpi4py's MPI library "
                    f"differ, so every rank runs alone. mpi4py uses: {lib!r} (`python -m mpi4py "
                    f"--mpi-library` shows its path). Launch with that MPI's own mpiexec (the "
                    f"mpich wheel installs it next to python: {os.path.dirname(sys.executable)}), "
                    f"or rebuild mpi4py against the launcher's MPI (pip install --no-binary "
                    f"mpi4py mpi4py).")
    return None


def _abort_on_uncaught(etype: Any, value: Any, tb: Any) -> None:
    prev = _state["prev_excepthook"] or sys.__excepthook__
    prev(etype, value, tb)
    g = _state["group"]
    if g is not None and g.size() > 1:
        try:
            sys.stderr.write(f"fastgrad.distributed: rank {g.rank()} raised; aborting the job\n")
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            g.comm.Abort(1)


def init_process_group(backend: str | None = "mpi", init_method: str | None = None,
                       timeout: timedelta | None = None, world_size: int = -1, rank: int = -1,
                       store: Any = None, group_name: str = "", pg_options: Any = None,
                       device_id: Any = None) -> None:
    """Joins the job ``mpiexec`` started: afterwards get_rank(), get_world_size(), collectives.

    ``backend`` must be "mpi" (None means "mpi"); ``init_method`` and ``store`` are not used (MPI
    knows its peers from the launcher). ``world_size`` / ``rank``, when given, are checked against
    MPI's. ``timeout`` (default 30 minutes) bounds every wait: an operation still unfinished then
    raises DistTimeoutError on the rank that waits. An uncaught exception on any rank then ends
    the whole job (an excepthook prints the traceback and calls MPI_Abort). A launcher of another
    MPI than mpi4py's (each rank alone in a world of 1) is detected and named.
    Example: ``init_process_group("mpi", timeout=timedelta(seconds=60))``.
    """
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not supported; fastgrad "
                         "runs on MPI (backend='mpi')")
    if store is not None:
        raise ValueError("init_process_group: store is not supported by the MPI backend")
    if _state["group"] is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process group "
                           "twice (call destroy_process_group first)")
    t = _DEFAULT_TIMEOUT if timeout is None else timeout
    secs = t.total_seconds() if isinstance(t, timedelta) else float(t)
    if secs <= 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {timeout!r}")
    MPI = _MPI()
    if not MPI.Is_initialized() or MPI.Is_finalized():
        raise RuntimeError("init_process_group: MPI is not initialized (mpi4py.rc.initialize = "
                           "False?) or already finalized")
    world = MPI.COMM_WORLD
    if world.Get_size() == 1:
        msg = _launcher_mismatch(MPI)
        if msg is not None:
            raise RuntimeError(msg)
    if world_size not in (-1, None) and int(world_size) != world.Get_size():
        raise ValueError(f"init_process_group: world_size={world_size} but mpiexec started "
                         f"{world.Get_size()} processes")
    if rank not in (-1, None) and int(rank) != world.Get_rank():
        raise ValueError(f"init_process_group: rank={rank} but MPI says this is rank "
                         f"{world.Get_rank()}")
    g = ProcessGroup(world.Dup(), secs)
    _state["group"] = g
    GroupMember.WORLD = g
    if sys.excepthook is not _abort_on_uncaught:
        _state["prev_excepthook"] = sys.excepthook
        sys.excepthook = _abort_on_uncaught


def destroy_process_group(group: Any = None) -> None:
    """Leaves the group (frees its communicator and restores sys.excepthook)."""
    g = _group(group, "destroy_process_group")
    _state["group"] = None
    GroupMember.WORLD = None
    if sys.excepthook is _abort_on_uncaught:
        sys.excepthook = _state["prev_excepthook"] or sys.__excepthook__
    _state["prev_excepthook"] = None
    g.comm.Free()


# --- waiting --------------------------------------------------------------------------------------
class Work:
    """An operation in flight (``async_op=True``): ``wait()`` until it is done, ``is_completed()``.

    ``wait`` polls the MPI requests (MPI_Testall with short sleeps, so a loaded machine is not
    spun on) until the group's timeout, then raises DistTimeoutError naming the op and the rank.
    """

    def __init__(self, what: str, group: ProcessGroup, requests: list,
                 finish: Callable[[], Any] | None = None) -> None:
        self.what = what
        self._group = group
        self._requests = requests
        self._finish = finish
        self._done = False
        self._result: Any = None
        self._statuses: list | None = None  # filled by MPI_Testall when set (irecv's source)

    def is_completed(self) -> bool:
        if self._done:
            return True
        return bool(_MPI().Request.Testall(self._requests, self._statuses))

    def wait(self, timeout: timedelta | None = None) -> bool:
        if self._done:
            return True
        MPI = _MPI()
        limit = self._group.timeout if timeout is None else (
            timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout))
        reqs, sts = self._requests, self._statuses
        if not MPI.Request.Testall(reqs, sts):
            # MPI advances a non-blocking collective only inside MPI calls: poll tightly for the
            # first _SPIN seconds (yielding the core to other runnable processes, as MPI_Wait
            # would spin), then with sleeps of up to 1 ms so that a long wait costs no CPU.
            start = time.monotonic()
            deadline = start + limit
            while not MPI.Request.Testall(reqs, sts):
                now = time.monotonic()
                if now - start < _SPIN and now < deadline:
                    os.sched_yield()
                    continue
                time.sleep(min(1e-3, 0.05 * (now - start)))
                if time.monotonic() > deadline:
                    raise DistTimeoutError(
                        f"{self.what}: rank {self._group.rank()} of {self._group.size()} waited "
                        f"more than the process group's timeout ({limit:g} s); a rank did not "
                        f"take part (it hung, died or called another operation). The process "
                        f"group cannot be used after this.")
        self._done = True
        if self._finish is not None:
            self._result = self._finish()
        return True

    def result(self) -> Any:
        self.wait()
        return self._result

    def __repr__(self) -> str:
        return f"<Work {self.what} {'done' if self._done else 'pending'}>"


def _run(work: Work, async_op: bool) -> Work | None:
    if async_op:
        return work
    work.wait()
    return None


# --- buffers --------------------------------------------------------------------------------------
_NP_TO_MPI = {np.dtype(np.float32): "FLOAT", np.dtype(np.float64): "DOUBLE",
              np.dtype(np.int64): "INT64_T"}


def _buf(t: Any, op: str, what: str = "tensor") -> tuple[np.ndarray, Any]:
    """t's own memory as a flat NumPy view and the MPI datatype (no copy)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a fastgrad Tensor for {what}, got {type(t).__name__}")
    if not t.is_contiguous():
        raise ValueError(f"{op}: {what} of shape {tuple(t.shape)} is not contiguous; MPI works on "
                         f"one block of memory (pass t.contiguous() and copy the result back)")
    a = t.detach().numpy()
    name = _NP_TO_MPI.get(a.dtype)
    if name is None:
        raise TypeError(f"{op}: {what} has dtype {a.dtype}; fastgrad.distributed supports "
                        f"float32, float64 and int64")
    return a.reshape(-1), getattr(_MPI(), name)


def _written(*ts: Tensor) -> None:
    """The backend's version counter of tensors MPI wrote (autograd's saved-tensor check)."""
    for t in ts:
        t._b.bump_version(t._impl)


def _mpi_op(op: Any, name: str, dtype: np.dtype) -> Any:
    MPI = _MPI()
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{name}: op must be a fastgrad.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and dtype.kind != "f":
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    return {"SUM": MPI.SUM, "AVG": MPI.SUM, "PRODUCT": MPI.PROD, "MIN": MPI.MIN,
            "MAX": MPI.MAX}[op.name]


def _avg(a: np.ndarray, op: ReduceOp, size: int) -> None:
    if op is ReduceOp.AVG and a.size:
        np.divide(a, a.dtype.type(size), out=a)  # the same on every rank: the same bits


# --- collectives ----------------------------------------------------------------------------------
def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Reduces ``tensor`` over all ranks in place (MPI_Iallreduce on its memory).

    Every rank ends with the same values; ``op`` is ReduceOp.SUM, AVG (floats), PRODUCT, MIN or
    MAX. Example: ``all_reduce(g, ReduceOp.AVG)``.
    """
    g = _group(group, "all_reduce")
    a, dt = _buf(tensor, "all_reduce")
    mop = _mpi_op(op, "all_reduce", a.dtype)
    req = g.comm.Iallreduce(_MPI().IN_PLACE, [a, dt], mop)

    def finish() -> None:
        _avg(a, op, g.size())
        _written(tensor)

    return _run(Work("all_reduce", g, [req], finish), async_op)


def broadcast(tensor: Tensor, src: int = 0, group: Any = None, async_op: bool = False,
              group_src: int | None = None) -> Work | None:
    """Copies rank ``src``'s ``tensor`` into every other rank's ``tensor`` (in place)."""
    g = _group(group, "broadcast")
    src = _check_rank(g, src if group_src is None else group_src, "broadcast", "src")
    a, dt = _buf(tensor, "broadcast")
    req = g.comm.Ibcast([a, dt], root=src)
    return _run(Work("broadcast", g, [req], lambda: _written(tensor)), async_op)


def reduce(tensor: Tensor, dst: int = 0, op: ReduceOp = ReduceOp.SUM, group: Any = None,
           async_op: bool = False, group_dst: int | None = None) -> Work | None:
    """Reduces ``tensor`` over all ranks into rank ``dst``'s ``tensor`` (others keep theirs)."""
    g = _group(group, "reduce")
    dst = _check_rank(g, dst if group_dst is None else group_dst, "reduce", "dst")
    a, dt = _buf(tensor, "reduce")
    mop = _mpi_op(op, "reduce", a.dtype)
    MPI = _MPI()
    mine = g.rank() == dst
    if mine:
        req = g.comm.Ireduce(MPI.IN_PLACE, [a, dt], mop, root=dst)
    else:
        req = g.comm.Ireduce([a, dt], None, mop, root=dst)

    def finish() -> None:
        if mine:
            _avg(a, op, g.size())
            _written(tensor)

    return _run(Work("reduce", g, [req], finish), async_op)


def _check_rank(g: ProcessGroup, r: int, name: str, what: str) -> int:
    r = int(r)
    if not 0 <= r < g.size():
        raise ValueError(f"{name}: {what}={r} is not a rank of a group of {g.size()}")
    return r


def _check_list(ts: Any, g: ProcessGroup, like: Tensor, name: str, what: str) -> list:
    if not isinstance(ts, (list, tuple)) or len(ts) != g.size():
        n = len(ts) if isinstance(ts, (list, tuple)) else type(ts).__name__
        raise ValueError(f"{name}: {what} must be a list of {g.size()} tensors (one per rank), "
                         f"got {n}")
    for t in ts:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {what} must hold fastgrad Tensors, got {type(t).__name__}")
        if tuple(t.shape) != tuple(like.shape) or t.dtype != like.dtype:
            raise ValueError(f"{name}: every tensor of {what} must have shape "
                             f"{tuple(like.shape)} and dtype {like.dtype}, got "
                             f"{tuple(t.shape)} {t.dtype}")
        _buf(t, name, what)  # contiguous, supported dtype: checked before any MPI call
    return list(ts)


def all_gather(tensor_list: list, tensor: Tensor, group: Any = None,
               async_op: bool = False) -> Work | None:
    """``tensor_list[r]`` receives rank r's ``tensor`` on every rank.

    MPI gathers into one buffer; it is then copied into the list's tensors (one copy; use
    all_gather_into_tensor to avoid it).
    """
    g = _group(group, "all_gather")
    a, dt = _buf(tensor, "all_gather")
    outs = _check_list(tensor_list, g, tensor, "all_gather", "tensor_list")
    recv = np.empty((g.size(), a.size), dtype=a.dtype)
    req = g.comm.Iallgather([a, dt], [recv, dt])

    def finish() -> None:
        for r, t in enumerate(outs):
            np.copyto(_buf(t, "all_gather", "tensor_list[r]")[0], recv[r])
            _written(t)

    return _run(Work("all_gather", g, [req], finish), async_op)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group: Any = None,
                           async_op: bool = False) -> Work | None:
    """Rank r's ``input_tensor`` lands in ``output_tensor``'s r-th block (world*numel elements)."""
    g = _group(group, "all_gather_into_tensor")
    a, dt = _buf(input_tensor, "all_gather_into_tensor", "input_tensor")
    o, odt = _buf(output_tensor, "all_gather_into_tensor", "output_tensor")
    if o.size != a.size * g.size() or o.dtype != a.dtype:
        raise ValueError(f"all_gather_into_tensor: output_tensor of shape "
                         f"{tuple(output_tensor.shape)} ({o.dtype}) must hold world_size="
                         f"{g.size()} times input_tensor's {a.size} elements ({a.dtype})")
    req = g.comm.Iallgather([a, dt], [o, odt])
    return _run(Work("all_gather_into_tensor", g, [req], lambda: _written(output_tensor)),
                async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM,
                          group: Any = None, async_op: bool = False) -> Work | None:
    """Reduces ``input`` (world*numel(output) elements) over ranks; rank r keeps block r."""
    g = _group(group, "reduce_scatter_tensor")
    a, dt = _buf(input, "reduce_scatter_tensor", "input")
    o, odt = _buf(output, "reduce_scatter_tensor", "output")
    if a.size != o.size * g.size() or o.dtype != a.dtype:
        raise ValueError(f"reduce_scatter_tensor: input of shape {tuple(input.shape)} ({a.dtype}) "
                         f"must hold world_size={g.size()} times output's {o.size} elements "
                         f"({o.dtype})")
    mop = _mpi_op(op, "reduce_scatter_tensor", a.dtype)
    req = g.comm.Ireduce_scatter_block([a, dt], [o, odt], mop)

    def finish() -> None:
        _avg(o, op, g.size())
        _written(output)

    return _run(Work("reduce_scatter_tensor", g, [req], finish), async_op)


def gather(tensor: Tensor, gather_list: list | None = None, dst: int = 0, group: Any = None,
           async_op: bool = False) -> Work | None:
    """Rank ``dst``'s ``gather_list[r]`` receives rank r's ``tensor`` (others pass None)."""
    g = _group(group, "gather")
    dst = _check_rank(g, dst, "gather", "dst")
    a, dt = _buf(tensor, "gather")
    mine = g.rank() == dst
    outs = _check_list(gather_list, g, tensor, "gather", "gather_list") if mine else None
    recv = np.empty((g.size(), a.size), dtype=a.dtype) if mine else None
    req = g.comm.Igather([a, dt], [recv, dt] if mine else None, root=dst)

    def finish() -> None:
        if outs is not None:
            for r, t in enumerate(outs):
                np.copyto(_buf(t, "gather", "gather_list[r]")[0], recv[r])
                _written(t)

    return _run(Work("gather", g, [req], finish), async_op)


def scatter(tensor: Tensor, scatter_list: list | None = None, src: int = 0, group: Any = None,
            async_op: bool = False) -> Work | None:
    """Rank r's ``tensor`` receives rank ``src``'s ``scatter_list[r]`` (others pass None)."""
    g = _group(group, "scatter")
    src = _check_rank(g, src, "scatter", "src")
    a, dt = _buf(tensor, "scatter")
    send = None
    if g.rank() == src:
        ins = _check_list(scatter_list, g, tensor, "scatter", "scatter_list")
        send = np.empty((g.size(), a.size), dtype=a.dtype)
        for r, t in enumerate(ins):
            send[r] = t.detach().numpy().reshape(-1)
    req = g.comm.Iscatter([send, dt] if send is not None else None, [a, dt], root=src)
    return _run(Work("scatter", g, [req], lambda: _written(tensor)), async_op)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Waits until every rank has called barrier."""
    g = _group(group, "barrier")
    return _run(Work("barrier", g, [g.comm.Ibarrier()]), async_op)


# --- point to point -------------------------------------------------------------------------------
def isend(tensor: Tensor, dst: int, group: Any = None, tag: int = 0) -> Work:
    """Starts sending ``tensor`` to rank ``dst``; returns a Work (do not write tensor before
    wait())."""
    g = _group(group, "isend")
    dst = _check_rank(g, dst, "isend", "dst")
    a, dt = _buf(tensor, "isend")
    return Work("isend", g, [g.comm.Isend([a, dt], dest=dst, tag=tag)])


def irecv(tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0) -> Work:
    """Starts receiving into ``tensor`` from ``src`` (None: any rank); ``wait()`` then
    ``result()`` is the sender's rank."""
    g = _group(group, "irecv")
    MPI = _MPI()
    source = MPI.ANY_SOURCE if src is None else _check_rank(g, src, "irecv", "src")
    a, dt = _buf(tensor, "irecv")
    req = g.comm.Irecv([a, dt], source=source, tag=tag)
    work = Work("irecv", g, [req])
    work._statuses = [MPI.Status()]

    def finish() -> int:
        _written(tensor)
        return work._statuses[0].Get_source() if src is None else src

    work._finish = finish
    return work


def send(tensor: Tensor, dst: int, group: Any = None, tag: int = 0) -> None:
    """Sends ``tensor`` to rank ``dst`` (returns when the buffer may be reused)."""
    w = isend(tensor, dst, group, tag)
    w.what = "send"
    w.wait()


def recv(tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0) -> int:
    """Receives into ``tensor`` from ``src`` (None: any rank); returns the sender's rank."""
    w = irecv(tensor, src, group, tag)
    w.what = "recv"
    return w.result()


# --- Python objects (pickled) ---------------------------------------------------------------------
def broadcast_object_list(object_list: list, src: int = 0, group: Any = None,
                          device: Any = None) -> None:
    """Rank ``src``'s picklable objects replace ``object_list``'s entries on every rank."""
    g = _group(group, "broadcast_object_list")
    src = _check_rank(g, src, "broadcast_object_list", "src")
    MPI = _MPI()
    n = np.zeros(1, dtype=np.int64)
    data = b""
    if g.rank() == src:
        data = pickle.dumps(list(object_list))
        n[0] = len(data)
    Work("broadcast_object_list", g, [g.comm.Ibcast([n, MPI.INT64_T], root=src)]).wait()
    buf = np.frombuffer(data, dtype=np.uint8).copy() if g.rank() == src else np.empty(
        int(n[0]), dtype=np.uint8)
    Work("broadcast_object_list", g, [g.comm.Ibcast([buf, MPI.BYTE], root=src)]).wait()
    if g.rank() != src:
        got = pickle.loads(buf.tobytes())
        if len(got) != len(object_list):
            raise ValueError(f"broadcast_object_list: rank {src} sent {len(got)} objects, this "
                             f"rank's object_list has {len(object_list)} slots")
        object_list[:] = got


def all_gather_object(object_list: list, obj: Any, group: Any = None) -> None:
    """``object_list[r]`` receives rank r's picklable ``obj`` on every rank."""
    g = _group(group, "all_gather_object")
    if not isinstance(object_list, list) or len(object_list) != g.size():
        raise ValueError(f"all_gather_object: object_list must be a list of world_size="
                         f"{g.size()} entries")
    MPI = _MPI()
    data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8).copy()
    sizes = np.zeros(g.size(), dtype=np.int64)
    mine = np.array([data.size], dtype=np.int64)
    Work("all_gather_object", g,
         [g.comm.Iallgather([mine, MPI.INT64_T], [sizes, MPI.INT64_T])]).wait()
    displs = np.zeros(g.size(), dtype=np.int64)
    displs[1:] = np.cumsum(sizes)[:-1]
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    Work("all_gather_object", g, [g.comm.Iallgatherv(
        [data, MPI.BYTE], [out, (sizes.tolist(), displs.tolist()), MPI.BYTE])]).wait()
    for r in range(g.size()):
        object_list[r] = pickle.loads(
            out[displs[r]:displs[r] + sizes[r]].tobytes())
