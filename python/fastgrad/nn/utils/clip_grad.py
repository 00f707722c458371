"""Gradient clipping, torch.nn.utils's functions and messages: the total norm of all gradients is
one fused backend pass (``foreach_norm``: per-tensor norms accumulated in float64 over fixed
blocks, so the same at any thread count), the rescale one fused in-place kernel (``foreach_mul_``).
Not differentiable (gradients are data here)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Union

import numpy as np

from fastgrad.tensor import Tensor, _wrap

_Params = Union[Tensor, Iterable[Tensor]]


def _as_list(tensors: Any) -> list[Tensor]:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _result_dtype(tensors: list[Tensor]) -> Any:
    return np.result_type(*[t.dtype.np for t in tensors])


def get_total_norm(tensors: _Params, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type`` norm of all ``tensors`` together, as if concatenated into one vector
    (inf: the largest |x|). Returns a 0-d tensor (0.0 for an empty list).

    Example: ``get_total_norm([p.grad for p in model.parameters()], 2.0)``.
    """
    from fastgrad._creation import tensor

    ts = _as_list(tensors)
    if not ts:
        return tensor(0.0)
    norm_type = float(norm_type)
    by_backend: dict[int, tuple[Any, list[int]]] = {}
    for i, t in enumerate(ts):
        by_backend.setdefault(id(t._b), (t._b, []))[1].append(i)
    norms = [0.0] * len(ts)
    for b, idx in by_backend.values():
        for i, v in zip(idx, b.foreach_norm([ts[i]._impl for i in idx], norm_type)):
            norms[i] = v
    dt = _result_dtype(ts)
    a = np.asarray(norms, dtype=dt)
    if math.isinf(norm_type):
        total = a.max() if norm_type > 0 else a.min()
    elif norm_type == 0:
        total = dt.type(np.count_nonzero(a))
    else:
        total = dt.type(np.sum(a.astype(np.float64) ** norm_type) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`")
    b = ts[0]._b
    return _wrap(b.from_numpy(np.array(total, dtype=dt)), b)


def clip_grads_with_norm_(parameters: _Params, max_norm: float, total_norm: Any,
                          foreach: bool | None = None) -> None:
    """Scales every gradient by min(1, max_norm / (total_norm + 1e-6)), in place.

    Example: ``clip_grads_with_norm_(model.parameters(), 1.0, get_total_norm(grads))``.
    """
    params = [p for p in _as_list(parameters) if p.grad is not None]
    if not params:
        return
    total = float(np.asarray(total_norm.detach() if isinstance(total_norm, Tensor) else total_norm))
    dt = _result_dtype([p.grad for p in params]).type
    coef = math.nan if math.isnan(total) else \
        min(float(dt(float(max_norm)) / (dt(total) + dt(1e-6))), 1.0)
    if coef == 1.0:
        return  # x * 1 == x: nothing to write
    by_backend: dict[int, tuple[Any, list[Any]]] = {}
    for p in params:
        g = p.grad
        if not g.is_contiguous():  # an expanded gradient: give the parameter its own copy
            g = g.contiguous()
            if g._impl is p.grad._impl:
                g = g.clone()
            p.grad = g
        by_backend.setdefault(id(g._b), (g._b, []))[1].append(g._impl)
    for b, impls in by_backend.values():
        b.foreach_mul_(impls, coef)


def clip_grad_norm_(parameters: _Params, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescales the gradients of ``parameters`` in place so that their total ``norm_type`` norm
    (all gradients as one vector) is at most ``max_norm``; returns the norm before clipping, a 0-d
    tensor. ``error_if_nonfinite``: raise RuntimeError when that norm is NaN or inf.

    Example: ``loss.backward(); clip_grad_norm_(model.parameters(), max_norm=1.0); opt.step()``.
    """
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters: _Params, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated alias of clip_grad_norm_ (PyTorch warns and keeps it)."""
    import warnings

    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: _Params, clip_value: float, foreach: bool | None = None) -> None:
    """Clamps every gradient of ``parameters`` to [-clip_value, clip_value] in place.

    Example: ``clip_grad_value_(model.parameters(), clip_value=0.5)``.
    """
    from fastgrad.autograd import no_grad

    v = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(-v, v)
