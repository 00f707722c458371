"""``fastgrad.linalg``: norms, as ``torch.linalg`` names them (vector and matrix 2-norms of
Frobenius kind; no decompositions)."""

from __future__ import annotations

from typing import Any

from fastgrad._tensor_ops import vector_norm
from fastgrad.tensor import Tensor


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """The 2-norm of all elements (ord None), or vector_norm's ord over dim."""
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: Any = (-2, -1), keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """The Frobenius norm over the last two dims (only 'fro' is supported)."""
    if ord != "fro":
        raise NotImplementedError(f"matrix_norm: ord={ord!r} needs singular values, which "
                                  "fastgrad does not compute; only 'fro' is supported")
    return vector_norm(A, 2, dim, keepdim, dtype=dtype)


__all__ = ["matrix_norm", "norm", "vector_norm"]
