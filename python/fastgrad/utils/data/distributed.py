"""DistributedSampler: each of ``num_replicas`` processes visits its own share of a dataset.

As torch.utils.data.distributed.DistributedSampler: padded (or, with ``drop_last``, cut) to a
multiple of ``num_replicas``, shuffled per epoch from ``seed + epoch`` (call ``set_epoch``). The
shuffled order is reproducible but is not PyTorch's permutation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from fastgrad.utils.data.sampler import Sampler

__all__ = ["DistributedSampler"]


def _world(what: str) -> int:
    try:  # fastgrad.distributed sits beside fastgrad.utils, in the layer of the user API
        import fastgrad.distributed as dist  # type: ignore[import-not-found]
    except ImportError:
        dist = None
    if dist is None or not getattr(dist, "is_available", lambda: False)():
        raise RuntimeError(f"Requires distributed package to be available (DistributedSampler: "
                           f"give {what} explicitly)")
    return int(dist.get_world_size() if what == "num_replicas" else dist.get_rank())


class DistributedSampler(Sampler[int]):
    """The indices of ``dataset`` that replica ``rank`` of ``num_replicas`` visits.

    Example (two processes, rank 1)::

        s = DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)
        list(s) == [1, 3, 0]          # padded with the first index
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None:
            num_replicas = _world("num_replicas")
        if rank is None:
            rank = _world("rank")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            rng = np.random.default_rng(self.seed + self.epoch)
            indices = rng.permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            else:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[: self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch: with ``shuffle``, each epoch has its own order (the same on every
        replica)."""
        self.epoch = epoch
