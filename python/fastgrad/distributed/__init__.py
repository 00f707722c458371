# fastgrad.distributed: torch.distributed's process-group API over MPI (mpi4py), for data-parallel
# training (nn.parallel.DistributedDataParallel, utils.data.distributed.DistributedSampler). Not an
# MPI of our own: mpi4py is imported only when a process group is made (`import fastgrad` never
# needs MPI). See docs/distributed.md.
"""Collective communication between processes launched by ``mpiexec``.

Example (``mpiexec -n 2 python -m mpi4py train.py``)::

    import fastgrad, fastgrad.distributed as dist
    dist.init_process_group("mpi")
    t = fastgrad.tensor([float(dist.get_rank())])
    dist.all_reduce(t)            # in place: every rank now holds 0 + 1
"""

from __future__ import annotations

from fastgrad.distributed._mpi import (
    GroupMember,
    ProcessGroup,
    ReduceOp,
    Work,
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    destroy_process_group,
    gather,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    irecv,
    is_available,
    is_initialized,
    is_mpi_available,
    isend,
    recv,
    reduce,
    reduce_scatter_tensor,
    scatter,
    send,
)

__all__ = [
    "GroupMember", "ProcessGroup", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor",
    "all_gather_object", "all_reduce", "barrier", "broadcast", "broadcast_object_list",
    "destroy_process_group", "gather", "get_backend", "get_rank", "get_world_size",
    "init_process_group", "irecv", "is_available", "is_initialized", "is_mpi_available", "isend",
    "recv", "reduce", "reduce_scatter_tensor", "scatter", "send",
]
