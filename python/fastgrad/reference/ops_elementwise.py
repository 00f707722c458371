# Elementwise ops of the reference backend: NumPy forward and derivative rule side by side, as in
# cpp/autograd/ops_elementwise.cpp. Rules are vector-Jacobian products written with these same
# ops, so create_graph=True differentiates them again. Also creation (from_numpy, full, ...) and
# dtype casts. Not here: broadcasting of gradients (the engine's sum_to) and in-place ops.
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastgrad.reference.tape import (
    BOOL,
    DTYPE_NAMES,
    NP_DTYPES,
    FnNode,
    RTensor,
    as_shape,
    broadcast_shapes,
    check_float,
    check_numeric,
    check_same_dtype,
    dtype_code,
    is_floating,
    make_node,
    wrap,
)

Grads = Sequence[RTensor]


def _quiet() -> np.errstate:
    # Like the C++ kernels, IEEE results (inf, nan) without warnings: log(0) is -inf, not an error.
    return np.errstate(all="ignore")


# --- creation and data ---------------------------------------------------------------------------
def from_numpy(a: np.ndarray) -> RTensor:
    """A handle whose data is ``a`` itself (shared memory). Example: ``from_numpy(np.ones(3))``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(a).__name__}")
    if dtype_code(a.dtype) is None:
        if a.dtype.byteorder not in ("=", "|") and a.dtype.newbyteorder("=") in NP_DTYPES:
            raise TypeError("from_numpy: arrays of non-native byte order are not shared; use "
                            "fastgrad.tensor(a) to copy it")
        raise TypeError(f"from_numpy: unsupported dtype {a.dtype}; fastgrad has float32, "
                        "float64, int64 and bool")
    if any(s < 0 or s % a.itemsize != 0 for s in a.strides):
        raise ValueError("from_numpy: arrays with negative or unaligned strides cannot be shared; "
                         "use fastgrad.tensor(a) to copy it")
    return RTensor(a)


def to_numpy(x: RTensor) -> np.ndarray:
    """The handle's array itself (same memory)."""
    return x.data


def full(shape: Sequence[int], value: float, dtype: int) -> RTensor:
    """A fresh tensor of ``shape`` filled with ``value`` cast to ``dtype`` (as C++: via double)."""
    s = as_shape("full", shape)
    if any(d < 0 for d in s):
        raise ValueError(f"negative dimension in shape {s}")
    nbytes = math.prod(s) * NP_DTYPES[dtype].itemsize
    try:
        if nbytes >= 2**63:  # NumPy says ValueError ("array is too big"); C++ says MemoryError
            raise MemoryError
        with _quiet():
            return RTensor(np.full(s, float(value), dtype=NP_DTYPES[dtype]))
    except MemoryError:
        raise MemoryError(f"cannot allocate {nbytes / 2**30:g} GiB for a tensor of shape {s} and "
                          f"dtype {DTYPE_NAMES[dtype]}") from None


def scalar(value: float, dtype: int) -> RTensor:
    """A 0-d tensor."""
    return full((), value, dtype)


def zeros_like(x: RTensor) -> RTensor:
    return full(x.shape, 0.0, x.dtype)


def _scalar_like(v: float, like: RTensor) -> RTensor:
    return scalar(v, like.dtype)


def _identity_rule(n: FnNode, g: Grads) -> list:
    return [g[0]]


def clone(x: RTensor) -> RTensor:
    """A contiguous copy, differentiable (grad = g)."""
    out = RTensor(np.array(x.data, order="C", copy=True))
    make_node("CloneBackward", _identity_rule, [x], [out])
    return out


def _to_dtype_rule(n: FnNode, g: Grads) -> list:
    return [to_dtype(g[0], n.input_meta[0][1])]


def to_dtype(x: RTensor, dtype: int) -> RTensor:
    """x cast to ``dtype`` (x itself if it already has it); float -> float casts have a gradient."""
    dtype = int(dtype)
    if x.dtype == dtype:
        return x
    with _quiet():
        out = wrap(x.data.astype(NP_DTYPES[dtype]), dtype)
    if is_floating(x.dtype) and is_floating(dtype):
        make_node("ToDtypeBackward", _to_dtype_rule, [x], [out])
    return out


# --- unary ---------------------------------------------------------------------------------------
def _neg_rule(n: FnNode, g: Grads) -> list:
    return [neg(g[0])]


def _exp_rule(n: FnNode, g: Grads) -> list:
    return [mul(g[0], n.saved(0))]


def _log_rule(n: FnNode, g: Grads) -> list:
    return [div(g[0], n.saved(0))]


def _sqrt_rule(n: FnNode, g: Grads) -> list:
    y = n.saved(0)
    return [div(g[0], mul(y, _scalar_like(2.0, y)))]


def _abs_rule(n: FnNode, g: Grads) -> list:
    return [mul(g[0], sign(n.saved(0)))]


def _sin_rule(n: FnNode, g: Grads) -> list:
    return [mul(g[0], cos(n.saved(0)))]


def _cos_rule(n: FnNode, g: Grads) -> list:
    return [neg(mul(g[0], sin(n.saved(0))))]


def _tanh_rule(n: FnNode, g: Grads) -> list:
    return [tanh_backward(g[0], n.saved(0))]


def _sigmoid_rule(n: FnNode, g: Grads) -> list:
    return [sigmoid_backward(g[0], n.saved(0))]


def _relu_rule(n: FnNode, g: Grads) -> list:
    return [relu_backward(g[0], n.saved(0))]


def _float_unary(op: str, x: RTensor, f: Any) -> RTensor:
    check_float(op, x)
    with _quiet():
        return wrap(f(x.data), x.dtype)


def _record_unary(name: str, rule: Any, x: RTensor, out: RTensor, save_output: bool) -> None:
    n = make_node(name, rule, [x], [out])
    if n is not None and save_output:
        n.save(out, True)
    elif n is not None:
        n.save(x)


def exp(x: RTensor) -> RTensor:
    out = _float_unary("exp", x, np.exp)
    _record_unary("ExpBackward", _exp_rule, x, out, True)
    return out


def log(x: RTensor) -> RTensor:
    out = _float_unary("log", x, np.log)
    _record_unary("LogBackward", _log_rule, x, out, False)
    return out


def sqrt(x: RTensor) -> RTensor:
    out = _float_unary("sqrt", x, np.sqrt)
    _record_unary("SqrtBackward", _sqrt_rule, x, out, True)
    return out


def sin(x: RTensor) -> RTensor:
    out = _float_unary("sin", x, np.sin)
    _record_unary("SinBackward", _sin_rule, x, out, False)
    return out


def cos(x: RTensor) -> RTensor:
    out = _float_unary("cos", x, np.cos)
    _record_unary("CosBackward", _cos_rule, x, out, False)
    return out


def tanh(x: RTensor) -> RTensor:
    out = _float_unary("tanh", x, np.tanh)
    _record_unary("TanhBackward", _tanh_rule, x, out, True)
    return out


def sigmoid(x: RTensor) -> RTensor:
    out = _float_unary("sigmoid", x, lambda v: 1.0 / (1.0 + np.exp(-v)))
    _record_unary("SigmoidBackward", _sigmoid_rule, x, out, True)
    return out


def relu(x: RTensor) -> RTensor:
    # v > 0 ? v : 0 as in C++ (NaN gives 0).
    out = _float_unary("relu", x, lambda v: np.where(v > 0, v, np.zeros((), v.dtype)))
    _record_unary("ReluBackward", _relu_rule, x, out, True)
    return out


def neg(x: RTensor) -> RTensor:
    check_numeric("neg", x)
    with _quiet():
        out = wrap(np.negative(x.data), x.dtype)
    make_node("NegBackward", _neg_rule, [x], [out])
    return out


def abs(x: RTensor) -> RTensor:
    check_numeric("abs", x)
    with _quiet():
        out = wrap(np.abs(x.data), x.dtype)
    _record_unary("AbsBackward", _abs_rule, x, out, False)
    return out


def sign(x: RTensor) -> RTensor:
    """-1, 0 or 1 (0 for NaN, as the C++ kernel (v > 0) - (v < 0)); no gradient."""
    check_numeric("sign", x)
    d = NP_DTYPES[x.dtype]
    with _quiet():
        return wrap((x.data > 0).astype(d) - (x.data < 0).astype(d), x.dtype)


def logical_not(x: RTensor) -> RTensor:
    if x.dtype != BOOL:
        raise TypeError(f"logical_not: expected a bool tensor, got {DTYPE_NAMES[x.dtype]}")
    return wrap(np.logical_not(x.data), BOOL)


# --- fused backward ops (differentiable themselves) ----------------------------------------------
def _float_binary(op: str, a: RTensor, b: RTensor, f: Any) -> RTensor:
    check_same_dtype(op, a, b)
    check_float(op, a)
    broadcast_shapes(op, a.shape, b.shape)
    with _quiet():
        return wrap(f(a.data, b.data), a.dtype)


def _relu_backward_rule(n: FnNode, g: Grads) -> list:
    return [relu_backward(g[0], n.saved(1)), None]


def _sigmoid_backward_rule(n: FnNode, g: Grads) -> list:
    go, y = n.saved(0), n.saved(1)
    dg = sigmoid_backward(g[0], y) if n.needs_input_grad(0) else None
    dy = None
    if n.needs_input_grad(1):
        dy = mul(mul(g[0], go), sub(_scalar_like(1.0, y), mul(_scalar_like(2.0, y), y)))
    return [dg, dy]


def _tanh_backward_rule(n: FnNode, g: Grads) -> list:
    go, y = n.saved(0), n.saved(1)
    dg = tanh_backward(g[0], y) if n.needs_input_grad(0) else None
    dy = mul(mul(g[0], go), mul(_scalar_like(-2.0, y), y)) if n.needs_input_grad(1) else None
    return [dg, dy]


def _record_gy(name: str, rule: Any, g: RTensor, y: RTensor, out: RTensor) -> None:
    n = make_node(name, rule, [g, y], [out])
    if n is not None:
        n.save(g)
        n.save(y)


def relu_backward(g: RTensor, y: RTensor) -> RTensor:
    """g where y > 0 else 0."""
    out = _float_binary("relu_backward", g, y,
                        lambda gv, yv: np.where(yv > 0, gv, np.zeros((), gv.dtype)))
    _record_gy("ReluBackwardBackward", _relu_backward_rule, g, y, out)
    return out


def sigmoid_backward(g: RTensor, y: RTensor) -> RTensor:
    """g * y * (1 - y)."""
    out = _float_binary("sigmoid_backward", g, y, lambda gv, yv: gv * yv * (1.0 - yv))
    _record_gy("SigmoidBackwardBackward", _sigmoid_backward_rule, g, y, out)
    return out


def tanh_backward(g: RTensor, y: RTensor) -> RTensor:
    """g * (1 - y^2)."""
    out = _float_binary("tanh_backward", g, y, lambda gv, yv: gv * (1.0 - yv * yv))
    _record_gy("TanhBackwardBackward", _tanh_backward_rule, g, y, out)
    return out


# --- binary --------------------------------------------------------------------------------------
def _numeric_binary(op: str, a: RTensor, b: RTensor, f: Any) -> RTensor:
    check_same_dtype(op, a, b)
    check_numeric(op, a)
    broadcast_shapes(op, a.shape, b.shape)
    with _quiet():
        return wrap(f(a.data, b.data), a.dtype)


def _add_rule(n: FnNode, g: Grads) -> list:
    return [g[0], g[0]]


def _sub_rule(n: FnNode, g: Grads) -> list:
    return [g[0], neg(g[0]) if n.needs_input_grad(1) else None]


def _mul_rule(n: FnNode, g: Grads) -> list:
    return [mul(g[0], n.saved(1)) if n.needs_input_grad(0) else None,
            mul(g[0], n.saved(0)) if n.needs_input_grad(1) else None]


def _div_rule(n: FnNode, g: Grads) -> list:
    a, b = n.saved(0), n.saved(1)
    da = div(g[0], b) if n.needs_input_grad(0) else None
    db = neg(div(mul(g[0], a), mul(b, b))) if n.needs_input_grad(1) else None
    return [da, db]


def _pow_rule(n: FnNode, g: Grads) -> list:
    a, b = n.saved(0), n.saved(1)
    da = db = None
    if n.needs_input_grad(0):
        da = mul(g[0], mul(b, pow(a, sub(b, _scalar_like(1.0, b)))))
    if n.needs_input_grad(1):
        # d/db a^b = a^b log a; defined as 0 where a == 0 (as PyTorch does for b >= 0).
        y = n.saved(2)
        safe_log = log(where(eq(a, zeros_like(a)), full(a.shape, 1.0, a.dtype), a))
        db = mul(g[0], mul(y, safe_log))
    return [da, db]


def _select_rule(n: FnNode, g: Grads, is_max: bool) -> list:
    # maximum/minimum: the gradient goes to the larger (smaller) input, split evenly on ties.
    a, b = n.saved(0), n.saved(1)
    half = _scalar_like(0.5, g[0])
    zero = _scalar_like(0.0, g[0])
    tie = eq(a, b)
    a_wins = gt(a, b) if is_max else lt(a, b)
    b_wins = lt(a, b) if is_max else gt(a, b)
    ghalf = mul(g[0], half)
    da = where(a_wins, g[0], where(tie, ghalf, zero)) if n.needs_input_grad(0) else None
    db = where(b_wins, g[0], where(tie, ghalf, zero)) if n.needs_input_grad(1) else None
    return [da, db]


def _maximum_rule(n: FnNode, g: Grads) -> list:
    return _select_rule(n, g, True)


def _minimum_rule(n: FnNode, g: Grads) -> list:
    return _select_rule(n, g, False)


def _record_ab(name: str, rule: Any, a: RTensor, b: RTensor, out: RTensor) -> FnNode | None:
    n = make_node(name, rule, [a, b], [out])
    if n is not None:
        n.save(a)
        n.save(b)
    return n


def add(a: RTensor, b: RTensor) -> RTensor:
    """a + b (logical or for two bool tensors)."""
    if a.dtype == BOOL and b.dtype == BOOL:
        broadcast_shapes("add", a.shape, b.shape)
        out = wrap(np.logical_or(a.data, b.data), BOOL)
    else:
        out = _numeric_binary("add", a, b, np.add)
    make_node("AddBackward", _add_rule, [a, b], [out])
    return out


def sub(a: RTensor, b: RTensor) -> RTensor:
    out = _numeric_binary("sub", a, b, np.subtract)
    make_node("SubBackward", _sub_rule, [a, b], [out])
    return out


def mul(a: RTensor, b: RTensor) -> RTensor:
    """a * b (logical and for two bool tensors)."""
    if a.dtype == BOOL and b.dtype == BOOL:
        broadcast_shapes("mul", a.shape, b.shape)
        out = wrap(np.logical_and(a.data, b.data), BOOL)
    else:
        out = _numeric_binary("mul", a, b, np.multiply)
    _record_ab("MulBackward", _mul_rule, a, b, out)
    return out


def div(a: RTensor, b: RTensor) -> RTensor:
    out = _float_binary("div", a, b, np.divide)
    _record_ab("DivBackward", _div_rule, a, b, out)
    return out


def pow(a: RTensor, b: RTensor) -> RTensor:
    out = _float_binary("pow", a, b, np.power)
    n = _record_ab("PowBackward", _pow_rule, a, b, out)
    if n is not None:
        n.save(out, True)
    return out


def maximum(a: RTensor, b: RTensor) -> RTensor:
    """Elementwise max; NaN propagates (as NumPy and the C++ kernel)."""
    out = _numeric_binary("maximum", a, b, np.maximum)
    _record_ab("MaximumBackward", _maximum_rule, a, b, out)
    return out


def minimum(a: RTensor, b: RTensor) -> RTensor:
    out = _numeric_binary("minimum", a, b, np.minimum)
    _record_ab("MinimumBackward", _minimum_rule, a, b, out)
    return out


# Comparisons return bool tensors and have no gradient.
def _compare(op: str, a: RTensor, b: RTensor, f: Any) -> RTensor:
    check_same_dtype(op, a, b)
    broadcast_shapes(op, a.shape, b.shape)
    with _quiet():
        return wrap(f(a.data, b.data), BOOL)


def lt(a: RTensor, b: RTensor) -> RTensor:
    return _compare("lt", a, b, np.less)


def le(a: RTensor, b: RTensor) -> RTensor:
    return _compare("le", a, b, np.less_equal)


def gt(a: RTensor, b: RTensor) -> RTensor:
    return _compare("gt", a, b, np.greater)


def ge(a: RTensor, b: RTensor) -> RTensor:
    return _compare("ge", a, b, np.greater_equal)


def eq(a: RTensor, b: RTensor) -> RTensor:
    return _compare("eq", a, b, np.equal)


def ne(a: RTensor, b: RTensor) -> RTensor:
    return _compare("ne", a, b, np.not_equal)


# --- where, clamp --------------------------------------------------------------------------------
def _where_rule(n: FnNode, g: Grads) -> list:
    c = n.saved(0)
    zero = _scalar_like(0.0, g[0])
    return [None,
            where(c, g[0], zero) if n.needs_input_grad(1) else None,
            where(c, zero, g[0]) if n.needs_input_grad(2) else None]


def where(c: RTensor, a: RTensor, b: RTensor) -> RTensor:
    """a where c else b (c bool; all three broadcast)."""
    if c.dtype != BOOL:
        raise TypeError(f"where: condition must be a bool tensor, got {DTYPE_NAMES[c.dtype]}")
    check_same_dtype("where", a, b)
    broadcast_shapes("where", broadcast_shapes("where", c.shape, a.shape), b.shape)
    out = wrap(np.where(c.data, a.data, b.data), a.dtype)
    n = make_node("WhereBackward", _where_rule, [c, a, b], [out])
    if n is not None:
        n.save(c)
    return out


def _clamp_rule(n: FnNode, g: Grads) -> list:
    # The gradient passes where lo <= x <= hi.
    x = n.saved(0)
    lo, hi = n.args
    zero = _scalar_like(0.0, g[0])
    r = g[0]
    if lo is not None:
        r = where(lt(x, _scalar_like(lo, x)), zero, r)
    if hi is not None:
        r = where(gt(x, _scalar_like(hi, x)), zero, r)
    return [r]


def clamp(x: RTensor, lo: float | None, hi: float | None) -> RTensor:
    """x limited to [lo, hi] (either may be None); bounds are cast to x's dtype; NaN stays NaN."""
    check_numeric("clamp", x)
    lo = None if lo is None else float(lo)
    hi = None if hi is None else float(hi)
    v = x.data
    with _quiet():
        if lo is not None:
            lo_t = np.asarray(lo).astype(v.dtype)
            v = np.where(v < lo_t, lo_t, v)
        if hi is not None:
            hi_t = np.asarray(hi).astype(v.dtype)
            v = np.where(v > hi_t, hi_t, v)
        out = RTensor(np.array(v, dtype=NP_DTYPES[x.dtype], copy=True))
    n = make_node("ClampBackward", _clamp_rule, [x], [out], (lo, hi))
    if n is not None:
        n.save(x)
    return out


# --- log1p, expm1, erf, softplus: forward then rule ------------------------------------------------
def log1p(x: RTensor) -> RTensor:
    """log(1 + x), accurate for small x."""
    out = _float_unary("log1p", x, np.log1p)
    _record_unary("Log1PBackward", _log1p_rule, x, out, False)
    return out


def _log1p_rule(n: FnNode, g: Grads) -> list:
    x = n.saved(0)
    return [div(g[0], add(x, _scalar_like(1.0, x)))]


def expm1(x: RTensor) -> RTensor:
    """exp(x) - 1, accurate for small x."""
    out = _float_unary("expm1", x, np.expm1)
    _record_unary("Expm1Backward", _expm1_rule, x, out, True)
    return out


def _expm1_rule(n: FnNode, g: Grads) -> list:
    y = n.saved(0)
    return [mul(g[0], add(y, _scalar_like(1.0, y)))]


_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x: RTensor) -> RTensor:
    """The error function (math.erf per element, computed in double)."""
    out = _float_unary("erf", x, lambda v: np.asarray(_erf(v), dtype=np.float64).astype(v.dtype))
    _record_unary("ErfBackward", _erf_rule, x, out, False)
    return out


def _erf_rule(n: FnNode, g: Grads) -> list:
    x = n.saved(0)
    d = mul(exp(neg(mul(x, x))), _scalar_like(2.0 / math.sqrt(math.pi), x))
    return [mul(g[0], d)]


def softplus(x: RTensor) -> RTensor:
    """log(1 + exp(x)) without overflow (np.logaddexp(0, x))."""
    out = _float_unary("softplus", x, lambda v: np.logaddexp(np.zeros((), v.dtype), v))
    _record_unary("SoftplusBackward", _softplus_rule, x, out, False)
    return out


def _softplus_rule(n: FnNode, g: Grads) -> list:
    return [mul(g[0], sigmoid(n.saved(0)))]


# --- floor, ceil, round: no slope anywhere, so their gradient is zero (as PyTorch's) ------------
def _zero_rule(n: FnNode, g: Grads) -> list:
    return [zeros_like(g[0])]


def _rounding(op: str, node: str, x: RTensor, f: Any) -> RTensor:
    check_numeric(op, x)
    out = wrap(f(x.data) if is_floating(x.dtype) else x.data.copy(), x.dtype)
    make_node(node, _zero_rule, [x], [out])
    return out


def floor(x: RTensor) -> RTensor:
    return _rounding("floor", "FloorBackward", x, np.floor)


def ceil(x: RTensor) -> RTensor:
    return _rounding("ceil", "CeilBackward", x, np.ceil)


def round(x: RTensor) -> RTensor:
    """Halves to even, as np.round."""
    return _rounding("round", "RoundBackward", x, np.round)
