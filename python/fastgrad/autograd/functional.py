"""Function transforms with PyTorch's signatures: ``vjp, jvp, jacobian, hessian, hvp, vhp``.

All are built on reverse passes (``fastgrad.grad``): ``jvp`` uses the double-vjp construction
(J·v = d/du ⟨Jᵀu, v⟩, exact, two reverse passes per tangent), ``jacobian`` one reverse pass per
output element, ``hessian`` the jacobian of the gradient. No forward-mode tape. ``vectorize`` and
the ``strategy`` arguments are accepted for compatibility and ignored (there is no vmap).

Example: ``jacobian(lambda x, y: (x**4 + 3*y**2*x, 5*y**2 - 2*x*y + 1), (x, y))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from fastgrad._ops import stack
from fastgrad.autograd.api import grad
from fastgrad.tensor import Tensor, _wrap, zeros_like

Tensors = Any  # a Tensor or a tuple of Tensors


def _as_tuple(op: str, arg_name: str, x: Any) -> tuple[bool, tuple[Tensor, ...]]:
    """(was it a tuple, the tensors as a tuple); TypeError naming the op for anything else."""
    is_tuple = isinstance(x, (tuple, list))
    xs = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {arg_name}[{i}] must be a Tensor, got {type(t).__name__}")
    return is_tuple, xs


def _untuple(is_tuple: bool, xs: Sequence[Any]) -> Any:
    return tuple(xs) if is_tuple else xs[0]


def _prepare_inputs(inputs: tuple[Tensor, ...], create_graph: bool) -> tuple[Tensor, ...]:
    """Fresh leaves that require grad (aliases that keep history under create_graph)."""
    out = []
    for t in inputs:
        if not t.dtype.is_floating_point:
            raise TypeError(f"functional: inputs must be floating point, got {t.dtype.name}")
        if create_graph and t.requires_grad:
            out.append(t * 1.0)  # a differentiable copy: gradients flow on to t
        else:
            out.append(t.detach().requires_grad_(True))
    return tuple(out)


def _check_v(op: str, v: tuple[Tensor, ...], like: tuple[Tensor, ...], what: str) -> None:
    if len(v) != len(like):
        raise ValueError(f"{op}: v has {len(v)} tensors but {what} has {len(like)}")
    for i, (a, b) in enumerate(zip(v, like)):
        if a.shape != b.shape:
            raise ValueError(f"{op}: v[{i}] has shape {a.shape} but {what}[{i}] has shape "
                             f"{b.shape}")


def _tangents(op: str, xs: tuple[Tensor, ...], v: Tensors | None) -> tuple[Tensor, ...]:
    """``v`` as a tuple matching the inputs' shapes; ones when omitted for one-element inputs."""
    if v is None:
        for x in xs:
            if x.numel() != 1:
                raise ValueError(f"{op}: v can be omitted only for one-element inputs, got an "
                                 f"input of shape {x.shape}")
        return tuple(zeros_like(x) + 1.0 for x in xs)
    _, vs = _as_tuple(op, "v", v)
    _check_v(op, vs, xs, "inputs")
    return vs


def _grads(op: str, outputs: Sequence[Tensor], inputs: Sequence[Tensor],
           grad_outputs: Sequence[Tensor | None], create_graph: bool,
           strict: bool) -> list[Tensor]:
    """grad() over the outputs that require grad; zeros for unused inputs (an error if strict)."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not pairs:
        res: tuple = (None,) * len(inputs)
    else:
        res = grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs],
                   retain_graph=True, create_graph=create_graph, allow_unused=True)
    out = []
    for i, (r, x) in enumerate(zip(res, inputs)):
        if r is None:
            if strict:
                raise RuntimeError(f"{op}: the output is independent of input {i} (strict=True)")
            r = zeros_like(x)
        out.append(r)
    return out


def _finish(xs: Sequence[Tensor], create_graph: bool) -> list[Tensor]:
    return list(xs) if create_graph else [x.detach() for x in xs]


def _call(op: str, func: Callable, inputs: tuple[Tensor, ...]) -> tuple[bool, tuple[Tensor, ...]]:
    return _as_tuple(op, "the output of func", func(*inputs))


def vjp(func: Callable[..., Tensors], inputs: Tensors, v: Tensors | None = None,
        create_graph: bool = False, strict: bool = False) -> tuple[Tensors, Tensors]:
    """(func(inputs), vᵀ·J): the vector-Jacobian product, one reverse pass.

    ``v`` has the output's shape (optional for a one-element output). Example:
    ``out, g = vjp(lambda x: (x * x).sum(), x)`` gives ``g == 2 * x``.
    """
    in_tuple, xs = _as_tuple("vjp", "inputs", inputs)
    xs = _prepare_inputs(xs, create_graph)
    out_tuple, outs = _call("vjp", func, xs)
    if v is None:
        for o in outs:
            if o.numel() != 1:
                raise ValueError(f"vjp: v can be omitted only for one-element outputs, got an "
                                 f"output of shape {o.shape}")
        vs: tuple = (None,) * len(outs)
    else:
        _, vs = _as_tuple("vjp", "v", v)
        _check_v("vjp", vs, outs, "the output")
    res = _grads("vjp", outs, xs, vs, create_graph, strict)
    return (_untuple(out_tuple, _finish(outs, create_graph)),
            _untuple(in_tuple, _finish(res, create_graph)))


def jvp(func: Callable[..., Tensors], inputs: Tensors, v: Tensors | None = None,
        create_graph: bool = False, strict: bool = False) -> tuple[Tensors, Tensors]:
    """(func(inputs), J·v): the Jacobian-vector product (forward mode) by the double-vjp trick.

    g(u) = Jᵀ·u is linear in a dummy u, so d⟨g(u), v⟩/du = J·v exactly: two reverse passes.
    ``v`` has the inputs' shapes (optional for a one-element input). Example:
    ``jvp(f, x, e_i)[1]`` is the i-th column of the Jacobian (seed example 13).
    """
    _, xs = _as_tuple("jvp", "inputs", inputs)
    vs = _tangents("jvp", xs, v)
    xs = _prepare_inputs(xs, create_graph)
    out_tuple, outs = _call("jvp", func, xs)
    us = [zeros_like(o).requires_grad_(True) if o.dtype.is_floating_point else None for o in outs]
    g = _grads("jvp", outs, xs, us, True, strict)
    used = [(gi, vi) for gi, vi in zip(g, vs) if gi.requires_grad]
    res: list[Tensor] = []
    for o, u in zip(outs, us):
        if u is None or not used:
            res.append(zeros_like(o))
            continue
        (r,) = grad([gi for gi, _ in used], [u], [vi for _, vi in used], retain_graph=True,
                    create_graph=create_graph, allow_unused=True)
        res.append(zeros_like(o) if r is None else r)
    return (_untuple(out_tuple, _finish(outs, create_graph)),
            _untuple(out_tuple, _finish(res, create_graph)))


def _one_hot(like: Tensor, k: int) -> Tensor:
    a = np.zeros(like.numel(), dtype=np.dtype(like.dtype.name))
    a[k] = 1
    return _wrap(like._b.from_numpy(a.reshape(like.shape)), like._b)


def _jacobian_rows(out: Tensor, xs: tuple[Tensor, ...], create_graph: bool,
                   strict: bool) -> list[Tensor]:
    """d out / d x_j for every input j, each of shape out.shape + x_j.shape (one pass per row)."""
    if out.numel() == 0 or not out.requires_grad:
        if strict and out.numel():
            raise RuntimeError("jacobian: an output is independent of the inputs (strict=True)")
        return [_wrap(x._b.full(list(out.shape + x.shape), 0.0, x._impl.dtype), x._b)
                for x in xs]
    rows: list[list[Tensor]] = [[] for _ in xs]
    for k in range(out.numel()):
        gs = _grads("jacobian", [out], xs, [_one_hot(out, k)], create_graph, strict)
        for j, gj in enumerate(gs):
            rows[j].append(gj)
    return [stack(r, 0).reshape(out.shape + x.shape) for r, x in zip(rows, xs)]


def jacobian(func: Callable[..., Tensors], inputs: Tensors, create_graph: bool = False,
             strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode") -> Any:
    """The Jacobian of func at inputs, one reverse pass per output element.

    Shapes: ``J[i][j]`` has shape ``out_i.shape + in_j.shape``; the tuple levels are dropped where
    func's output or the inputs are a single Tensor (as in PyTorch). Example:
    ``jacobian(lambda x: x ** 2, x)`` is ``diag(2x)``.
    """
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got "
                         f"{strategy!r}")
    in_tuple, xs = _as_tuple("jacobian", "inputs", inputs)
    xs = _prepare_inputs(xs, create_graph)
    out_tuple, outs = _call("jacobian", func, xs)
    jac = []
    for o in outs:
        rows = _finish(_jacobian_rows(o, xs, create_graph, strict), create_graph)
        jac.append(_untuple(in_tuple, rows))
    return _untuple(out_tuple, jac)


def _scalar_output(op: str, func: Callable, xs: tuple[Tensor, ...]) -> Tensor:
    out_tuple, outs = _call(op, func, xs)
    if out_tuple or outs[0].numel() != 1:
        shape = "a tuple" if out_tuple else f"shape {outs[0].shape}"
        raise ValueError(f"{op}: func must return a single one-element Tensor, got {shape}")
    return outs[0]


def hessian(func: Callable[..., Tensor], inputs: Tensors, create_graph: bool = False,
            strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a scalar func: the jacobian of its gradient (``H[i][j]`` d²f/dx_i dx_j).

    Shapes: ``H[i][j]`` has shape ``in_i.shape + in_j.shape``. Example:
    ``hessian(lambda w: (w * w).sum(), w)`` is ``2·I``.
    """
    in_tuple, xs = _as_tuple("hessian", "inputs", inputs)

    def gradient(*ins: Tensor) -> tuple[Tensor, ...]:
        out = _scalar_output("hessian", func, ins)
        return tuple(_grads("hessian", [out], ins, [None], True, strict))

    fn = gradient if in_tuple else (lambda x: gradient(x)[0])
    return jacobian(fn, _untuple(in_tuple, xs), create_graph=create_graph, strict=strict,
                    strategy=outer_jacobian_strategy)


def _second_order(op: str, func: Callable, inputs: Tensors, v: Tensors | None,
                  create_graph: bool, strict: bool) -> tuple[Tensor, Tensors]:
    in_tuple, xs = _as_tuple(op, "inputs", inputs)
    xs = _prepare_inputs(xs, create_graph)
    vs = _tangents(op, xs, v)
    out = _scalar_output(op, func, xs)
    g = _grads(op, [out], xs, [None], True, strict)
    used = [(gi, vi) for gi, vi in zip(g, vs) if gi.requires_grad]
    if used:
        res = _grads(op, [gi for gi, _ in used], xs, [vi for _, vi in used], create_graph, strict)
    else:
        res = [zeros_like(x) for x in xs]
    return _finish([out], create_graph)[0], _untuple(in_tuple, _finish(res, create_graph))


def hvp(func: Callable[..., Tensor], inputs: Tensors, v: Tensors | None = None,
        create_graph: bool = False, strict: bool = False) -> tuple[Tensor, Tensors]:
    """(func(inputs), H·v) for a scalar func, without building H: two reverse passes.

    Example (seed 11): ``hvp(lambda w: (w * w).sum(), w, v)[1] == 2 * v``.
    """
    return _second_order("hvp", func, inputs, v, create_graph, strict)


def vhp(func: Callable[..., Tensor], inputs: Tensors, v: Tensors | None = None,
        create_graph: bool = False, strict: bool = False) -> tuple[Tensor, Tensors]:
    """(func(inputs), vᵀ·H) for a scalar func; equal to hvp since a Hessian is symmetric."""
    return _second_order("vhp", func, inputs, v, create_graph, strict)
