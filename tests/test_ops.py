"""Every row of the op table on both backends: forward against NumPy, float64 gradients against
central finite differences (the dot-product test), C++ against Python, and PyTorch if installed."""

from __future__ import annotations

import math
from typing import Any, Callable

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import _backend
from fastgrad._optable import OP_TABLE, PRIMITIVES, OpSpec


def _idx(x: Any) -> Any:
    return x[1:3, None, ..., ::2][:, :, 2]


ADV = np.array([[0, 2], [3, 3]])


# public fastgrad call, NumPy reference, PyTorch call: (inputs, kwargs) -> output(s)
def _split_np(a: np.ndarray) -> tuple:
    return tuple(np.split(a, [3, 6], axis=0))


FG: dict[str, Callable[..., Any]] = {
    "neg": lambda x, **k: -x, "exp": lambda x, **k: x.exp(), "log": lambda x, **k: x.log(),
    "sqrt": lambda x, **k: x.sqrt(), "abs": lambda x, **k: abs(x), "sin": lambda x, **k: x.sin(),
    "cos": lambda x, **k: x.cos(), "tanh": lambda x, **k: x.tanh(),
    "sigmoid": lambda x, **k: x.sigmoid(), "relu": lambda x, **k: x.relu(),
    "add": lambda a, b, **k: a + b, "sub": lambda a, b, **k: a - b, "mul": lambda a, b, **k: a * b,
    "div": lambda a, b, **k: a / b, "pow": lambda a, b, **k: a ** b,
    "maximum": lambda a, b, **k: fastgrad.maximum(a, b),
    "minimum": lambda a, b, **k: fastgrad.minimum(a, b),
    "where": lambda a, b, c, **k: fastgrad.where(a > 0, b, c),
    "clamp": lambda x, **k: x.clamp(**k),
    "add_scalar": lambda x, **k: x + 2.5, "rsub_scalar": lambda x, **k: 1.5 - x,
    "mul_scalar": lambda x, **k: 3 * x, "rdiv_scalar": lambda x, **k: 2.0 / x,
    "pow_scalar": lambda x, **k: x ** 3,
    "sum": lambda x, **k: x.sum(**k), "mean": lambda x, **k: x.mean(**k),
    "var": lambda x, **k: x.var(**k), "std": lambda x, **k: x.std(**k),
    "max": lambda x, **k: x.max(), "min": lambda x, **k: x.min(),
    "max_dim": lambda x, dim: x.max(dim=dim).values, "amax": lambda x, dim: x.amax(dim),
    "logsumexp": lambda x, **k: x.logsumexp(**k), "softmax": lambda x, dim: x.softmax(dim),
    "log_softmax": lambda x, dim: x.log_softmax(dim), "argmax": lambda x, dim: x.argmax(dim),
    "lt": lambda a, b, **k: a < b, "ge": lambda a, b, **k: a >= b, "eq": lambda a, b, **k: a == b,
    "reshape": lambda x, shape: x.reshape(shape), "transpose": lambda x, dims: x.transpose(*dims),
    "permute": lambda x, dims: x.permute(*dims), "expand": lambda x, shape: x.expand(*shape),
    "squeeze_unsqueeze": lambda x: x.squeeze(1).unsqueeze(0),
    "flatten": lambda x: x.flatten(1), "getitem_basic": _idx,
    "getitem_advanced": lambda x: x[fastgrad.tensor(ADV), 1:],
    "getitem_mask": lambda x: x[x > 0],
    "cat": lambda a, b, dim: fastgrad.cat([a, b], dim),
    "stack": lambda a, b, dim: fastgrad.stack([a, b], dim),
    "split": lambda x: fastgrad.split(x, 3),
    "matmul": lambda a, b: a @ b, "to_float32": lambda x: x.float(),
}

NP: dict[str, Callable[..., Any]] = {
    "neg": lambda x, **k: -x, "exp": lambda x, **k: np.exp(x), "log": lambda x, **k: np.log(x),
    "sqrt": lambda x, **k: np.sqrt(x), "abs": lambda x, **k: np.abs(x),
    "sin": lambda x, **k: np.sin(x), "cos": lambda x, **k: np.cos(x),
    "tanh": lambda x, **k: np.tanh(x), "sigmoid": lambda x, **k: 1 / (1 + np.exp(-x)),
    "relu": lambda x, **k: np.maximum(x, 0),
    "add": lambda a, b, **k: a + b, "sub": lambda a, b, **k: a - b, "mul": lambda a, b, **k: a * b,
    "div": lambda a, b, **k: a / b, "pow": lambda a, b, **k: a ** b,
    "maximum": lambda a, b, **k: np.maximum(a, b), "minimum": lambda a, b, **k: np.minimum(a, b),
    "where": lambda a, b, c, **k: np.where(a > 0, b, c),
    "clamp": lambda x, min, max: np.clip(x, min, max),
    "add_scalar": lambda x, **k: x + 2.5, "rsub_scalar": lambda x, **k: 1.5 - x,
    "mul_scalar": lambda x, **k: 3 * x, "rdiv_scalar": lambda x, **k: 2.0 / x,
    "pow_scalar": lambda x, **k: x ** 3,
    "sum": lambda x, dim=None, keepdim=False: np.sum(x, axis=dim, keepdims=keepdim),
    "mean": lambda x, dim=None: np.mean(x, axis=dim),
    "var": lambda x, dim=None: np.var(x, axis=dim, ddof=1),
    "std": lambda x, dim=None: np.std(x, axis=dim, ddof=1),
    "max": lambda x: np.max(x), "min": lambda x: np.min(x),
    "max_dim": lambda x, dim: np.max(x, axis=dim), "amax": lambda x, dim: np.max(x, axis=dim),
    "logsumexp": lambda x, dim: np.log(np.sum(np.exp(x), axis=dim)),
    "softmax": lambda x, dim: np.exp(x) / np.sum(np.exp(x), axis=dim, keepdims=True),
    "log_softmax": lambda x, dim: x - np.log(np.sum(np.exp(x), axis=dim, keepdims=True)),
    "argmax": lambda x, dim: np.argmax(x, axis=dim),
    "lt": lambda a, b, **k: a < b, "ge": lambda a, b, **k: a >= b, "eq": lambda a, b, **k: a == b,
    "reshape": lambda x, shape: x.reshape(shape), "transpose": lambda x, dims: np.swapaxes(x, *dims),
    "permute": lambda x, dims: np.transpose(x, dims), "expand": lambda x, shape: np.broadcast_to(x, shape),
    "squeeze_unsqueeze": lambda x: np.squeeze(x, 1)[None],
    "flatten": lambda x: x.reshape(x.shape[0], -1), "getitem_basic": _idx,
    "getitem_advanced": lambda x: x[ADV, 1:], "getitem_mask": lambda x: x[x > 0],
    "cat": lambda a, b, dim: np.concatenate([a, b], dim),
    "stack": lambda a, b, dim: np.stack([a, b], dim), "split": _split_np,
    "matmul": lambda a, b: a @ b, "to_float32": lambda x: x.astype(np.float32),
}

# A unary primitive of the op table needs no entry above when NumPy has a function of its name: its
# fastgrad call is the Tensor method (or fastgrad.nn.functional's function), its PyTorch call
# torch.<name> (or torch.nn.functional's).
FG["cumsum"] = lambda x, dim: x.cumsum(dim)
NP["cumsum"] = lambda x, dim: np.cumsum(x, axis=dim)
NP.update({"erf": np.vectorize(math.erf, otypes=[float]),
           "softplus": lambda x: np.logaddexp(np.zeros((), x.dtype), x)})
# h1-nnfast: F.linear (the linear primitive, with folded batch dims and a vector input)
FG["linear"] = lambda x, w, b: fastgrad.nn.functional.linear(x, w, b)
NP["linear"] = lambda x, w, b: x @ w.T + b
for _p in PRIMITIVES:
    if _p.kind == "unary" and _p.name not in FG:
        if _p.method:
            FG[_p.name] = lambda x, _n=_p.name: getattr(x, _n)()
        else:
            FG[_p.name] = lambda x, _n=_p.name: getattr(fastgrad.nn.functional, _n)(x)
        if _p.name not in NP and hasattr(np, _p.name):
            NP[_p.name] = getattr(np, _p.name)

CASES = [(spec, shapes) for spec in OP_TABLE for shapes in spec.shapes]
IDS = [f"{s.name}{'-' + '-'.join(f'{k}={v}' for k, v in s.kwargs.items()) if s.kwargs else ''}-"
       f"{'x'.join(str(sh) for sh in shapes)}" for s, shapes in CASES]


def make_inputs(spec: OpSpec, shapes: tuple, rng: np.random.Generator, dtype: Any) -> list:
    out = []
    for i, shape in enumerate(shapes):
        if spec.domain == "positive":
            a = rng.uniform(0.5, 2.0, shape)
        elif spec.domain == "unit":
            a = rng.uniform(-0.9, 0.9, shape)
        elif spec.domain == "away":
            a = rng.uniform(0.2, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        else:
            a = rng.standard_normal(shape)
        if spec.name in ("maximum", "minimum") and i == 1:
            a = a + 0.05 * rng.choice([-1.0, 1.0], shape)  # keep ties away
        out.append(np.asarray(a, dtype=dtype))
    if spec.name == "clamp":
        out[0] = np.where(np.abs(out[0] + 0.5) < 0.1, 0.0, out[0]).astype(dtype)
        out[0] = np.where(np.abs(out[0] - 0.7) < 0.1, 0.0, out[0]).astype(dtype)
    return out


def _outputs(r: Any) -> list:
    return list(r) if isinstance(r, tuple) else [r]


def run_fg(spec: OpSpec, arrays: list, requires_grad: bool) -> tuple[list, list]:
    xs = [fastgrad.tensor(a, requires_grad=requires_grad and spec.differentiable) for a in arrays]
    return xs, _outputs(FG[spec.name](*xs, **spec.kwargs))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec,shapes", CASES, ids=IDS)
def test_forward_matches_numpy(backend: str, spec: OpSpec, shapes: tuple, dtype: Any,
                               rng: np.random.Generator) -> None:
    arrays = make_inputs(spec, shapes, rng, dtype)
    _, outs = run_fg(spec, arrays, requires_grad=False)
    expected = _outputs(NP[spec.name](*arrays, **spec.kwargs))
    assert len(outs) == len(expected)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for o, e in zip(outs, expected):
        e = np.asarray(e)
        assert o.shape == e.shape
        if e.dtype == np.bool_ or e.dtype.kind == "i":
            np.testing.assert_array_equal(o.numpy(), e)
        else:
            assert o.dtype.np == (np.float32 if spec.name == "to_float32" else dtype)
            np.testing.assert_allclose(o.numpy(), e, rtol=tol * 10, atol=tol)


def _dot_test(spec: OpSpec, arrays: list, rng: np.random.Generator) -> None:
    """<u, J v> by central differences equals <J^T u, v> from backward, for random u, v."""
    xs, outs = run_fg(spec, arrays, requires_grad=True)
    us = [rng.standard_normal(o.shape) for o in outs]
    loss = sum((o * fastgrad.tensor(u)).sum() for o, u in zip(outs, us))
    loss.backward()
    eps = 1e-2 if spec.name == "to_float32" else 1e-6  # linear; a tiny step is float32 noise
    for i, a in enumerate(arrays):
        v = rng.standard_normal(a.shape)
        plus = arrays.copy()
        minus = arrays.copy()
        plus[i] = a + eps * v
        minus[i] = a - eps * v
        fp = _outputs(NP[spec.name](*plus, **spec.kwargs))
        fm = _outputs(NP[spec.name](*minus, **spec.kwargs))
        numeric = sum(float(np.sum(u * (np.asarray(p) - np.asarray(m)) / (2 * eps)))
                      for u, p, m in zip(us, fp, fm))
        g = xs[i].grad
        analytic = 0.0 if g is None else float(np.sum(g.numpy() * v))
        assert g is None or g.shape == xs[i].shape
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7), f"input {i}"


@pytest.mark.parametrize("spec,shapes", [c for c in CASES if c[0].differentiable],
                         ids=[i for c, i in zip(CASES, IDS) if c[0].differentiable])
def test_gradient_dot_product(backend: str, spec: OpSpec, shapes: tuple,
                              rng: np.random.Generator) -> None:
    arrays = make_inputs(spec, shapes, rng, np.float64)
    _dot_test(spec, arrays, rng)


def _values_and_grads(name: str, spec: OpSpec, arrays: list, seed: int) -> tuple[list, list]:
    fastgrad.set_backend(name)
    xs, outs = run_fg(spec, arrays, requires_grad=True)
    vals = [o.detach().numpy().copy() for o in outs]
    grads: list = []
    if spec.differentiable:
        r = np.random.default_rng(seed)
        loss = sum((o * fastgrad.tensor(r.standard_normal(o.shape))).sum() for o in outs)
        loss.backward()
        grads = [None if x.grad is None else x.grad.numpy().copy() for x in xs]
    return vals, grads


@pytest.mark.parametrize("spec,shapes", CASES, ids=IDS)
def test_parity_cpp_python(spec: OpSpec, shapes: tuple, rng: np.random.Generator) -> None:
    if "cpp" not in _backend.available():
        pytest.skip("the C++ backend did not import")
    arrays = make_inputs(spec, shapes, rng, np.float64)
    prev = fastgrad.get_backend()
    try:
        vc, gc = _values_and_grads("cpp", spec, arrays, 7)
        vp, gp = _values_and_grads("python", spec, arrays, 7)
    finally:
        fastgrad.set_backend(prev)
    for a, b in zip(vc + gc, vp + gp):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


TORCH: dict[str, Callable[..., Any]] = {}


def _torch_fns(torch: Any) -> dict[str, Callable[..., Any]]:
    t = torch
    return {
        "neg": lambda x, **k: -x, "exp": t.exp, "log": t.log, "sqrt": t.sqrt, "abs": t.abs,
        "sin": t.sin, "cos": t.cos, "tanh": t.tanh, "sigmoid": t.sigmoid, "relu": t.relu,
        "add": t.add, "sub": t.sub, "mul": t.mul, "div": t.div, "pow": t.pow,
        "maximum": t.maximum, "minimum": t.minimum,
        "where": lambda a, b, c: t.where(a > 0, b, c), "clamp": lambda x, **k: t.clamp(x, **k),
        "add_scalar": lambda x: x + 2.5, "rsub_scalar": lambda x: 1.5 - x,
        "mul_scalar": lambda x: 3 * x, "rdiv_scalar": lambda x: 2.0 / x,
        "pow_scalar": lambda x: x ** 3,
        "sum": lambda x, dim=None, keepdim=False: x.sum() if dim is None else x.sum(dim, keepdim),
        "mean": lambda x, dim=None: x.mean() if dim is None else x.mean(dim),
        "var": lambda x, dim=None: x.var() if dim is None else x.var(dim),
        "std": lambda x, dim=None: x.std() if dim is None else x.std(dim),
        "max": lambda x: x.max(), "min": lambda x: x.min(),
        "max_dim": lambda x, dim: x.max(dim).values, "amax": lambda x, dim: x.amax(dim),
        "logsumexp": lambda x, dim: t.logsumexp(x, dim), "softmax": t.softmax,
        "log_softmax": t.log_softmax, "argmax": lambda x, dim: x.argmax(dim),
        "lt": t.lt, "ge": t.ge, "eq": t.eq,
        "reshape": lambda x, shape: x.reshape(shape),
        "transpose": lambda x, dims: x.transpose(*dims),
        "permute": lambda x, dims: x.permute(*dims), "expand": lambda x, shape: x.expand(*shape),
        "squeeze_unsqueeze": lambda x: x.squeeze(1).unsqueeze(0),
        "flatten": lambda x: x.flatten(1),
        "getitem_basic": lambda x: x[1:3, None, ..., ::2][:, :, 2],
        "getitem_advanced": lambda x: x[t.tensor(ADV), 1:],
        "getitem_mask": lambda x: x[x > 0],
        "cat": lambda a, b, dim: t.cat([a, b], dim), "stack": lambda a, b, dim: t.stack([a, b], dim),
        "split": lambda x: t.split(x, 3), "matmul": t.matmul, "to_float32": lambda x: x.float(),
    }


def _torch_fn(torch: Any, name: str) -> Callable[..., Any]:
    fns = _torch_fns(torch)
    if name in fns:
        return fns[name]
    return getattr(torch, name, None) or getattr(torch.nn.functional, name)


@pytest.mark.parametrize("spec,shapes", CASES, ids=IDS)
def test_against_torch(backend: str, spec: OpSpec, shapes: tuple, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    fn = _torch_fn(torch, spec.name)
    arrays = make_inputs(spec, shapes, rng, np.float64)
    xs, outs = run_fg(spec, arrays, requires_grad=True)
    txs = [torch.tensor(a, requires_grad=spec.differentiable) for a in arrays]
    touts = _outputs(fn(*txs, **spec.kwargs))
    us = [rng.standard_normal(tuple(o.shape)) for o in touts]
    for o, to in zip(outs, touts):
        np.testing.assert_allclose(o.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    if spec.differentiable:
        sum((o * fastgrad.tensor(u)).sum() for o, u in zip(outs, us)).backward()
        sum((o * torch.tensor(u)).sum() for o, u in zip(touts, us)).backward()
        for x, tx in zip(xs, txs):
            assert (x.grad is None) == (tx.grad is None)
            if x.grad is not None:
                np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
