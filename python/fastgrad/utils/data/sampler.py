"""Samplers: the order in which a DataLoader visits a map-style dataset, as torch.utils.data's.

Random orders come from a ``fastgrad.Generator`` (or, without one, from a seed drawn from the
global generator behind ``fastgrad.manual_seed``); they are reproducible, not PyTorch's numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any, Generic, TypeVar

import numpy as np

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]


def _np_rng(generator: Any) -> np.random.Generator:
    """The NumPy generator behind ``generator``; None: a fresh one seeded from the global one."""
    if generator is None:
        from fastgrad._creation import _rng

        return np.random.default_rng(int(_rng().integers(0, 2**63)))
    if isinstance(generator, np.random.Generator):
        return generator
    g = getattr(generator, "_np", None)
    if not isinstance(g, np.random.Generator):
        raise TypeError(
            f"generator: expected a fastgrad.Generator, got {type(generator).__name__}"
        )
    return g


def _check_num_samples(num_samples: Any) -> None:
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
            or num_samples <= 0:
        raise ValueError(
            f"num_samples should be a positive integer value, but got num_samples={num_samples}"
        )


def _check_replacement(replacement: Any) -> None:
    if not isinstance(replacement, bool):
        raise TypeError(
            f"replacement should be a boolean value, but got replacement={replacement}"
        )


class Sampler(Generic[T_co]):
    """Base class: an iterable over dataset indices (or lists of them); ``__len__`` optional."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler[int]):
    """Indices 0, 1, ..., len(data_source) - 1. Example: ``list(SequentialSampler(range(3)))``."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _index_array(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Random indices: a permutation, or ``num_samples`` draws with ``replacement=True``.

    Without replacement and ``num_samples > len(data_source)``, whole permutations follow each
    other. Example: ``RandomSampler(range(5), generator=fastgrad.Generator().manual_seed(0))``.
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        _check_replacement(replacement)
        _check_num_samples(self.num_samples)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _index_array(self) -> np.ndarray:
        n = len(self.data_source)
        rng = _np_rng(self.generator)
        k = self.num_samples
        if self.replacement:
            return rng.integers(0, n, size=k, dtype=np.int64)
        parts = [rng.permutation(n) for _ in range(k // n)]
        if k % n:
            parts.append(rng.permutation(n)[: k % n])
        return np.concatenate(parts).astype(np.int64, copy=False) if parts else \
            np.zeros(0, np.int64)

    def __iter__(self) -> Iterator[int]:
        yield from self._index_array().tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices in a random order. Example: ``SubsetRandomSampler([4, 7, 9])``."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = generator

    def _index_array(self) -> np.ndarray:
        perm = _np_rng(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices, dtype=np.int64).reshape(-1)[perm]

    def __iter__(self) -> Iterator[int]:
        perm = _np_rng(self.generator).permutation(len(self.indices))
        for i in perm.tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices in [0, len(weights)) drawn with probabilities ∝ ``weights``.

    Example: ``WeightedRandomSampler([0.1, 0.9], 10)`` mostly yields 1.
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        _check_num_samples(num_samples)
        _check_replacement(replacement)
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}"
            )
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise RuntimeError(
                "WeightedRandomSampler: weights must be finite, non-negative and not all zero"
            )
        if not replacement and int(num_samples) > int((w > 0).sum()):
            raise RuntimeError(
                f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement "
                f"from {int((w > 0).sum())} non-zero weights"
            )
        from fastgrad._creation import tensor

        self.weights = tensor(w)
        self._w = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def _index_array(self) -> np.ndarray:
        rng = _np_rng(self.generator)
        return rng.choice(len(self._w), size=self.num_samples, replace=self.replacement,
                          p=self._w / self._w.sum()).astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        yield from self._index_array().tolist()

    def __len__(self) -> int:
        return self.num_samples


_ARRAY_SAMPLERS = (SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler)


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last may be short).

    Example: ``list(BatchSampler(SequentialSampler(range(5)), 2, False))`` is
    ``[[0, 1], [2, 3], [4]]``; with ``drop_last=True`` the ``[4]`` is dropped.
    """

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(  # noqa: TRY004 (PyTorch)
                f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def _iter_arrays(self) -> Iterator[np.ndarray] | None:
        """The batches as int64 arrays, when the sampler is one of ours (the DataLoader's fast
        path); the same batches as ``__iter__``, drawn from the same random numbers."""
        if type(self.sampler) not in _ARRAY_SAMPLERS:
            return None
        return self._chunks(self.sampler._index_array())  # type: ignore[union-attr]

    def _chunks(self, order: np.ndarray) -> Iterator[np.ndarray]:
        bs = self.batch_size
        n = len(order)
        end = n - n % bs if self.drop_last else n
        for i in range(0, end, bs):
            yield order[i:i + bs]

    def __iter__(self) -> Iterator[list[int]]:
        if type(self.sampler) in _ARRAY_SAMPLERS and not isinstance(self.sampler,
                                                                     SubsetRandomSampler):
            for b in self._chunks(self.sampler._index_array()):  # type: ignore[union-attr]
                yield b.tolist()
            return
        batch: list[int] = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        if self.drop_last:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size
