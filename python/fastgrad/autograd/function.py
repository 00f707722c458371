"""Custom differentiable ops: subclass ``Function`` with static ``forward`` and ``backward``.

The backend makes one graph node per call whose backward calls ``YourFn.backward`` (the C++
engine takes the GIL for it). Example: the lecture's Multiply gate::

    class Multiply(fastgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y
        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * y, g * x
"""

from __future__ import annotations

from typing import Any

from fastgrad.autograd.grad_mode import is_grad_enabled, no_grad
from fastgrad.tensor import Tensor, _wrap


class FunctionCtx:
    """What forward hands to backward: saved tensors and which inputs need a gradient."""

    def __init__(self) -> None:
        self._saved: tuple[Tensor | None, ...] = ()
        self._versions: tuple[int, ...] = ()
        self._name = "Function"
        self.needs_input_grad: tuple[bool, ...] = ()
        self._released = False

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward: expected tensors or None, got {type(t).__name__}"
                )
        self._saved = tensors
        self._versions = tuple(0 if t is None else t._version for t in tensors)

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        if self._released:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or to read saved tensors "
                "after they were freed); pass retain_graph=True to the first backward"
            )
        for i, (t, v) in enumerate(zip(self._saved, self._versions)):
            if t is not None and t._version != v:  # See Note [Version counter] (tensor.h)
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an in-place operation: saved tensor {i} of {self._name} (shape {t.shape}) "
                    f"is at version {t._version}; expected version {v} instead. Use the "
                    "out-of-place op, or clone() the tensor before modifying it."
                )
        return self._saved


class Function:
    """Base class of custom ops; call them with ``MyFn.apply(*args)``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("Function subclasses must implement a static forward(ctx, ...)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> Any:
        raise NotImplementedError("Function subclasses must implement a static backward(ctx, ...)")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        ctx = FunctionCtx()
        ctx._name = cls.__name__ + "Backward"
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        for o in outs:
            if not isinstance(o, Tensor):
                raise TypeError(f"{cls.__name__}.forward must return Tensors, got {type(o).__name__}")
        tensor_args = [a for a in args if isinstance(a, Tensor)]
        if not (is_grad_enabled() and any(a.requires_grad for a in tensor_args)):
            return out
        b = tensor_args[0]._b
        inputs = {a._impl.key for a in tensor_args}
        # An output that is an input (or a view with history) gets a fresh alias to own the node.
        outs = tuple(_wrap(b.detach(o._impl), b) if o._impl.key in inputs or o.grad_fn is not None
                     else o for o in outs)
        # Saved outputs are kept as detached aliases: no cycle node -> ctx -> output -> node.
        out_ids = {o._impl.key for o in outs}
        ctx._saved = tuple(s.detach() if s is not None and s._impl.key in out_ids else s
                           for s in ctx._saved)
        n_args = len(args)
        is_tensor = [isinstance(a, Tensor) for a in args]
        name = cls.__name__ + "Backward"

        def backward_fn(grad_impls: list) -> list:
            grads = [_wrap(g, b) for g in grad_impls]
            res = cls.backward(ctx, *grads)
            if not isinstance(res, tuple):
                res = (res,)
            if len(res) != n_args:
                raise RuntimeError(
                    f"{name}: backward returned {len(res)} gradients but forward took {n_args} "
                    "arguments"
                )
            return [None if r is None else r._impl for r, t in zip(res, is_tensor) if t]

        b.function_apply(name, backward_fn, [a._impl for a in tensor_args],
                         [o._impl for o in outs])
        return outs[0] if single else outs
