"""Module hooks: forward pre-hooks, forward hooks and full backward hooks (PyTorch's semantics).

``Module.__call__`` comes here only when a hook is registered, so a module without hooks pays
nothing. A full backward hook sees the gradients w.r.t. the module's tensor inputs and outputs:
identity nodes (custom Functions) wrap the inputs and the outputs of the call; the output node
records grad_output, the input node runs the hooks, which may replace grad_input.
"""

from __future__ import annotations

from typing import Any

from fastgrad.autograd.function import Function, FunctionCtx
from fastgrad.autograd.grad_mode import is_grad_enabled
from fastgrad.tensor import Tensor


class _BackwardHookCall:
    """One call of a module with backward hooks: grad_output is captured, then the hooks fire."""

    def __init__(self, module: Any, n_inputs: int) -> None:
        self.module = module
        self.n_inputs = n_inputs
        self.inputs_wrapped = False
        self.grad_output: tuple = ()

    def fire(self, grad_input: tuple) -> tuple:
        name = type(self.module).__name__
        for hook in list(self.module._backward_hooks.values()):
            r = hook(self.module, grad_input, self.grad_output)
            if r is None:
                continue
            r = (r,) if isinstance(r, Tensor) else tuple(r)
            if len(r) != len(grad_input):
                raise RuntimeError(f"backward hook of {name}: returned {len(r)} gradients for "
                                   f"{len(grad_input)} inputs")
            for g, old in zip(r, grad_input):
                if g is not None and old is not None and g.shape != old.shape:
                    raise ValueError(f"backward hook of {name}: returned a gradient of shape "
                                     f"{g.shape} for an input of shape {old.shape}")
            grad_input = r
        return grad_input


class _HookIdentity(Function):
    """Identity on tensors; the subclasses' backward is where the hooks act."""

    @staticmethod
    def forward(ctx: FunctionCtx, call: _BackwardHookCall, *xs: Tensor) -> tuple:
        ctx.call = call
        return xs


class ModuleInputsBackward(_HookIdentity):
    """On a module's tensor inputs: its backward runs the module's backward hooks."""

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> tuple:
        return (None, *ctx.call.fire(grads))


class ModuleOutputsBackward(_HookIdentity):
    """On a module's tensor outputs: its backward records grad_output."""

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> tuple:
        call = ctx.call
        call.grad_output = grads
        if not call.inputs_wrapped:  # no input needs a gradient: the hooks see None for each
            call.fire((None,) * call.n_inputs)
        return (None, *grads)


def _replace(values: Any, positions: list[int], new: tuple) -> Any:
    if isinstance(values, Tensor):
        return new[0]
    out = list(values)
    for i, v in zip(positions, new):
        out[i] = v
    return type(values)(out) if isinstance(values, tuple) else out


def _tensor_positions(values: Any) -> list[int]:
    if isinstance(values, Tensor):
        return [0]
    if isinstance(values, (tuple, list)):
        return [i for i, v in enumerate(values) if isinstance(v, Tensor)]
    return []


def _wrap_outputs(call: _BackwardHookCall, out: Any) -> Any:
    pos = _tensor_positions(out)
    ys = [out] if isinstance(out, Tensor) else [out[i] for i in pos]
    if not any(y.requires_grad for y in ys):
        return out
    return _replace(out, pos, ModuleOutputsBackward.apply(call, *ys))


def call_with_hooks(module: Any, args: tuple, kwargs: dict) -> Any:
    """``module(*args, **kwargs)`` with its pre-hooks, forward hooks and backward hooks."""
    for hook in list(module._forward_pre_hooks.values()):
        r = hook(module, args)
        if r is not None:
            args = r if isinstance(r, tuple) else (r,)
    call = None
    if module._backward_hooks and is_grad_enabled():
        pos = _tensor_positions(args)
        call = _BackwardHookCall(module, len(pos))
        xs = [args[i] for i in pos]
        if any(x.requires_grad for x in xs):
            call.inputs_wrapped = True
            args = _replace(args, pos, ModuleInputsBackward.apply(call, *xs))
    out = module.forward(*args, **kwargs)
    for hook in list(module._forward_hooks.values()):
        r = hook(module, args, out)
        if r is not None:
            out = r
    return out if call is None else _wrap_outputs(call, out)
