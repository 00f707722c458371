"""Property-based fuzzing with hypothesis.

Random programs (a few random ops, each applied to earlier values, on inputs of random
broadcastable shapes and dtypes) must give the same values and gradients on the C++ and the Python
backend, and float64 gradients must match central finite differences. Random bad inputs (wrong
shapes, dtypes, indices, NaN/inf, empty and zero-size tensors, sizes that cannot be allocated) must
raise the same Python exception on both backends, never crash.

Profiles: "ci" (default) is derandomized, so every run tries the same examples;
HYPOTHESIS_PROFILE=explore draws new ones, FASTGRAD_FUZZ_SCALE=k tries k times as many.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import fastgrad
import numpy as np
import pytest
from fastgrad import _backend
from fastgrad._optable import OP_TABLE, PRIMITIVES

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install "
                                 "'.[test]')")
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
SCALE = int(os.environ.get("FASTGRAD_FUZZ_SCALE", "1"))

pytestmark = pytest.mark.skipif("cpp" not in _backend.available(),
                                reason=f"the C++ backend did not import: {_backend._core_error}")


def on_backend(name: str, fn: Callable[[], Any]) -> Any:
    prev = fastgrad.get_backend()
    fastgrad.set_backend(name)
    try:
        return fn()
    finally:
        fastgrad.set_backend(prev)


# --- random programs ----------------------------------------------------------------------------
# A step is (op, operand positions, a parameter); operand positions index the values computed so
# far (inputs first). An op that does not apply to its operands' shapes is skipped, the same way on
# both backends. Ops with a restricted domain get one by construction (log(x*x + 1)), so the
# program stays differentiable; kinks (relu, abs, max) are included.
def _dim(x: fastgrad.Tensor, p: int) -> int:
    return p % x.ndim


UNARY: dict[str, Callable[[fastgrad.Tensor, int], fastgrad.Tensor | None]] = {
    "neg": lambda x, p: -x,
    "tanh": lambda x, p: x.tanh(),
    "sigmoid": lambda x, p: x.sigmoid(),
    "sin": lambda x, p: x.sin(),
    "cos": lambda x, p: x.cos(),
    "exp_tanh": lambda x, p: x.tanh().exp(),
    "log_sq1": lambda x, p: (x * x + 1.0).log(),
    "sqrt_sq": lambda x, p: (x * x + 0.5).sqrt(),
    "abs": lambda x, p: abs(x),
    "relu": lambda x, p: x.relu(),
    "pow2": lambda x, p: x**2,
    "pow3": lambda x, p: x**3,
    "clamp": lambda x, p: x.clamp(-0.5, 0.7),
    "scale": lambda x, p: 1.5 - 0.5 * x,
    "rdiv": lambda x, p: 1.0 / (x * x + 1.0),
    "sum_dim": lambda x, p: x.sum(_dim(x, p), keepdim=p % 2 == 0) if x.ndim else None,
    "mean_dim": lambda x, p: x.mean(_dim(x, p)) if x.ndim else None,
    "sum_all": lambda x, p: x.sum(),
    "var_dim": lambda x, p: x.var(_dim(x, p)) if x.ndim and x.shape[_dim(x, p)] > 1 else None,
    "amax_dim": lambda x, p: x.amax(_dim(x, p)) if x.ndim else None,
    "max_dim": lambda x, p: x.max(dim=_dim(x, p)).values if x.ndim else None,
    "softmax": lambda x, p: x.softmax(_dim(x, p)) if x.ndim else None,
    "log_softmax": lambda x, p: x.log_softmax(_dim(x, p)) if x.ndim else None,
    "logsumexp": lambda x, p: x.logsumexp(_dim(x, p)) if x.ndim else None,
    "transpose": lambda x, p: x.transpose(-1, -2) if x.ndim >= 2 else None,
    "unsqueeze": lambda x, p: x.unsqueeze(p % (x.ndim + 1)),
    "squeeze": lambda x, p: x.squeeze(),
    "flatten": lambda x, p: x.reshape(-1),
    "expand": lambda x, p: x.expand(2, *x.shape),
    "slice": lambda x, p: x[1:] if x.ndim and x.shape[0] > 1 else None,
    "stride": lambda x, p: x[..., ::2] if x.ndim else None,
    "take": lambda x, p: x[fastgrad.tensor([p % x.shape[0], 0, p % x.shape[0]])]
    if x.ndim and x.shape[0] else None,
    "mask": lambda x, p: x[x > 0.1] if x.ndim == 1 else None,
    "matmul_self": lambda x, p: x @ x.transpose(-1, -2) if x.ndim >= 2 else (x @ x if x.ndim
                                                                             else None),
    "add_int": lambda x, p: x + fastgrad.tensor(np.arange(p % 3, p % 3 + x.numel())
                                               .reshape(x.shape) % 3),
}


# Every other unary primitive of the op table (exp, log and sqrt are above, made safe by hand), on
# inputs mapped into the domain its test case uses and kept small, so nothing overflows.
_DOMAIN: dict[str, Callable[[fastgrad.Tensor], fastgrad.Tensor]] = {
    "real": lambda x: x.tanh() * 2.0, "away": lambda x: x, "positive": lambda x: x * x + 0.5,
    "unit": lambda x: x.tanh() * 0.9,
}


def _table_unary(name: str, domain: str, method: bool) -> Callable:
    def op(x: fastgrad.Tensor, p: int) -> fastgrad.Tensor:
        x = _DOMAIN[domain](x)
        return getattr(x, name)() if method else getattr(fastgrad.nn.functional, name)(x)

    return op


HAND_MADE = {"exp", "log", "sqrt"}
_UNARY_PRIMS = {q.name: q for q in PRIMITIVES if q.kind == "unary" and q.differentiable}
for _spec in OP_TABLE:
    if _spec.name in _UNARY_PRIMS and _spec.name not in UNARY and _spec.name not in HAND_MADE:
        UNARY[_spec.name] = _table_unary(_spec.name, _spec.domain, _UNARY_PRIMS[_spec.name].method)

def _broadcastable(a: fastgrad.Tensor, b: fastgrad.Tensor) -> bool:
    try:
        np.broadcast_shapes(a.shape, b.shape)
        return True
    except ValueError:
        return False


def _bin(fn: Callable) -> Callable:
    return lambda a, b, p: fn(a, b) if _broadcastable(a, b) else None


def _matmul(a: fastgrad.Tensor, b: fastgrad.Tensor, p: int) -> fastgrad.Tensor | None:
    if a.ndim < 1 or b.ndim < 1 or a.shape[-1] != b.shape[max(b.ndim - 2, 0)]:
        return None
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        return None
    return a @ b


def _cat(a: fastgrad.Tensor, b: fastgrad.Tensor, p: int) -> fastgrad.Tensor | None:
    if a.ndim == 0 or a.ndim != b.ndim:
        return None
    d = p % a.ndim
    if a.shape[:d] + a.shape[d + 1:] != b.shape[:d] + b.shape[d + 1:]:
        return None
    return fastgrad.cat([a, b], d)


BINARY: dict[str, Callable[[fastgrad.Tensor, fastgrad.Tensor, int], fastgrad.Tensor | None]] = {
    "add": _bin(lambda a, b: a + b),
    "sub": _bin(lambda a, b: a - b),
    "mul": _bin(lambda a, b: a * b),
    "div": _bin(lambda a, b: a / (b * b + 1.0)),
    "pow": _bin(lambda a, b: (a * a + 1.0) ** b.tanh()),
    "maximum": _bin(fastgrad.maximum),
    "minimum": _bin(fastgrad.minimum),
    "where": _bin(lambda a, b: fastgrad.where(a > b, a * 2.0, b)),
    "matmul": _matmul,
    "cat": _cat,
}
OPS = sorted(UNARY) + sorted(BINARY)


@dataclass
class Program:
    shapes: list[tuple[int, ...]]
    dtypes: list[str]
    seed: int
    steps: list[tuple[str, int, int, int]]  # (op, operand a, operand b, parameter)

    def inputs(self) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        return [rng.standard_normal(s).astype(d) for s, d in zip(self.shapes, self.dtypes)]


@st.composite
def programs(draw: Any, float64_only: bool = False, min_dim: int = 1) -> Program:
    sizes = [3, 2, 4, 5, 1] + ([0] if min_dim == 0 else [])  # sampled_from draws evenly
    base = draw(st.lists(st.sampled_from(sizes), min_size=1, max_size=3))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        keep = draw(st.integers(0, len(base)))  # drop leading dims, set a quarter of others to 1
        shapes.append(tuple(1 if draw(st.integers(0, 3)) == 0 else d
                            for d in base[len(base) - keep:]))
    dtypes = ["float64" if float64_only else draw(st.sampled_from(["float32", "float64"]))
              for _ in shapes]
    steps = []
    for k in range(draw(st.integers(1, 6))):
        n = len(shapes) + k
        steps.append((draw(st.sampled_from(OPS)), draw(st.integers(0, n - 1)),
                      draw(st.integers(0, n - 1)), draw(st.integers(0, 5))))
    return Program(shapes, dtypes, draw(st.integers(0, 2**31)), steps)


def run(prog: Program, arrays: list[np.ndarray], grad: bool = True) -> dict[str, Any]:
    """Runs the program on the current backend: the output, the loss (output · fixed weights)
    and the inputs' gradients."""
    xs = [fastgrad.tensor(a, requires_grad=grad) for a in arrays]
    vals = list(xs)
    for op, i, j, p in prog.steps:
        i, j = i % len(vals), j % len(vals)  # a skipped step leaves fewer values
        out = UNARY[op](vals[i], p) if op in UNARY else BINARY[op](vals[i], vals[j], p)
        if out is not None:
            vals.append(out)
    out = vals[-1]
    w = np.random.default_rng(7).standard_normal(out.shape).astype(np.float64)
    loss = (out * fastgrad.tensor(w, dtype=out.dtype)).sum()
    res = {"out": out.detach().numpy().copy(), "loss": loss.item(), "grads": None}
    if grad and loss.requires_grad:
        loss.backward()
        res["grads"] = [None if x.grad is None else x.grad.numpy().copy() for x in xs]
    return res


def _close(a: np.ndarray, b: np.ndarray, rtol: float, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.shape} {a.dtype} vs {b.shape}" \
                                                      f" {b.dtype}"
    finite = b[np.isfinite(b)]
    scale = 1.0 + (float(np.abs(finite).max()) if finite.size else 0.0)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=what)


def outcome(name: str, fn: Callable[[], Any]) -> Any:
    try:
        return on_backend(name, fn)
    except (ValueError, TypeError, IndexError, RuntimeError, MemoryError) as e:
        return type(e)


@settings(max_examples=1000 * SCALE)
@given(programs(min_dim=0))
def test_programs_agree_across_backends(prog: Program) -> None:
    arrays = prog.inputs()
    cpp = outcome("cpp", lambda: run(prog, arrays))
    py = outcome("python", lambda: run(prog, arrays))
    if isinstance(cpp, type) or isinstance(py, type):  # an error: the same on both backends
        assert cpp == py, (cpp, py)
        assert cpp is ValueError  # only a reduction over a zero-size dim may fail here
        return
    rtol = 1e-4 if "float32" in prog.dtypes else 1e-9
    _close(cpp["out"], py["out"], rtol, "output")
    assert cpp["loss"] == pytest.approx(py["loss"], rel=rtol, abs=rtol * (1 + abs(py["loss"])),
                                        nan_ok=True)
    assert (cpp["grads"] is None) == (py["grads"] is None)
    for k, (g, h) in enumerate(zip(cpp["grads"] or [], py["grads"] or [])):
        assert (g is None) == (h is None), f"gradient of input {k}"
        if g is not None:
            assert g.shape == arrays[k].shape
            _close(g, h, rtol, f"gradient of input {k}")


def _directional(prog: Program, arrays: list[np.ndarray], v: list[np.ndarray], h: float) -> float:
    up = run(prog, [a + h * d for a, d in zip(arrays, v)], grad=False)["loss"]
    down = run(prog, [a - h * d for a, d in zip(arrays, v)], grad=False)["loss"]
    return (up - down) / (2 * h)


@settings(max_examples=500 * SCALE)
@given(programs(float64_only=True))
def test_gradients_match_finite_differences(prog: Program) -> None:
    arrays = prog.inputs()
    res = on_backend("cpp", lambda: run(prog, arrays))
    assume(res["grads"] is not None and np.isfinite(res["loss"]) and abs(res["loss"]) < 1e6)
    rng = np.random.default_rng(prog.seed + 1)
    for _ in range(2):
        v = [rng.standard_normal(a.shape) for a in arrays]
        analytic = sum(float((g * d).sum()) for g, d in zip(res["grads"], v) if g is not None)
        scale = 1.0 + sum(float(np.abs(g * d).sum()) for g, d in zip(res["grads"], v)
                          if g is not None)
        fd = on_backend("cpp", lambda v=v: _directional(prog, arrays, v, 1e-5))
        fd_fine = on_backend("cpp", lambda v=v: _directional(prog, arrays, v, 1e-6))
        # A kink (relu, abs, max) within reach of the step makes the two steps disagree: then
        # the difference quotient says nothing about the gradient.
        assume(abs(fd - fd_fine) < 1e-5 * scale)
        assert fd == pytest.approx(analytic, rel=1e-5, abs=1e-6 * scale), prog


# --- bad inputs -------------------------------------------------------------------------------
# Each case builds its tensors on the current backend and calls one op. Both backends must give
# the same outcome: the same Python exception type, or results that agree (NaN where NaN).
ERRORS = (ValueError, TypeError, IndexError, RuntimeError, MemoryError)


def _to_numpy(r: Any) -> Any:
    if isinstance(r, fastgrad.Tensor):
        return r.detach().numpy().copy()
    if isinstance(r, (tuple, list)):
        return tuple(_to_numpy(v) for v in r)
    return r


def attempt(name: str, case: Callable[[], Any]) -> tuple[type | None, Any]:
    """(exception type, message) or (None, result as NumPy) of case() on backend `name`."""
    try:
        return None, _to_numpy(on_backend(name, case))
    except ERRORS as e:
        base = next(t for t in ERRORS if isinstance(e, t))  # FastgradTypeError -> TypeError
        return base, str(e)


def _same(a: Any, b: Any, what: str) -> None:
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b), what
        for u, v in zip(a, b):
            _same(u, v, what)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.shape} {a.dtype} vs " \
                                                      f"{b.shape} {b.dtype}"
    if a.dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=what)
    else:
        assert np.array_equal(a, b), what


def agree(case: Callable[[], Any], expect: type | None = None, mentions: tuple = ()) -> None:
    """The outcome on both backends is the same; an error is `expect` (if given) and its message
    names everything in `mentions`."""
    (ec, rc), (ep, rp) = attempt("cpp", case), attempt("python", case)
    assert ec is ep, f"C++ gave {ec.__name__ if ec else 'a result'} ({rc if ec else ''}), Python " \
                     f"{ep.__name__ if ep else 'a result'} ({rp if ep else ''})"
    if expect is not None:
        assert ec is expect, f"expected {expect.__name__}, got {ec}: {rc}"
    if ec is not None:
        for m in mentions:
            assert str(m) in rc and str(m) in rp, f"{m!r} not in {rc!r} / {rp!r}"
    else:
        _same(rc, rp, "result")


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def mismatched(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes of equal rank that cannot broadcast: one dim differs and neither is 1."""
    a = draw(shapes)
    k = draw(st.integers(0, len(a) - 1))
    b = list(a)
    b[k] = draw(st.integers(2, 5).filter(lambda d: d != a[k]))
    a = tuple(a[:k]) + (max(a[k], 2) if a[k] != b[k] else a[k],) + tuple(a[k + 1:])
    if a[k] == b[k]:
        b[k] += 1
    return a, tuple(b)


BINARY_PUBLIC = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "maximum": fastgrad.maximum,
    "minimum": fastgrad.minimum, "lt": lambda a, b: a < b, "eq": lambda a, b: a == b,
}


@settings(max_examples=150 * SCALE)
@given(st.sampled_from(sorted(BINARY_PUBLIC)), mismatched())
def test_bad_broadcast(op: str, ab: tuple) -> None:
    a, b = ab
    agree(lambda: BINARY_PUBLIC[op](fastgrad.ones(a), fastgrad.ones(b)), ValueError,
          (op, a, b))


@settings(max_examples=100 * SCALE)
@given(shapes, shapes, st.integers(0, 4))
def test_bad_matmul_and_reshape(a: tuple, b: tuple, extra: int) -> None:
    if len(a) >= 1 and len(b) >= 1 and a[-1] != b[max(len(b) - 2, 0)]:
        agree(lambda: fastgrad.ones(a) @ fastgrad.ones(b), ValueError, ("matmul", a, b))
    n = int(np.prod(a))
    target = (n + 1 + extra, -1) if extra % 2 else (n + 1 + extra,)
    agree(lambda: fastgrad.ones(a).reshape(target), ValueError, ("reshape", a))


DIM_OPS: dict[str, tuple[int, Callable[[fastgrad.Tensor, int], Any]]] = {
    # name: (how many dims past ndim are valid, call)
    "sum": (0, lambda x, d: x.sum(d)), "mean": (0, lambda x, d: x.mean(d)),
    "amax": (0, lambda x, d: x.amax(d)), "argmax": (0, lambda x, d: x.argmax(d)),
    "max": (0, lambda x, d: x.max(dim=d)), "var": (0, lambda x, d: x.var(d)),
    "softmax": (0, lambda x, d: x.softmax(d)), "log_softmax": (0, lambda x, d: x.log_softmax(d)),
    "logsumexp": (0, lambda x, d: x.logsumexp(d)), "transpose": (0, lambda x, d: x.transpose(0, d)),
    "unsqueeze": (1, lambda x, d: x.unsqueeze(d)), "cat": (0, lambda x, d: fastgrad.cat([x, x], d)),
    "stack": (1, lambda x, d: fastgrad.stack([x, x], d)),
}


@settings(max_examples=150 * SCALE)
@given(st.sampled_from(sorted(DIM_OPS)), shapes, st.integers(0, 3), st.booleans())
def test_dim_out_of_range(op: str, shape: tuple, past: int, negative: bool) -> None:
    extra, call = DIM_OPS[op]
    top = len(shape) + extra
    d = -(top + 1 + past) if negative else top + past
    agree(lambda: call(fastgrad.ones(shape), d), IndexError, (d,))


@st.composite
def bad_indices(draw: Any) -> tuple[tuple[int, ...], str, Any]:
    shape = draw(shapes)
    n = shape[0]
    kind = draw(st.sampled_from(["int", "tensor", "mask", "too_many", "setitem", "slice_int"]))
    big = draw(st.integers(0, 2**40))
    if kind == "int":
        return shape, kind, draw(st.sampled_from([n + big, -n - 1 - big]))
    if kind == "tensor":
        good = draw(st.lists(st.integers(-n, n - 1), max_size=4))
        bad = draw(st.sampled_from([n + big, -n - 1 - big]))
        pos = draw(st.integers(0, len(good)))
        return shape, kind, good[:pos] + [bad] + good[pos:]
    if kind == "mask":
        # NumPy (so both backends) takes an empty mask for any dim as selecting nothing: not
        # drawn here.
        return shape, kind, draw(st.integers(1, 6).filter(lambda m: m != n))
    if kind == "too_many":
        return shape, kind, len(shape) + draw(st.integers(1, 2))
    return shape, kind, draw(st.sampled_from([n + big, -n - 1 - big]))


@settings(max_examples=200 * SCALE)
@given(bad_indices())
def test_out_of_range_indices(case: tuple) -> None:
    shape, kind, arg = case

    def run_case() -> Any:
        x = fastgrad.ones(shape)
        if kind in ("int", "slice_int"):
            return x[arg] if kind == "int" else x[:, arg] if len(shape) > 1 else x[arg]
        if kind == "tensor":
            return x[fastgrad.tensor(arg, dtype=fastgrad.int64)]
        if kind == "mask":
            return x[fastgrad.tensor([True] * arg, dtype=fastgrad.bool)]
        if kind == "too_many":
            return x[(0,) * arg]
        x[fastgrad.tensor([arg])] = 2.0  # setitem
        return x

    if kind == "slice_int" and len(shape) > 1:
        n = shape[1]
        assume(not -n <= arg < n)
    agree(run_case, IndexError)


def _special(draw: Any, shape: tuple, dtype: str) -> np.ndarray:
    pool = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e38, -1e38, 1e-45, 1.0, -2.5]
    vals = draw(st.lists(st.sampled_from(pool), min_size=int(np.prod(shape)),
                         max_size=int(np.prod(shape))))
    return np.array(vals, dtype=dtype).reshape(shape)


ANY_OPS: dict[str, Callable[[fastgrad.Tensor, fastgrad.Tensor], Any]] = {
    "exp": lambda a, b: a.exp(), "log": lambda a, b: a.log(), "sqrt": lambda a, b: a.sqrt(),
    "tanh": lambda a, b: a.tanh(), "sigmoid": lambda a, b: a.sigmoid(),
    "relu": lambda a, b: a.relu(), "abs": lambda a, b: abs(a), "sin": lambda a, b: a.sin(),
    "clamp": lambda a, b: a.clamp(-1.0, 1.0), "sum": lambda a, b: a.sum(),
    "mean": lambda a, b: a.mean(), "sum0": lambda a, b: a.sum(0), "max": lambda a, b: a.max(),
    "min": lambda a, b: a.min(), "max0": lambda a, b: a.max(dim=0), "argmax": lambda a, b: a.argmax(),
    "argmin0": lambda a, b: a.argmin(0), "var": lambda a, b: a.var(), "std0": lambda a, b: a.std(0),
    "softmax": lambda a, b: a.softmax(-1), "log_softmax": lambda a, b: a.log_softmax(0),
    "logsumexp": lambda a, b: a.logsumexp(-1), "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b, "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
    "maximum": lambda a, b: fastgrad.maximum(a, b), "lt": lambda a, b: a < b,
    "where": lambda a, b: fastgrad.where(a > b, a, b), "matmul": lambda a, b: a @ b.T,
    "cat": lambda a, b: fastgrad.cat([a, b]), "index": lambda a, b: a[a > 0],
    "transpose_sum": lambda a, b: (a.T * 2).sum(0),
}


def _with_backward(op: str, a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """The op on tensors from a and b, then (if it gives floats) backward of its sum."""

    def run_case() -> Any:
        grad = a.dtype.kind == "f"
        x = fastgrad.tensor(a, requires_grad=grad)
        y = fastgrad.tensor(b, requires_grad=grad and b.dtype.kind == "f")
        out = ANY_OPS[op](x, y)
        first = out[0] if isinstance(out, tuple) else out
        if not (grad and first.requires_grad):
            return out
        first.sum().backward()
        return out, x.grad, y.grad if y.requires_grad else None

    return run_case


@settings(max_examples=300 * SCALE)
@given(st.data(), st.sampled_from(sorted(ANY_OPS)), st.sampled_from(["float32", "float64"]))
def test_nan_inf_and_extremes(data: Any, op: str, dtype: str) -> None:
    shape = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple))
    a = _special(data.draw, shape, dtype)
    b = _special(data.draw, shape, dtype)
    agree(_with_backward(op, a, b))


@settings(max_examples=200 * SCALE)
@given(st.data(), st.sampled_from(sorted(ANY_OPS)))
def test_empty_and_zero_size(data: Any, op: str) -> None:
    shape = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3).map(tuple)
                      .filter(lambda s: 0 in s))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    agree(_with_backward(op, a, b))


@settings(max_examples=200 * SCALE)
@given(st.sampled_from(sorted(ANY_OPS)), st.sampled_from(["float32", "float64", "int64", "bool"]),
       st.sampled_from(["float32", "float64", "int64", "bool"]), shapes)
def test_mixed_dtypes(op: str, da: str, db: str, shape: tuple) -> None:
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 3).astype(da)
    b = (rng.standard_normal(shape) * 3).astype(db)
    agree(_with_backward(op, a, b))


HUGE: dict[str, Callable[[tuple[int, ...]], Any]] = {
    "zeros": lambda s: fastgrad.zeros(s), "ones": lambda s: fastgrad.ones(s, dtype=fastgrad.int64),
    "full": lambda s: fastgrad.full(s, 2.0), "empty": lambda s: fastgrad.empty(s),
    "expand_add": lambda s: fastgrad.ones(1).expand(*s) + 1.0,
    "expand_contiguous": lambda s: fastgrad.ones(1).expand(*s).reshape(-1),
    "expand_exp": lambda s: fastgrad.ones(1).expand(*s).exp(),
    "expand_matmul": lambda s: fastgrad.ones(1, 1).expand(s[0], 2**21) @ fastgrad.ones(
        1, 1).expand(2**21, s[0]),
}


@settings(max_examples=60 * SCALE)
@given(st.sampled_from(sorted(HUGE)), st.integers(41, 59), st.integers(1, 3))
def test_huge_sizes_raise_memory_error(op: str, log2_elems: int, ndim: int) -> None:
    # 2^41 to 2^59 elements: more than any machine's memory, refused by the kernel's overcommit
    # heuristic, yet under 2^63 bytes (beyond that NumPy, so the Python backend, says ValueError
    # "array is too big" for ops other than creation; see test_shape_overflow_is_memory_error).
    dims = [log2_elems // ndim + (1 if k < log2_elems % ndim else 0) for k in range(ndim)]
    shape = tuple(2**d for d in dims)
    if op == "expand_matmul":  # (n, 2^21) @ (2^21, n) -> (n, n)
        shape = (2**((log2_elems + 1) // 2),)
    agree(lambda: HUGE[op](shape), MemoryError, (str(shape),) if op in ("zeros", "full") else ())


@settings(max_examples=50 * SCALE)
@given(st.sampled_from(["zeros", "ones", "full", "empty"]), shapes, st.integers(-(2**40), -1))
def test_negative_sizes(op: str, shape: tuple, neg: int) -> None:
    bad = shape[:-1] + (neg,)
    agree(lambda: HUGE[op](bad), ValueError, ("negative",))


def test_shape_overflow_is_memory_error() -> None:
    # More than 2^63 elements (or bytes): unallocatable, not a crash or a wrapped-around size.
    for shape in [(2**31, 2**31, 2**2), (2**62, 4), (2**40, 2**40)]:
        agree(lambda s=shape: fastgrad.zeros(s), MemoryError, (str(shape),))
