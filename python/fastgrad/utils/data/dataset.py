"""Datasets: map-style (``__getitem__`` + ``__len__``) and iterable ones, as torch.utils.data's.

``TensorDataset`` samples are rows of tensors; the DataLoader gathers a whole batch of them at
once (see dataloader.py). ``random_split`` draws its permutation from a ``fastgrad.Generator``.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from fastgrad.tensor import Tensor

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "ChainDataset",
    "ConcatDataset",
    "Dataset",
    "IterableDataset",
    "StackDataset",
    "Subset",
    "TensorDataset",
    "random_split",
]


class Dataset(Generic[T_co]):
    """A map-style dataset: subclasses define ``__getitem__(index)`` and usually ``__len__``.

    Example::

        class Squares(Dataset):
            def __len__(self): return 10
            def __getitem__(self, i): return i * i
    """

    def __getitem__(self, index: Any) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset[T_co]) -> ConcatDataset[T_co]:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """A dataset that is a stream: subclasses define ``__iter__``.

    With ``num_workers > 0`` every worker iterates its own copy of the whole dataset; shard it
    with ``get_worker_info()`` inside ``__iter__`` to avoid duplicates, as in PyTorch.
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: Dataset[T_co]) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class TensorDataset(Dataset[tuple]):
    """Samples are ``tuple(t[i] for t in tensors)``; all tensors share their first dimension.

    Shapes: tensors (N, ...), (N, ...), ... Example::

        ds = TensorDataset(fastgrad.randn(100, 3), fastgrad.arange(100))
        x, y = ds[0]          # shapes (3,) and ()
    """

    def __init__(self, *tensors: Tensor) -> None:
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: expected tensors, got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError("TensorDataset: a 0-d tensor has no samples")
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) > 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions {sizes}")
        self.tensors = tuple(tensors)

    def __getitem__(self, index: Any) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0] if self.tensors else 0


class StackDataset(Dataset[T_co]):
    """Samples of several same-length datasets side by side: a tuple, or a dict with kwargs.

    Example: ``StackDataset(images, labels)[i] == (images[i], labels[i])``.
    """

    def __init__(self, *args: Dataset, **kwargs: Dataset) -> None:
        if args and kwargs:
            raise ValueError("StackDataset: datasets go either as positional or as keyword "
                             "arguments, not both")
        self.datasets: Any = args if args else kwargs
        lengths = [len(d) for d in (args or kwargs.values())]  # type: ignore[arg-type]
        if not lengths:
            raise ValueError("StackDataset: at least one dataset is needed")
        if len(set(lengths)) > 1:
            raise ValueError(f"Size mismatch between datasets: lengths {lengths}")
        self._length = lengths[0]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset[T_co]):
    """The samples of several map-style datasets one after another.

    Example: ``len(ConcatDataset([a, b])) == len(a) + len(b)``.
    """

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    @staticmethod
    def cumsum(sequence: Sequence[Any]) -> list[int]:
        out, s = [], 0
        for d in sequence:
            s += len(d)
            out.append(s)
        return out

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> T_co:
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += n
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        if d >= len(self.datasets):
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {n}")
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][idx - start]


class ChainDataset(IterableDataset):
    """Several iterable datasets one after another (``a + b`` of IterableDatasets)."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            total += len(d)  # type: ignore[arg-type]
        return total


class Subset(Dataset[T_co]):
    """The samples of ``dataset`` at ``indices``, in that order.

    Example: ``Subset(ds, [3, 1])[0] is ds[3]``.
    """

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]  # type: ignore[index]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list[T_co]:
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])  # type: ignore
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        fracs = list(lengths)
        for i, f in enumerate(fracs):
            if f < 0 or f > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        out = [math.floor(n * f) for f in fracs]
        for i in range(n - sum(out)):  # the remainder, one each, round-robin
            out[i % len(out)] += 1
        for i, k in enumerate(out):
            if k == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.", stacklevel=3)
        return out
    if any(int(v) != v or v < 0 for v in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions "
                         f"summing to 1, got {list(lengths)}")
    out = [int(v) for v in lengths]
    if sum(out) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    return out


def random_split(dataset: Dataset[T_co], lengths: Sequence[float],
                 generator: Any = None) -> list[Subset[T_co]]:
    """Splits ``dataset`` at random into non-overlapping Subsets of the given ``lengths``.

    ``lengths`` are counts summing to ``len(dataset)`` or fractions summing to 1 (floors, the
    remainder given one by one to the first splits). Example::

        train, val = random_split(ds, [0.8, 0.2], generator=fastgrad.Generator().manual_seed(0))
    """
    sizes = _split_lengths(len(dataset), lengths)  # type: ignore[arg-type]
    if generator is None:
        from fastgrad._creation import _rng

        rng = _rng()
    else:
        from fastgrad.utils.data.sampler import _np_rng

        rng = _np_rng(generator)
    perm = rng.permutation(sum(sizes)).astype(np.int64).tolist()
    out, start = [], 0
    for k in sizes:
        out.append(Subset(dataset, perm[start:start + k]))
        start += k
    return out
