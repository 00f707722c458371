# Callbacks at the end of a backward pass (PyTorch's Variable._execution_engine.queue_callback),
# for code that starts work in gradient hooks and must finish it before backward returns
# (DistributedDataParallel). The list lives in fastgrad._hooks, which Tensor.backward runs.
"""``queue_callback(fn)`` from a hook: ``fn()`` runs when the current backward pass has finished.

Example::

    def hook(p):
        fastgrad.autograd.graph.queue_callback(lambda: print("backward done"))
    w.register_post_accumulate_grad_hook(hook)
"""

from __future__ import annotations

from fastgrad._hooks import queue_callback


class _ExecutionEngine:
    """``Variable._execution_engine.queue_callback(fn)``, as PyTorch spells it."""

    @staticmethod
    def queue_callback(fn: object) -> None:
        queue_callback(fn)


class Variable:
    """Only for ``Variable._execution_engine.queue_callback`` (fastgrad has no Variable type)."""

    _execution_engine = _ExecutionEngine()


__all__ = ["Variable", "queue_callback"]
