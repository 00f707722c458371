"""``default_collate`` and ``default_convert``: samples -> batches, as torch.utils.data's.

``collate(batch, collate_fn_map=...)`` walks nested tuples, lists, dicts and namedtuples and
applies the function registered for the leaf type (tensors stack, NumPy arrays and numbers
become tensors, strings stay lists); not PyTorch's shared-memory batches.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from typing import Any

import numpy as np

from fastgrad.tensor import Tensor, _wrap

__all__ = ["collate", "default_collate", "default_collate_fn_map", "default_convert"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")
_NP_STR_OBJ = re.compile(r"[SaUO]")


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _as_tensor(a: Any) -> Tensor:
    from fastgrad._creation import from_numpy, tensor

    if isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64, np.int64, np.bool_) \
            and a.dtype.isnative:
        return from_numpy(a if a.flags.c_contiguous else a.copy())  # 0-d stays 0-d
    return tensor(a)


def _check_shapes(batch: Sequence[Any], what: str) -> None:
    shape = batch[0].shape
    for i, t in enumerate(batch):
        if t.shape != shape:
            raise ValueError(f"default_collate: stack expects each {what} to be equal size, but "
                             f"got {list(shape)} at entry 0 and {list(t.shape)} at entry {i}")


def _collate_tensor(batch: Sequence[Tensor], **_: Any) -> Tensor:
    b = batch[0]._b
    impls = [t._impl for t in batch if t._b is b]
    if len(impls) != len(batch) or any(x.requires_grad for x in impls):
        from fastgrad._ops import stack

        _check_shapes(batch, "tensor")
        return stack(list(batch), 0)  # recorded by autograd
    to_numpy = b.to_numpy
    try:
        a = np.stack([to_numpy(x) for x in impls])
    except ValueError:
        _check_shapes(batch, "tensor")
        raise
    return _wrap(b.from_numpy(a), b)


def _collate_ndarray(batch: Sequence[np.ndarray], **kw: Any) -> Tensor:
    if _NP_STR_OBJ.search(batch[0].dtype.str) is not None:
        raise TypeError(_ERR.format(batch[0].dtype))
    _check_shapes(batch, "array")
    return _as_tensor(np.stack(batch))


def _collate_np_scalar(batch: Sequence[np.generic], **_: Any) -> Tensor:
    return _as_tensor(np.array(batch))


def _collate_float(batch: Sequence[float], **_: Any) -> Tensor:
    return _as_tensor(np.array(batch, dtype=np.float64))


def _collate_int(batch: Sequence[int], **_: Any) -> Tensor:
    return _as_tensor(np.array(batch))


def _collate_str(batch: Sequence[Any], **_: Any) -> Sequence[Any]:
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable[..., Any]] = {
    Tensor: _collate_tensor,
    np.ndarray: _collate_ndarray,
    (np.bool_, np.number): _collate_np_scalar,
    float: _collate_float,
    int: _collate_int,  # bool too: a bool tensor
    (str, bytes): _collate_str,
}


def collate(batch: Sequence[Any], *,
            collate_fn_map: dict[type | tuple[type, ...], Callable[..., Any]] | None = None
            ) -> Any:
    """Collates a list of samples with the function ``collate_fn_map`` has for their type."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for key, fn in collate_fn_map.items():
            if isinstance(elem, key):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, Mapping):
        out = {k: collate([d[k] for d in batch], collate_fn_map=collate_fn_map) for k in elem}
        try:
            if isinstance(elem, MutableMapping):
                clone = copy.copy(elem)
                clone.update(out)
                return clone
            return elem_type(out)
        except TypeError:
            return out
    if _is_namedtuple(elem):
        return elem_type(*(collate(s, collate_fn_map=collate_fn_map)
                           for s in zip(*batch)))
    if isinstance(elem, Sequence):
        n = len(elem)
        if not all(len(e) == n for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [collate(s, collate_fn_map=collate_fn_map) for s in transposed]
        try:
            if isinstance(elem, MutableSequence):
                clone = copy.copy(elem)
                for i, s in enumerate(transposed):
                    clone[i] = collate(s, collate_fn_map=collate_fn_map)
                return clone
            return elem_type([collate(s, collate_fn_map=collate_fn_map)
                              for s in transposed])
        except TypeError:
            return [collate(s, collate_fn_map=collate_fn_map) for s in transposed]
    raise TypeError(_ERR.format(elem_type))


def default_collate(batch: Sequence[Any]) -> Any:
    """Stacks a list of samples into a batch, keeping the samples' nested structure.

    Tensors (each of shape S) -> one tensor (B, *S); NumPy arrays and NumPy scalars -> tensors;
    Python floats -> float64, ints -> int64, bools -> bool tensors of shape (B,); strings stay a
    list; dicts, namedtuples and lists are collated per field (a tuple becomes a list, as in
    PyTorch). Example: ``default_collate([(1, 2.0), (3, 4.0)])`` is
    ``[tensor([1, 3]), tensor([2., 4.], dtype=float64)]``.
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data: Any) -> Any:
    """NumPy arrays and NumPy scalars inside ``data`` become tensors; the rest is kept (tuples
    become lists, as in PyTorch). Used when a DataLoader does not batch (``batch_size=None``)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        if _NP_STR_OBJ.search(data.dtype.str) is not None:
            return data
        return _as_tensor(data)
    if isinstance(data, np.generic) and isinstance(data, (np.bool_, np.number)):
        return _as_tensor(np.asarray(data))
    if isinstance(data, Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        try:
            if isinstance(data, MutableMapping):
                clone = copy.copy(data)
                clone.update(out)
                return clone
            return type(data)(out)
        except TypeError:
            return out
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
