"""``fastgrad.utils.data``: datasets, samplers, collation and the DataLoader, as torch.utils.data.

Example::

    from fastgrad.utils.data import DataLoader, TensorDataset
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True): ...
"""

from __future__ import annotations

from fastgrad.utils.data._collate import default_collate, default_convert
from fastgrad.utils.data._worker import WorkerInfo, get_worker_info
from fastgrad.utils.data.dataloader import DataLoader
from fastgrad.utils.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from fastgrad.utils.data.distributed import DistributedSampler
from fastgrad.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]
