"""Activation checkpointing: ``checkpoint(fn, *args)`` runs ``fn`` without recording its graph and
runs it again, with the graph, during backward.

Only the inputs of ``fn`` are kept, so a network split into k checkpointed segments stores about
k + (layers per segment) activations instead of one per layer, for one extra forward pass. The
gradients are identical to the unchecked run (same kernels, same order; the random generator is
replayed so dropout draws the same mask). Like PyTorch's reentrant checkpoint, the inner backward
accumulates into the ``.grad`` of the leaves ``fn`` uses: use ``loss.backward()`` through a
checkpoint; ``fastgrad.grad`` and ``create_graph=True`` (higher order) raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from fastgrad import _backend
from fastgrad._random import _rng
from fastgrad.autograd.api import backward, in_grad_call
from fastgrad.autograd.function import Function, FunctionCtx
from fastgrad.autograd.grad_mode import enable_grad, is_grad_enabled
from fastgrad.tensor import Tensor, _wrap


class Checkpoint(Function):
    """forward(ctx, run, preserve_rng_state, anchor, *args) -> run(*args), graph not recorded.

    ``anchor`` is a 0-d tensor that requires grad: it makes a node even when no argument requires
    grad (the leaves inside ``run`` may, e.g. a segment's parameters).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, run: Callable, preserve_rng_state: bool, anchor: Tensor,
                *args: Any) -> Any:
        ctx.run = run
        ctx.rng_state = _rng().bit_generator.state if preserve_rng_state else None
        ctx.is_tensor = [isinstance(a, Tensor) for a in args]
        ctx.others = [None if t else a for a, t in zip(args, ctx.is_tensor)]
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        return run(*args)

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> tuple:
        if in_grad_call() or is_grad_enabled():
            raise RuntimeError(
                "checkpoint: its backward runs an inner loss.backward(), which works only inside "
                "a plain .backward(): not inside fastgrad.grad(), and not with create_graph=True"
            )
        saved = iter(ctx.saved_tensors)
        inputs = []
        for is_t, other in zip(ctx.is_tensor, ctx.others):
            if not is_t:
                inputs.append(other)
                continue
            t = next(saved)
            d = t.detach()
            inputs.append(d.requires_grad_(True) if t.requires_grad else d)
        gen = _rng()
        after = gen.bit_generator.state
        if ctx.rng_state is not None:
            gen.bit_generator.state = ctx.rng_state
        try:
            with enable_grad():
                out = ctx.run(*inputs)
        finally:
            gen.bit_generator.state = after
        outs = (out,) if isinstance(out, Tensor) else tuple(out)
        pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad]
        if pairs:
            backward([o for o, _ in pairs], [g for _, g in pairs])
        input_grads = [x.grad if isinstance(x, Tensor) and x.requires_grad else None
                       for x in inputs]
        return (None, None, None, *input_grads)


def checkpoint(function: Callable[..., Any], *args: Any, preserve_rng_state: bool = True,
               use_reentrant: bool | None = None, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` whose intermediates are recomputed in backward, not stored.

    Returns what ``function`` returns (a Tensor or a tuple of Tensors). ``use_reentrant`` is
    accepted for PyTorch compatibility; this is always the reentrant kind. Example:
    ``y = fastgrad.checkpoint(block, x)`` then ``y.sum().backward()``.
    """
    if use_reentrant is False:
        raise NotImplementedError("checkpoint: only the reentrant kind (use_reentrant=True) exists")
    run = (lambda *a: function(*a, **kwargs)) if kwargs else function
    if not is_grad_enabled():
        return run(*args)
    tensors = [a for a in args if isinstance(a, Tensor)]
    b = tensors[0]._b if tensors else _backend.current
    anchor = _wrap(b.full([], 0.0, 0), b).requires_grad_(True)
    return Checkpoint.apply(run, preserve_rng_state, anchor, *args)


def checkpoint_sequential(functions: Sequence[Callable[[Any], Any]] | Any, segments: int,
                          input: Any, preserve_rng_state: bool = True) -> Any:
    """Runs ``functions`` (a list or an nn.Sequential) in ``segments`` checkpointed chunks.

    As in PyTorch the last chunk is not checkpointed (its backward runs right away anyway).
    Example: ``out = checkpoint_sequential(model, 4, x)`` for a 16-layer Sequential.
    """
    fns = list(functions)
    if not 1 <= segments <= max(len(fns), 1):
        raise ValueError(f"checkpoint_sequential: segments must be in [1, {len(fns)}], got "
                         f"{segments}")
    size = -(-len(fns) // segments)

    def chunk(part: list) -> Callable[[Any], Any]:
        def run(x: Any) -> Any:
            for f in part:
                x = f(x)
            return x

        return run

    parts = [fns[i:i + size] for i in range(0, len(fns), size)]
    for part in parts[:-1]:
        input = checkpoint(chunk(part), input, preserve_rng_state=preserve_rng_state)
    return chunk(parts[-1])(input)
