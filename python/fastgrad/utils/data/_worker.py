"""DataLoader worker processes: the loop a worker runs, ``get_worker_info``, ExceptionWrapper.

A worker takes ``(task id, batch indices)`` from its index queue, fetches and collates the batch
and sends it back pickled on its own result pipe; an exception is sent as an ExceptionWrapper
holding the worker's traceback, which the parent raises. Not shared-memory tensors: batches are
copied through the pipe.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np

from fastgrad import _backend
from fastgrad._random import manual_seed
from fastgrad.utils.data._fetch import _create_fetcher, _DatasetKind

_POLL_S = 5.0  # how often an idle worker checks that its parent is still alive


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: its ``id`` in [0, num_workers), the
    ``num_workers``, the ``seed`` its generators got and its copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """Inside a DataLoader worker process: its WorkerInfo; in the main process: None.

    Example (sharding an IterableDataset)::

        info = get_worker_info()
        start = 0 if info is None else info.id
        step = 1 if info is None else info.num_workers
    """
    return _worker_info


class KeyErrorMessage(str):
    """A KeyError's message printed as is (KeyError shows the repr of its argument)."""

    def __repr__(self) -> str:
        return str(self)


class ExceptionWrapper:
    """An exception caught in a worker, with its traceback as text, to be raised in the parent."""

    def __init__(self, exc_info: Any = None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where
        try:  # a class the parent cannot unpickle (say, defined in a function) -> RuntimeError
            pickle.loads(pickle.dumps(self.exc_type))
        except Exception:  # noqa: BLE001 (any failure to pickle)
            self.exc_msg = f"{self.exc_type.__qualname__}: {self.exc_msg}"
            self.exc_type = RuntimeError

    def reraise(self) -> None:
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # noqa: BLE001 (a type that wants other arguments, as PyTorch)
            raise RuntimeError(msg) from None
        raise exception


class _IterableDatasetStopIteration:
    """Sent by a worker whose copy of an IterableDataset is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


class _ResumeIteration:
    """Sent to a persistent worker at a new epoch; the worker echoes it back."""


def _seed_worker(seed: int, worker_id: int) -> None:
    random.seed(seed)
    manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, seed]).generate_state(4))


def _send(conn: Any, idx: Any, data: Any, worker_id: int) -> None:
    try:
        buf = ForkingPickler.dumps((idx, data))
    except Exception:  # noqa: BLE001  # an unpicklable batch: tell the parent instead of hanging it
        w = ExceptionWrapper(where=f"in DataLoader worker process {worker_id} (sending a batch)")
        buf = ForkingPickler.dumps((idx, w))
    conn.send_bytes(buf)


def _worker_loop(dataset_kind: int, dataset: Any, index_queue: Any, result_conn: Any,
                 auto_collation: bool, collate_fn: Any, drop_last: bool, base_seed: int,
                 init_fn: Any, worker_id: int, num_workers: int, parent_pid: int) -> None:
    global _worker_info
    try:
        for b in _backend._BACKENDS.values():  # fastgrad.set_num_threads(1)
            b.set_num_threads(1)
        seed = base_seed + worker_id
        _seed_worker(seed, worker_id)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        init_exception = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = _create_fetcher(dataset_kind, dataset, auto_collation, collate_fn,
                                      drop_last)
        except Exception:  # noqa: BLE001 (raised in the parent at the first batch)
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False
        while True:
            try:
                r = index_queue.get(timeout=_POLL_S)
            except queue.Empty:
                if os.getppid() != parent_pid:  # the parent died: nobody will read our results
                    break
                continue
            if r is None:
                break
            if isinstance(r, _ResumeIteration):
                iteration_end = False
                if init_exception is None:
                    try:
                        fetcher = _create_fetcher(dataset_kind, dataset, auto_collation,
                                                  collate_fn, drop_last)
                    except Exception:  # noqa: BLE001
                        init_exception = ExceptionWrapper(
                            where=f"in DataLoader worker process {worker_id}")
                _send(result_conn, r, None, worker_id)
                continue
            if iteration_end:
                continue
            idx, index = r
            if init_exception is not None:
                data: Any = init_exception
                init_exception = None
            else:
                try:
                    data = fetcher.fetch(index)  # type: ignore[union-attr]
                except Exception as e:  # noqa: BLE001 (sent to the parent, raised there)
                    if isinstance(e, StopIteration) and dataset_kind == _DatasetKind.Iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            _send(result_conn, idx, data, worker_id)
            del data, idx, index, r
    except (KeyboardInterrupt, BrokenPipeError, EOFError, OSError):
        pass  # the parent is gone or shutting us down
    finally:
        result_conn.close()
