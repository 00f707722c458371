"""gradcheck and gradgradcheck: a function's backward pass against central finite differences.

For each differentiable input and each output it builds the full Jacobian both ways in float64
(one reverse pass per output element, two function calls per input element: small inputs only)
and, on a mismatch, names the worst element. Not here: the dot-product test of test_ops.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from fastgrad.autograd.api import grad
from fastgrad.autograd.grad_mode import enable_grad, no_grad
from fastgrad.tensor import Tensor, _wrap


class GradcheckError(RuntimeError):
    """Raised when analytical and numerical gradients differ."""


def _outputs(fn: Callable, inputs: Sequence[Any]) -> list[Tensor]:
    out = fn(*inputs)
    return [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]


def _differentiable(op: str, inputs: tuple) -> list[int]:
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError(f"{op}: no input requires grad")
    for i in diff:
        if inputs[i].dtype.name != "float64":
            raise TypeError(f"{op}: input {i} must be float64, got {inputs[i].dtype.name}")
        if not inputs[i].is_contiguous():
            raise ValueError(f"{op}: input {i} of shape {inputs[i].shape} must be contiguous")
    return diff


def _analytical(out: Tensor, x: Tensor) -> np.ndarray:
    """Row r: the gradient of out.flat[r] w.r.t. x, by one reverse pass each."""
    J = np.zeros((out.numel(), x.numel()))
    if not out.requires_grad:
        return J
    for r in range(out.numel()):
        seed = np.zeros(out.numel(), dtype=np.dtype(out.dtype.name))
        seed[r] = 1
        g = _wrap(out._b.from_numpy(seed.reshape(out.shape)), out._b)
        (gi,) = grad(out, x, g, retain_graph=True, allow_unused=True)
        if gi is not None:
            J[r] = gi.detach().numpy().reshape(-1)
    return J


def _numerical(fn: Callable, inputs: tuple, k: int, i: int, n_out: int, eps: float) -> np.ndarray:
    """Column c: (f(x + eps e_c) - f(x - eps e_c)) / 2 eps for output k, perturbing input i."""
    flat = inputs[i].detach().numpy().reshape(-1)  # shares memory (contiguous, checked)
    J = np.zeros((n_out, flat.size))
    for c in range(flat.size):
        orig = flat[c]
        with no_grad():
            flat[c] = orig + eps
            plus = _outputs(fn, inputs)[k].detach().numpy().astype(np.float64).reshape(-1)
            flat[c] = orig - eps
            minus = _outputs(fn, inputs)[k].detach().numpy().astype(np.float64).reshape(-1)
            flat[c] = orig
        J[:, c] = (plus - minus) / (2 * eps)
    return J


def _index(shape: tuple[int, ...], flat: int) -> tuple[int, ...]:
    return tuple(int(v) for v in np.unravel_index(flat, shape)) if shape else ()


def _check(op: str, fn: Callable, inputs: tuple, eps: float, atol: float, rtol: float,
           raise_exception: bool) -> bool:
    diff = _differentiable(op, inputs)
    outs = _outputs(fn, inputs)
    for k, out in enumerate(outs):
        if not out.dtype.is_floating_point:
            continue
        for i in diff:
            x = inputs[i]
            analytic = _analytical(out, x)
            numeric = _numerical(fn, inputs, k, i, out.numel(), eps)
            err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
            if not (err > 0).any() and np.isfinite(analytic).all():
                continue
            bad = np.where(np.isnan(err), np.inf, err)
            r, c = np.unravel_index(np.argmax(bad), bad.shape)
            a, n = analytic[r, c], numeric[r, c]
            msg = (f"{op}: Jacobian mismatch for output {k} (shape {out.shape}) element "
                   f"{_index(out.shape, r)} w.r.t. input {i} (shape {x.shape}) element "
                   f"{_index(x.shape, c)}: analytical {a:.10g} vs numerical {n:.10g} "
                   f"(|difference| {abs(a - n):.3g} > atol + rtol * |numerical| = "
                   f"{atol + rtol * abs(n):.3g}); {int((err > 0).sum())} of {err.size} elements "
                   "differ")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """True if fn's gradients match central finite differences; else raises naming the worst element.

    Inputs that require grad must be float64 and contiguous. Example:
    ``fastgrad.gradcheck(lambda x: (x * x).sum(), (fastgrad.randn(3, dtype=fastgrad.float64, requires_grad=True),))``
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    return _check("gradcheck", fn, inputs, eps, atol, rtol, raise_exception)


def gradgradcheck(fn: Callable[..., Any], inputs: Any, grad_outputs: Any = None,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True) -> bool:
    """gradcheck of the first derivatives: checks the second-order gradients of fn.

    The function checked is ``(inputs, v) -> grad(fn(inputs), inputs, v, create_graph=True)``
    with ``v`` random float64 (or ``grad_outputs``), differentiated w.r.t. the inputs and v.
    Example: ``fastgrad.gradgradcheck(lambda x: (x ** 3).sum(), (x,))``.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = _differentiable("gradgradcheck", inputs)
    outs = [o for o in _outputs(fn, inputs) if o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [_wrap(o._b.from_numpy(rng.standard_normal(o.shape)), o._b)
                        .requires_grad_(True) for o in outs]
    else:
        grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise ValueError(f"gradgradcheck: got {len(grad_outputs)} grad_outputs for {len(outs)} "
                         "outputs that require grad")
    n = len(inputs)

    def first_derivatives(*args: Any) -> tuple[Tensor, ...]:
        with enable_grad():  # the numerical pass runs under no_grad
            ins, gos = args[:n], args[n:]
            o = [t for t in _outputs(fn, ins) if t.requires_grad]
            gs = grad(o, [ins[i] for i in diff], list(gos), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return _check("gradgradcheck", first_derivatives, inputs + tuple(grad_outputs), eps, atol,
                  rtol, raise_exception)
