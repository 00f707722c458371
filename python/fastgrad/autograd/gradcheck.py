"""gradcheck: compares a function's backward pass with central finite differences in float64.

For each input and each output element it builds the full Jacobian both ways (small inputs only)
and reports the worst element when they disagree.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from fastgrad.tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised when analytical and numerical gradients differ."""


def _outputs(fn: Callable, inputs: Sequence[Any]) -> list[Tensor]:
    out = fn(*inputs)
    return [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]


def gradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """True if fn's gradients match finite differences; else raises naming the worst element.

    Inputs that require grad must be float64. Example:
    ``fastgrad.gradcheck(lambda x: (x * x).sum(), (fastgrad.randn(3, dtype=fastgrad.float64, requires_grad=True),))``
    """
    from fastgrad import grad, no_grad

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad")
    for i in diff:
        if inputs[i].dtype.name != "float64":
            raise TypeError(f"gradcheck: input {i} must be float64, got {inputs[i].dtype.name}")
    outs = _outputs(fn, inputs)
    for k, out in enumerate(outs):
        if not out.dtype.is_floating_point:
            continue
        n_out = out.numel()
        for i in diff:
            x = inputs[i]
            xa = x.detach().numpy()
            n_in = xa.size
            analytic = np.zeros((n_out, n_in))
            numeric = np.zeros((n_out, n_in))
            for r in range(n_out):
                if not out.requires_grad:
                    break
                seed = np.zeros(n_out)
                seed[r] = 1.0
                from fastgrad import tensor

                g = tensor(seed.reshape(out.shape), dtype=out.dtype)
                (gi,) = grad(out, x, g, retain_graph=True, allow_unused=True)
                if gi is not None:
                    analytic[r] = gi.detach().numpy().reshape(-1)
            flat = xa.reshape(-1)  # shares memory with the input when contiguous
            if not np.shares_memory(flat, xa):
                raise ValueError(f"gradcheck: input {i} must be contiguous")
            for c in range(n_in):
                orig = flat[c]
                with no_grad():
                    flat[c] = orig + eps
                    plus = _outputs(fn, inputs)[k].detach().numpy().astype(np.float64).reshape(-1)
                    flat[c] = orig - eps
                    minus = _outputs(fn, inputs)[k].detach().numpy().astype(np.float64).reshape(-1)
                    flat[c] = orig
                numeric[:, c] = (plus - minus) / (2 * eps)
            err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
            if (err > 0).any():
                r, c = np.unravel_index(np.argmax(err), err.shape)
                msg = (f"gradcheck: output {k} element {r} w.r.t. input {i} element {c}: "
                       f"analytical {analytic[r, c]:.8g} vs numerical {numeric[r, c]:.8g}")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True
