"""``fastgrad.grad``: gradients of outputs with respect to chosen inputs, without touching .grad.

With ``create_graph=True`` the returned gradients are differentiable again (higher order).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from fastgrad._hooks import run_with_callbacks
from fastgrad.tensor import Tensor, _wrap

# Depth of fastgrad.grad calls running on this thread (checkpoint refuses to run inside one).
_grad_calls = threading.local()


def in_grad_call() -> bool:
    return getattr(_grad_calls, "depth", 0) > 0


def _as_list(x: Tensor | Sequence[Tensor] | None) -> list:
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
         retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """d(outputs)/d(inputs) as a tuple, one entry per input (None if unused and allowed).

    Example: ``(dx,) = fastgrad.grad(y, x, create_graph=True)`` then ``fastgrad.grad(dx, x)``.
    """
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    if not outs or not ins:
        raise ValueError("grad: outputs and inputs must be non-empty")
    gouts = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outs)
    if len(gouts) != len(outs):
        raise ValueError(f"grad: got {len(gouts)} grad_outputs for {len(outs)} outputs")
    for t in outs + ins:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: expected Tensors, got {type(t).__name__}")
    b = outs[0]._b
    if retain_graph is None:
        retain_graph = create_graph
    _grad_calls.depth = getattr(_grad_calls, "depth", 0) + 1
    try:
        res = run_with_callbacks(lambda: b.grad(
            [o._impl for o in outs], [i._impl for i in ins],
            [None if g is None else g._impl for g in gouts],
            bool(retain_graph), bool(create_graph), bool(allow_unused)))
    finally:
        _grad_calls.depth -= 1
    return tuple(None if r is None else _wrap(r, b) for r in res)


def backward(tensors: Tensor | Sequence[Tensor],
             grad_tensors: Tensor | Sequence[Tensor | None] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Like ``Tensor.backward`` for several roots at once."""
    ts = _as_list(tensors)
    gs = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(ts)
    b = ts[0]._b
    if retain_graph is None:
        retain_graph = create_graph
    run_with_callbacks(lambda: b.backward(
        [t._impl for t in ts], [None if g is None else g._impl for g in gs],
        bool(retain_graph), bool(create_graph)))
