# DistributedDataParallel: one model replica per MPI rank; gradients averaged in buckets whose
# all-reduces start from post-accumulate-grad hooks while backward still runs and are waited for
# in an end-of-backward callback. Not model parallelism, not a launcher (see docs/distributed.md).
from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from fastgrad import distributed as dist
from fastgrad._hooks import outer_pass, queue_outer_callback
from fastgrad.nn.module import Module
from fastgrad.tensor import _wrap

_FIRST_BUCKET_BYTES = 1 << 20  # PyTorch's first bucket: about 1 MB, so communication starts early


class _Bucket:
    """Gradients of some parameters (one dtype) in one flat buffer, all-reduced as one message."""

    __slots__ = ("buf", "chunk", "index", "members", "offsets", "pending", "ready", "work")

    def __init__(self, index: int, members: list[int], offsets: list[int], buf: np.ndarray) -> None:
        self.index = index
        self.members = members  # parameter indices
        self.offsets = offsets  # start of each member in buf (plus the end)
        self.buf = buf
        self.chunk: np.ndarray | None = None  # this rank's share (reduce-scatter, > 2 ranks)
        self.pending = len(members)
        self.ready = [False] * len(members)
        self.work: Any = None


# Note [Bitwise identical gradients]: every rank must end a step with the same parameters, bit
# for bit, or replicas drift apart. Floating-point addition is commutative, so with 2 ranks the
# all-reduce's a + b and b + a are the same bits. With more ranks MPI does not promise that every
# rank adds in the same order, so DDP reduce-scatters (each share of a bucket is summed by exactly
# one rank) and all-gathers those sums: identical bits by construction. The division by the world
# size is the same operation on the same bits everywhere.


class DistributedDataParallel(Module):
    """Data parallelism over the default process group (``fastgrad.distributed``).

    Each rank runs ``module`` on its own batch; ``loss.backward()`` then leaves in every
    parameter's ``.grad`` the average of the ranks' gradients (the same bits on every rank, see
    docs/distributed.md), so any optimizer and ``clip_grad_norm_`` work unchanged. At
    construction rank 0's parameters and buffers are copied to every rank; with
    ``broadcast_buffers`` its buffers again before each forward.

    Gradients travel in buckets (reverse parameter order, the first about 1 MB, then about
    ``bucket_cap_mb``); a bucket's all-reduce starts as soon as its last gradient is accumulated,
    while backward computes the rest, and all are waited for before backward returns.
    ``no_sync()`` skips the averaging (gradient accumulation). Without
    ``find_unused_parameters``, a parameter that gets no gradient in a backward pass is an error;
    with it, such a parameter contributes zeros (and keeps its ``.grad`` if no rank used it).

    Example::

        dist.init_process_group("mpi")
        model = DistributedDataParallel(net)
        loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()

    ``device_ids``, ``output_device`` and ``dim`` are accepted for PyTorch compatibility (CPU
    only: they must be None / 0). state_dict keys are ``module.``-prefixed, as in PyTorch.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True, process_group: Any = None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, **kwargs: Any) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got "
                            f"{type(module).__name__}")
        if device_ids not in (None, []) or output_device is not None or dim != 0:
            raise ValueError("DistributedDataParallel: fastgrad runs on the CPU; device_ids and "
                             "output_device must be None and dim 0")
        if kwargs:
            raise TypeError(f"DistributedDataParallel: unexpected arguments {sorted(kwargs)}")
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group is not "
                               "initialized; call fastgrad.distributed.init_process_group('mpi')")
        self.module = module
        self.process_group = process_group
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.bucket_cap_mb = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        self.world_size = dist.get_world_size(process_group)
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._names = {id(p): n for n, p in module.named_parameters()}
        if len({id(p) for p in self._params}) != len(self._params):
            raise ValueError("DistributedDataParallel: the module lists a parameter twice")
        for p in self._params:
            if not p.is_contiguous():
                raise ValueError(f"DistributedDataParallel: parameter "
                                 f"{self._names.get(id(p))} is not contiguous")
        self._sync_module_states()
        self._buckets, self._where = self._make_buckets()
        self._in_pass: object | None = None  # the backward pass whose gradients are in flight
        self._next_launch = 0
        self._used = np.zeros(len(self._params), dtype=np.int64)
        me = weakref.ref(self)
        self._handles = [p.register_post_accumulate_grad_hook(_make_hook(me, i))
                         for i, p in enumerate(self._params)]

    # --- construction ---------------------------------------------------------------------------
    def _sync_module_states(self) -> None:
        """Rank 0's parameters and buffers to every rank (all broadcasts in flight at once)."""
        if self.world_size == 1:
            return
        ts = [p.detach() for p in self.module.parameters()] + list(self.module.buffers())
        works = [dist.broadcast(t, 0, self.process_group, async_op=True) for t in ts]
        for w in works:
            w.wait()

    def _make_buckets(self) -> tuple[list[_Bucket], list[tuple[int, int]]]:
        """Buckets in reverse parameter order (the order backward produces gradients)."""
        buckets: list[_Bucket] = []
        where: list[tuple[int, int]] = [(0, 0)] * len(self._params)
        cap = min(_FIRST_BUCKET_BYTES, int(self.bucket_cap_mb * (1 << 20)))
        cur: list[int] = []
        cur_bytes = 0
        cur_dtype: Any = None

        def close() -> None:
            nonlocal cur, cur_bytes
            if not cur:
                return
            offsets = [0]
            for i in cur:
                offsets.append(offsets[-1] + self._params[i].numel())
            n = self.world_size  # padded to a multiple of n for the reduce-scatter
            buf = np.zeros(-(-offsets[-1] // n) * n, dtype=cur_dtype)
            b = _Bucket(len(buckets), cur, offsets, buf)
            b.chunk = np.zeros(buf.size // n, dtype=cur_dtype)
            for k, i in enumerate(cur):
                where[i] = (b.index, k)
            buckets.append(b)
            cur, cur_bytes = [], 0

        for i in reversed(range(len(self._params))):
            a = self._params[i].detach().numpy()
            if cur and (a.dtype != cur_dtype or cur_bytes >= cap):
                close()
                cap = int(self.bucket_cap_mb * (1 << 20))
            cur_dtype = a.dtype
            cur.append(i)
            cur_bytes += a.nbytes
        close()
        return buckets, where

    # --- forward --------------------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if self.broadcast_buffers and self.world_size > 1:
            bufs = list(self.module.buffers())
            works = [dist.broadcast(t, 0, self.process_group, async_op=True) for t in bufs]
            for w in works:
                w.wait()
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside only accumulate local gradients (no communication); the first
        one outside averages the accumulated sums. Example: ``with ddp.no_sync(): loss.backward()``.
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # --- backward -------------------------------------------------------------------------------
    def _grad_ready(self, i: int) -> None:
        """Post-accumulate hook of parameter i: its gradient into the bucket; launch what is full."""
        if not self.require_backward_grad_sync:
            return
        # The outermost pass: a reentrant backward inside it (checkpoint) fills the same buckets.
        token = outer_pass()
        if self._in_pass is not token:
            if self._in_pass is not None:
                self._reset()  # the previous pass raised before its end-of-backward callback
            self._in_pass = token
            queue_outer_callback(self._finish_pass)
        bi, k = self._where[i]
        b = self._buckets[bi]
        p = self._params[i]
        if b.ready[k]:
            raise RuntimeError(f"DistributedDataParallel: parameter {self._names.get(id(p))} "
                               "received a gradient twice in one backward pass")
        if self.world_size > 1:  # one rank: its gradient is the average, nothing to move
            seg = b.buf[b.offsets[k]:b.offsets[k + 1]]
            g = p.grad.detach().numpy().reshape(-1)
            if g.ctypes.data != seg.ctypes.data:  # else .grad is the bucket's memory already
                np.copyto(seg, g)
        b.ready[k] = True
        self._used[i] = 1
        b.pending -= 1
        if b.pending == 0:
            self._launch_ready()
        elif self._next_launch and self.world_size > 1:
            # MPI progresses a non-blocking collective only inside MPI calls: poke the ones in
            # flight so they advance while backward computes.
            dist._mpi._MPI().Request.Testall([x.work for x in self._buckets[:self._next_launch]])

    def _launch_ready(self) -> None:
        """Starts the all-reduces of full buckets strictly in bucket order (every rank then calls
        the collectives in the same order, whatever order its hooks ran in)."""
        from fastgrad.distributed._mpi import _group

        g = _group(self.process_group, "DistributedDataParallel")
        MPI = dist._mpi._MPI()
        while self._next_launch < len(self._buckets):
            b = self._buckets[self._next_launch]
            if b.pending:
                break
            if self.world_size == 1:
                pass
            elif self.world_size > 2:  # Note [Bitwise identical gradients]
                b.work = g.comm.Ireduce_scatter_block(b.buf, b.chunk, MPI.SUM)
            else:
                b.work = g.comm.Iallreduce(MPI.IN_PLACE, b.buf, MPI.SUM)
            self._next_launch += 1

    def _finish_pass(self) -> None:
        """End of backward: launch what is left, wait, write the averages into .grad."""
        from fastgrad.distributed._mpi import Work, _group

        g = _group(self.process_group, "DistributedDataParallel")
        try:
            missing = [i for b in self._buckets for k, i in enumerate(b.members) if not b.ready[k]]
            if missing and not self.find_unused_parameters:
                names = [self._names.get(id(self._params[i]), str(i)) for i in missing]
                raise RuntimeError(
                    "DistributedDataParallel: these parameters received no gradient in this "
                    f"backward pass: {names}. Pass find_unused_parameters=True to "
                    "DistributedDataParallel, or make every parameter take part in the loss")
            n = self.world_size
            if n == 1:
                return
            used = None
            if self.find_unused_parameters:
                for b in self._buckets:  # unused here: contributes zeros
                    for k, i in enumerate(b.members):
                        if not b.ready[k]:
                            b.buf[b.offsets[k]:b.offsets[k + 1]] = 0
                            b.ready[k] = True
                    b.pending = 0
                self._launch_ready()
                used = self._used.copy()
                Work("DistributedDataParallel", g, [g.comm.Iallreduce(
                    dist._mpi._MPI().IN_PLACE, used, dist._mpi._MPI().SUM)]).wait()
            Work("DistributedDataParallel (gradient all-reduce)", g,
                 [b.work for b in self._buckets if b.work is not None]).wait()
            if n > 2:  # each share was reduced by one rank; now every rank gets those bits
                MPI = dist._mpi._MPI()
                r, works = g.rank(), []
                for b in self._buckets:
                    c = b.chunk.size
                    np.copyto(b.buf[r * c:(r + 1) * c], b.chunk)
                    works.append(g.comm.Iallgather(MPI.IN_PLACE, b.buf))
                Work("DistributedDataParallel (gradient all-gather)", g, works).wait()
            for b in self._buckets:
                scale = b.buf.dtype.type(n)
                for k, i in enumerate(b.members):
                    if used is not None and not used[i]:
                        continue  # no rank used it: .grad stays as it was
                    p = self._params[i]
                    seg = b.buf[b.offsets[k]:b.offsets[k + 1]]
                    if self.gradient_as_bucket_view:  # .grad becomes the bucket's memory
                        np.divide(seg, scale, out=seg)
                        p.grad = _wrap(p._b.from_numpy(seg.reshape(tuple(p.shape))), p._b)
                        continue
                    if p.grad is None:  # unused here, used elsewhere: .grad made here
                        p.grad = p.detach().clone()
                    gt = p.grad  # the average written straight into .grad (one pass)
                    np.divide(seg, scale, out=dist._mpi._buf(gt, "DistributedDataParallel",
                                                               "grad")[0])
                    gt._b.bump_version(gt._impl)
        finally:
            self._reset()

    def _reset(self) -> None:
        for b in self._buckets:
            b.pending = len(b.members)
            b.ready = [False] * len(b.members)
            b.work = None
        self._used[:] = 0
        self._next_launch = 0
        self._in_pass = None


def _make_hook(me: weakref.ref, i: int) -> Any:
    def hook(_p: Any) -> None:
        ddp = me()
        if ddp is not None:
            ddp._grad_ready(i)

    return hook
