# In-place ops of the reference backend for optimizers and initialisation: copy_, fill_, put_.
# No autograd (the Tensor layer runs them under no_grad and refuses leaves that require grad);
# each bumps the version counter shared by the views of the memory it writes, as in
# cpp/autograd/ops_inplace.cpp.
from __future__ import annotations

import numpy as np

from fastgrad.reference.ops_index import flat_positions
from fastgrad.reference.tape import (
    DTYPE_NAMES,
    INT64,
    NP_DTYPES,
    RTensor,
    broadcast_shapes,
    is_floating,
)


def _check_writable(op: str, dst: RTensor) -> None:
    if not dst.data.flags.writeable:
        raise ValueError(f"{op}: the destination of shape {dst.shape} is read-only (an expanded "
                         "view or a read-only array); clone it first")


def copy_(dst: RTensor, src: RTensor) -> None:
    """Writes src, broadcast to dst's shape and cast to dst's dtype, into dst's memory."""
    if broadcast_shapes("copy_", dst.shape, src.shape) != dst.shape:
        raise ValueError(f"copy_: cannot broadcast a tensor of shape {src.shape} into one of "
                         f"shape {dst.shape}")
    _check_writable("copy_", dst)
    with np.errstate(all="ignore"):
        np.copyto(dst.data, src.data, casting="unsafe")  # NumPy handles overlapping memory
    dst.bump_version()


def fill_(dst: RTensor, value: float) -> None:
    """Sets every element of dst to value (cast to dst's dtype via double, as the C++ side)."""
    _check_writable("fill_", dst)
    with np.errstate(all="ignore"):
        dst.data[...] = np.asarray(float(value)).astype(dst.data.dtype)
    dst.bump_version()


def put_(dst: RTensor, pos: RTensor, src: RTensor) -> None:
    """dst.flat[pos] = src (src broadcast to pos's shape, cast); dst must be contiguous."""
    if pos.dtype != INT64:
        raise TypeError(f"put_: positions must be int64, got {DTYPE_NAMES[pos.dtype]}")
    if not dst.is_contiguous:
        raise ValueError(f"put_: the destination of shape {dst.shape} must be contiguous")
    if broadcast_shapes("put_", pos.shape, src.shape) != pos.shape:
        raise ValueError(f"put_: cannot assign a value of shape {src.shape} to an index of shape "
                         f"{pos.shape}")
    _check_writable("put_", dst)
    with np.errstate(all="ignore"):
        values = np.broadcast_to(src.data, pos.shape).astype(NP_DTYPES[dst.dtype])
    p = flat_positions("put_", pos, dst.numel)
    flat = np.reshape(dst.data, -1)
    if flat.size and not np.may_share_memory(flat, dst.data):
        raise ValueError(f"put_: the destination of shape {dst.shape} must be contiguous")
    flat[p.reshape(-1)] = values.reshape(-1)
    dst.bump_version()


def set_data_(dst: RTensor, src: RTensor) -> None:
    """dst takes src's memory and dtype (Tensor.data = src); its autograd metadata stays."""
    if dst._requires_grad and not is_floating(src.dtype):
        raise TypeError(f"set_data_: a tensor that requires grad cannot take data of dtype "
                        f"{DTYPE_NAMES[src.dtype]}")
    dst.data = src.data
    dst.dtype = src.dtype
    dst._version = src._version
