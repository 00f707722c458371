"""DataLoader: batches from a dataset, in the main process or in worker processes.

Semantics follow torch.utils.data.DataLoader. A ``TensorDataset`` (or a Subset of one) under the
default collate function is fetched as one gather per tensor (NumPy ``take`` of the batch's
rows), giving the same batches as the per-sample path. Workers are ``multiprocessing`` processes
(the platform's default start method, ``fork`` on Linux; see Note [Fork safety] in _backend.py)
that send pickled batches back on one pipe each; there is no shared-memory transport.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import wait
from typing import Any

from fastgrad.utils.data._collate import default_collate, default_convert
from fastgrad.utils.data._fetch import _create_fetcher, _DatasetKind, _tensor_gather
from fastgrad.utils.data._worker import (
    ExceptionWrapper,
    _IterableDatasetStopIteration,
    _ResumeIteration,
    _worker_loop,
)
from fastgrad.utils.data.dataset import IterableDataset
from fastgrad.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    _np_rng,
)

__all__ = ["DataLoader"]


class _InfiniteConstantSampler(Sampler[None]):
    """The sampler of an IterableDataset: None forever (the dataset decides when to stop)."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


class _BaseIter:
    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._kind = loader._dataset_kind
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._collate_fn = loader.collate_fn
        self._num_workers = loader.num_workers
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._loader = loader
        self._base_seed = loader._draw_seed()
        self._sampler_iter: Iterator[Any] = self._new_sampler_iter()

    def _new_sampler_iter(self) -> Iterator[Any]:
        s = self._index_sampler
        if self._auto_collation and self._kind == _DatasetKind.Map and \
                isinstance(s, BatchSampler) and self._collate_fn is default_collate and \
                _tensor_gather(self._dataset) is not None:
            arrays = s._iter_arrays()
            if arrays is not None:
                return arrays
        return iter(s)

    def __iter__(self) -> _BaseIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def __next__(self) -> Any:
        return self._next_data()

    def _next_data(self) -> Any:
        raise NotImplementedError


class _SingleProcessIter(_BaseIter):
    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        self._fetcher = _create_fetcher(self._kind, self._dataset, self._auto_collation,
                                        self._collate_fn, self._drop_last)

    def _next_data(self) -> Any:
        index = next(self._sampler_iter)
        return self._fetcher.fetch(index)


# The index queues of live iterators, by id: an iterator dropped inside a reference cycle (an
# exception's traceback holds it) is collected together with its queues, and the queues'
# finalizers, which run first, stop their feeder threads, so the None telling a worker to exit
# would never be sent and every worker would wait out the join timeout. Held here, they live on.
_LIVE_QUEUES: dict[int, list[Any]] = {}


def _widen_pipe(conn: Any) -> None:
    """A 1 MB pipe buffer (Linux; default 64 KB): a worker writes a whole batch of MNIST size at
    once instead of in 64 KB turns with the parent (an epoch's reads 4688 -> ~1900)."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError, AttributeError, ValueError):
        pass  # other platforms, or a lower limit in /proc/sys/fs/pipe-max-size


class _MultiProcessingIter(_BaseIter):
    """Keeps ``prefetch_factor * num_workers`` batches in flight, handed to the workers in
    turn, and yields them in sampler order (``in_order=False``: as they arrive)."""

    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        self._prefetch = int(loader.prefetch_factor)
        self._in_order = loader.in_order
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self._shutdown = True
        self._index_queues: list[Any] = []
        self._conns: list[Any] = []
        self._workers: list[Any] = []
        n = self._num_workers
        for i in range(n):
            iq = ctx.Queue()
            iq.cancel_join_thread()
            r, w = ctx.Pipe(duplex=False)
            _widen_pipe(r)
            p = ctx.Process(
                target=_worker_loop,
                args=(self._kind, self._dataset, iq, w, self._auto_collation, self._collate_fn,
                      self._drop_last, self._base_seed, loader.worker_init_fn, i, n,
                      os.getpid()),
                daemon=True,
            )
            p.start()
            w.close()
            self._index_queues.append(iq)
            self._conns.append(r)
            self._workers.append(p)
            self._shutdown = False
        _LIVE_QUEUES[id(self)] = self._index_queues
        self._reset(first=True)

    def _reset(self, first: bool = False) -> None:
        if not first:
            self._sampler_iter = self._new_sampler_iter()
        n = self._num_workers
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_info: dict[int, tuple] = {}
        self._workers_status = [True] * n
        self._cycle = itertools.cycle(range(n))
        if not first:  # persistent workers: start a new epoch, dropping what is in flight
            for q in self._index_queues:
                q.put(_ResumeIteration())
            pending = n
            while pending:
                idx, _ = self._get_data()
                if isinstance(idx, _ResumeIteration):
                    pending -= 1
        for _ in range(self._prefetch * n):
            self._try_put_index()

    def _try_put_index(self) -> None:
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            wid = next(self._cycle)
            if self._workers_status[wid]:
                break
        else:
            return
        self._index_queues[wid].put((self._send_idx, index))
        self._task_info[self._send_idx] = (wid,)
        self._send_idx += 1

    def _get_data(self) -> tuple[Any, Any]:
        conns = {self._conns[i]: i for i in range(self._num_workers) if self._workers_status[i]}
        sentinels = {self._workers[i].sentinel: i for i in conns.values()}
        timeout = self._timeout if self._timeout > 0 else None
        ready = wait(list(conns) + list(sentinels), timeout)
        if not ready:
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        for c in ready:
            if c in conns:
                try:
                    return pickle.loads(c.recv_bytes())
                except EOFError:
                    self._worker_died(conns[c])
        for s in ready:  # a worker exited without a result waiting in its pipe
            self._worker_died(sentinels[s])
        raise AssertionError("unreachable")

    def _worker_died(self, wid: int) -> None:
        w = self._workers[wid]
        w.join(timeout=1.0)
        self._shutdown_workers()
        raise RuntimeError(
            f"DataLoader worker (pid {w.pid}) exited unexpectedly with exit code {w.exitcode}"
        )

    def _mark_unavailable(self, wid: int) -> None:
        self._workers_status[wid] = False
        if not self._persistent:
            self._index_queues[wid].put(None)

    def _next_data(self) -> Any:
        while True:
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                data = self._task_info.pop(self._rcvd_idx)[1]
                self._rcvd_idx += 1
                self._try_put_index()
                return self._process(data)
            idx, data = self._get_data()
            if isinstance(data, _IterableDatasetStopIteration):
                self._mark_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if isinstance(idx, _ResumeIteration):
                continue
            if idx == self._rcvd_idx or not self._in_order:
                del self._task_info[idx]
                if idx == self._rcvd_idx:
                    self._rcvd_idx += 1
                self._try_put_index()
                return self._process(data)
            self._task_info[idx] += (data,)

    def _process(self, data: Any) -> Any:
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    def _shutdown_workers(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        for q in self._index_queues:
            with contextlib.suppress(Exception):  # the queue may be closed already
                q.put(None)
        for c in self._conns:  # a worker blocked sending a batch gets EPIPE and exits
            c.close()
        for w in self._workers:
            w.join(timeout=5.0)
            if w.is_alive():
                w.terminate()
                w.join(timeout=1.0)
        for q in self._index_queues:
            q.close()
        _LIVE_QUEUES.pop(id(self), None)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._shutdown_workers()


# --- the loader ------------------------------------------------------------------------------
_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class DataLoader:
    """Iterates over a dataset in batches, as ``torch.utils.data.DataLoader``.

    ``batch_size`` samples per batch (``None``: no batching, samples converted one by one), in
    the order of ``sampler`` (default: sequential, or random with ``shuffle=True`` drawn from
    ``generator``), or of ``batch_sampler``; ``drop_last`` drops a last short batch;
    ``collate_fn`` (default ``default_collate``) turns a list of samples into a batch.
    ``num_workers > 0`` loads in that many processes (``prefetch_factor`` batches each in
    flight, ``persistent_workers`` kept across epochs, ``worker_init_fn(worker_id)`` run in each,
    ``timeout`` seconds per batch); a worker's exception is raised here with its traceback.
    ``pin_memory`` is accepted and ignored (CPU only). Example::

        loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
        for xb, yb in loader:          # xb: (64, ...), yb: (64,)
            ...
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable | None = None,
                 batch_sampler: Sampler | Iterable | None = None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable | None = None,
                 multiprocessing_context: Any = None, generator: Any = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.in_order = in_order
        self.multiprocessing_context = multiprocessing_context

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = _DatasetKind.Iterable
            if shuffle not in (False, None):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = _DatasetKind.Map
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            if self._dataset_kind == _DatasetKind.Iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._iterator: _BaseIter | None = None
        self.__initialized = True

    def __setattr__(self, attr: str, val: Any) -> None:
        if self.__dict__.get("_DataLoader__initialized") and attr in _FROZEN:
            raise ValueError(f"{attr} attribute should not be set after "
                             f"{type(self).__name__} is initialized")
        if attr == "multiprocessing_context" and val is not None:
            if self.num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process "
                                 f"loading (num_workers > 0), but got num_workers="
                                 f"{self.num_workers}")
            if isinstance(val, str):
                val = multiprocessing.get_context(val)
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def _draw_seed(self) -> int:
        if self.generator is not None:
            return int(_np_rng(self.generator).integers(0, 2**63))
        from fastgrad._creation import _rng

        return int(_rng().integers(0, 2**63))

    def __iter__(self) -> _BaseIter:
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessingIter(self)
        if self._iterator is None:
            self._iterator = _MultiProcessingIter(self)
        else:
            self._iterator._reset()  # type: ignore[attr-defined]
        return self._iterator

    def __len__(self) -> int:
        if self._dataset_kind == _DatasetKind.Iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)
