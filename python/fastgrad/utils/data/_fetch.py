"""What a DataLoader fetch is, in the main process and in a worker: the dataset kinds, the map-style
and iterable fetchers (with the one-gather path for a TensorDataset), and how tensors cross
between processes. Used by dataloader.py and _worker.py, which import this module, never each
other's internals.
"""

from __future__ import annotations

from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np

from fastgrad import _backend
from fastgrad.tensor import Tensor, _wrap
from fastgrad.utils.data._collate import default_collate
from fastgrad.utils.data.dataset import Subset, TensorDataset


class _DatasetKind:
    Map = 0
    Iterable = 1


# --- tensors between processes ---------------------------------------------------------------
# Tensor.__reduce__ refuses plain pickling (fastgrad.save is the file format); between a worker
# and its parent, multiprocessing's pickler sends the data as a NumPy array.
def _rebuild_tensor(a: np.ndarray, backend: str, requires_grad: bool) -> Tensor:
    b = _backend._BACKENDS[backend]
    t = _wrap(b.from_numpy(a), b)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _reduce_tensor(t: Tensor) -> tuple:
    name = next(k for k, v in _backend._BACKENDS.items() if v is t._b)
    a = np.ascontiguousarray(t._b.to_numpy(t._impl))
    return _rebuild_tensor, (a, name, bool(t.requires_grad))


ForkingPickler.register(Tensor, _reduce_tensor)


# --- fetchers: indices -> a batch ------------------------------------------------------------
class _TensorGather:
    """A batch of a TensorDataset (through Subsets) as one NumPy gather per tensor."""

    def __init__(self, tensors: tuple[Tensor, ...], index_map: np.ndarray | None) -> None:
        self.parts = [(t._b.to_numpy(t._impl), t._b) for t in tensors]
        self.index_map = index_map

    def __call__(self, index: Any) -> list[Tensor] | None:
        idx = index if isinstance(index, np.ndarray) else np.asarray(index)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            return None  # unusual indices: the per-sample path decides what they mean
        if self.index_map is not None:
            idx = self.index_map[idx]
        return [_wrap(b.from_numpy(np.take(a, idx, axis=0)), b) for a, b in self.parts]


def _tensor_gather(dataset: Any) -> _TensorGather | None:
    index_map = None
    d = dataset
    while isinstance(d, Subset):
        if type(d).__getitem__ is not Subset.__getitem__ or \
                type(d).__getitems__ is not Subset.__getitems__:
            return None
        try:
            m = np.asarray(d.indices)
        except Exception:  # noqa: BLE001 (odd indices: the per-sample path)
            return None
        if m.ndim != 1 or (m.size and m.dtype.kind not in "iu"):
            return None
        m = m.astype(np.int64, copy=False)
        index_map = m if index_map is None else m[index_map]
        d = d.dataset
    if not isinstance(d, TensorDataset) or type(d).__getitem__ is not TensorDataset.__getitem__ \
            or getattr(type(d), "__getitems__", None) is not None:
        return None
    if any(t.requires_grad for t in d.tensors):
        return None
    return _TensorGather(d.tensors, index_map)


class _MapFetcher:
    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable,
                 drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.gather = _tensor_gather(dataset) if (
            auto_collation and collate_fn is default_collate) else None

    def fetch(self, index: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.gather is not None:
            out = self.gather(index)
            if out is not None:
                return out
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            data = getitems(index)
        else:
            data = [self.dataset[i] for i in index]
        return self.collate_fn(data)


class _IterableFetcher:
    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable,
                 drop_last: bool) -> None:
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index: Any) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        data = []
        for _ in index:
            try:
                data.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


def _create_fetcher(kind: int, dataset: Any, auto_collation: bool, collate_fn: Callable,
                    drop_last: bool) -> Any:
    cls = _MapFetcher if kind == _DatasetKind.Map else _IterableFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


# --- iterators -------------------------------------------------------------------------------
