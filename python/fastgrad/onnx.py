"""``fastgrad.onnx.export``: runs a model's forward once, recording the layers and tensor ops it
calls, and writes the graph as ONNX (needs the ``onnx`` package: ``pip install "fastgrad[onnx]"``).

Not a general tracer: it records the calls in two tables, ``MODULES`` (layers, by class name, each
written as whole ONNX nodes: Linear as Gemm) and ``OPS`` (functions and Tensor methods); a tensor
made by anything else that the graph needs is an error naming the op. New layers (convolution,
pooling, batch norm) are new entries in ``MODULES``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, Union

import numpy as np

from fastgrad.autograd import enable_grad
from fastgrad.nn import functional as F
from fastgrad.nn.module import Module
from fastgrad.tensor import Tensor

PathLike = Union[str, "os.PathLike[str]", BinaryIO]


class UnsupportedOperatorError(RuntimeError):
    """An op the exporter has no ONNX entry for (the message names it)."""


class _Graph:
    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.names: dict[int, str] = {}
        self.keep: list[Any] = []  # keeps traced tensors alive so their ids stay unique
        self.depth = 0
        self.count = 0
        self.opset = 17

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, value: Any, dtype: Any = np.float32, base: str = "const") -> str:
        a = np.asarray(value, dtype=dtype)
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(a, name))
        return name

    def name(self, t: Any, like: Any = None) -> str:
        if not isinstance(t, Tensor):
            dt = like.detach().numpy().dtype if isinstance(like, Tensor) else np.float32
            return self.const(t, dt)
        if id(t) in self.names:
            return self.names[id(t)]
        fn = t.grad_fn
        if fn is not None:
            raise UnsupportedOperatorError(
                f"fastgrad.onnx.export: the graph needs a tensor of shape {tuple(t.shape)} made by "
                f"{fn.name()}, an op the exporter has no ONNX entry for (supported: the layers in "
                "fastgrad.onnx.MODULES and the functions in fastgrad.onnx.OPS)")
        # a leaf: a parameter, buffer or constant, stored in the file
        name = self.const(t.detach().numpy(), base="param")
        self.names[id(t)] = name
        self.keep.append(t)
        return name

    def node(self, op: str, inputs: Sequence[str], out: Tensor | None = None,
             **attrs: Any) -> str:
        name = self.fresh(op)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [name], name=name,
                                                     **attrs))
        if out is not None:
            self.names[id(out)] = name
            self.keep.append(out)
        return name


_current: list[_Graph] = []


# --- op entries: fn(g, args, kwargs, out) records the nodes that compute `out` -----------------
def _arg(args: Sequence[Any], kw: dict[str, Any], i: int, key: str, default: Any) -> Any:
    return args[i] if len(args) > i else kw.get(key, default)


def _unary(op: str, **attrs: Any) -> Callable[..., None]:
    def emit(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
        g.node(op, [g.name(args[0])], out, **attrs)
    return emit


def _binary(op: str, swap: bool = False) -> Callable[..., None]:
    def emit(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
        a, b = args[0], args[1]
        if swap:
            a, b = b, a
        g.node(op, [g.name(a, like=out), g.name(b, like=out)], out)
    return emit


def _reshape(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    x = args[0]
    shape = list(out.shape)
    if shape and x.dim() and shape[0] == x.shape[0]:
        shape[0] = 0  # ONNX: copy the input's first dimension (a dynamic batch stays dynamic)
    g.node("Reshape", [g.name(x), g.const(shape, np.int64, "shape")], out)


def _flatten(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    x = args[0]
    start = _arg(args, kw, 1, "start_dim", 0) % max(x.dim(), 1)
    end = _arg(args, kw, 2, "end_dim", -1) % max(x.dim(), 1)
    if start == 1 and end == x.dim() - 1:
        g.node("Flatten", [g.name(x)], out, axis=1)
    else:
        _reshape(g, args, kw, out)


def _perm_transpose(g: _Graph, x: Tensor, perm: Sequence[int], out: Tensor) -> None:
    g.node("Transpose", [g.name(x)], out, perm=[int(p) % x.dim() for p in perm])


def _transpose(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    x = args[0]
    d0 = _arg(args, kw, 1, "dim0", 0) % x.dim()
    d1 = _arg(args, kw, 2, "dim1", 1) % x.dim()
    perm = list(range(x.dim()))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    _perm_transpose(g, x, perm, out)


def _permute(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    dims = args[1:] if len(args) > 1 else kw["dims"]
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    _perm_transpose(g, args[0], dims, out)


def _t(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    _perm_transpose(g, args[0], list(range(args[0].dim()))[::-1], out)


def _cat(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    ts = list(_arg(args, kw, 0, "tensors", []))
    dim = kw.get("axis") if kw.get("axis") is not None else _arg(args, kw, 1, "dim", 0)
    g.node("Concat", [g.name(t) for t in ts], out, axis=int(dim) % out.dim())


def _softmax(op: str) -> Callable[..., None]:
    def emit(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
        dim = _arg(args, kw, 1, "dim", None)
        if dim is None:
            raise UnsupportedOperatorError(f"fastgrad.onnx.export: {op} needs an explicit dim")
        g.node(op, [g.name(args[0])], out, axis=int(dim) % max(args[0].dim(), 1))
    return emit


def _leaky_relu(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    g.node("LeakyRelu", [g.name(args[0])], out,
           alpha=float(_arg(args, kw, 1, "negative_slope", 0.01)))


def _elu(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    g.node("Elu", [g.name(args[0])], out, alpha=float(_arg(args, kw, 1, "alpha", 1.0)))


def _softplus_nodes(g: _Graph, x: Tensor, beta: float, out: Tensor) -> None:
    if beta == 1.0:
        g.node("Softplus", [g.name(x)], out)
        return
    bx = g.node("Mul", [g.name(x), g.name(beta, like=x)])
    sp = g.node("Softplus", [bx])
    g.node("Div", [sp, g.name(beta, like=x)], out)


def _softplus(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    _softplus_nodes(g, args[0], float(_arg(args, kw, 1, "beta", 1.0)), out)


def _gelu_nodes(g: _Graph, x: Tensor, approximate: str, out: Tensor) -> None:
    xn = g.name(x)

    def c(v: float) -> str:
        return g.name(v, like=x)

    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = g.node("Mul", [g.node("Mul", [xn, xn]), xn])
        inner = g.node("Add", [xn, g.node("Mul", [x3, c(0.044715)])])
        th = g.node("Tanh", [g.node("Mul", [inner, c(math.sqrt(2 / math.pi))])])
    else:  # 0.5 x (1 + erf(x / sqrt(2)))
        th = g.node("Erf", [g.node("Div", [xn, c(math.sqrt(2.0))])])
    g.node("Mul", [g.node("Mul", [xn, c(0.5)]), g.node("Add", [th, c(1.0)])], out)


def _gelu(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    _gelu_nodes(g, args[0], _arg(args, kw, 1, "approximate", "none"), out)


def _linear_nodes(g: _Graph, x: Tensor, w: Tensor, b: Tensor | None, out: Tensor) -> None:
    if x.dim() == 2:
        ins = [g.name(x), g.name(w)] + ([g.name(b)] if b is not None else [])
        g.node("Gemm", ins, out, transB=1)
        return
    wt = g.node("Transpose", [g.name(w)], perm=[1, 0])
    if b is None:
        g.node("MatMul", [g.name(x), wt], out)
    else:
        g.node("Add", [g.node("MatMul", [g.name(x), wt]), g.name(b)], out)


def _linear(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    _linear_nodes(g, args[0], _arg(args, kw, 1, "weight", None), _arg(args, kw, 2, "bias", None),
                  out)


def _reduce(op: str) -> Callable[..., None]:
    def emit(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
        x = args[0]
        dim = _arg(args, kw, 1, "dim", kw.get("axis"))
        keep = int(bool(kw["keepdims"] if kw.get("keepdims") is not None
                        else _arg(args, kw, 2, "keepdim", False)))
        if dim is None:
            axes = list(range(x.dim()))
        else:
            axes = [int(d) % max(x.dim(), 1) for d in (dim if isinstance(dim, (tuple, list))
                                                       else [dim])]
        if op == "ReduceSum" or g.opset >= 18:  # axes an input
            g.node(op, [g.name(x), g.const(axes, np.int64, "axes")], out, keepdims=keep)
        else:
            g.node(op, [g.name(x)], out, axes=axes, keepdims=keep)
    return emit


def _getitem(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    """Basic indexing: ints, slices with positive steps, Ellipsis and None."""
    x, idx = args[0], args[1]
    idx = idx if isinstance(idx, tuple) else (idx,)
    if any(not (i is None or i is Ellipsis or isinstance(i, (int, slice))) or
           isinstance(i, bool) or (isinstance(i, slice) and (i.step or 1) <= 0) for i in idx):
        raise UnsupportedOperatorError(
            "fastgrad.onnx.export: indexing with tensors, lists, bools or negative steps has no "
            f"ONNX entry (index {args[1]!r:.60})")
    n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if Ellipsis in idx:
        k = idx.index(Ellipsis)
        idx = idx[:k] + (slice(None),) * (x.dim() - n_real) + idx[k + 1:]
    starts: list[int] = []
    ends: list[int] = []
    axes: list[int] = []
    steps: list[int] = []
    squeeze: list[int] = []
    axis = 0
    for i in idx:
        if i is None:
            continue
        size = x.shape[axis]
        if isinstance(i, int):
            i = i % size
            starts.append(i)
            ends.append(i + 1)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        elif i != slice(None):
            a, b, st = i.indices(size)
            starts.append(a)
            ends.append(b)
            axes.append(axis)
            steps.append(st)
        axis += 1
    name = g.name(x)
    if axes:
        name = g.node("Slice", [name, g.const(starts, np.int64, "starts"),
                                g.const(ends, np.int64, "ends"),
                                g.const(axes, np.int64, "axes"),
                                g.const(steps, np.int64, "steps")])
    if squeeze:
        name = g.node("Squeeze", [name, g.const(squeeze, np.int64, "axes")])
    if None in idx:  # positions in the result, in order
        pos: list[int] = []
        j = 0
        for i in idx:
            if i is None:
                pos.append(j + len(pos))
            elif not isinstance(i, int):
                j += 1
        name = g.node("Unsqueeze", [name, g.const(pos, np.int64, "axes")])
    g.node("Identity", [name], out)


def _dropout(g: _Graph, args: Sequence[Any], kw: dict[str, Any], out: Tensor) -> None:
    if _arg(args, kw, 2, "training", True) and _arg(args, kw, 1, "p", 0.5) > 0:
        raise UnsupportedOperatorError(
            "fastgrad.onnx.export: F.dropout with training=True is random; pass "
            "training=self.training (the export runs in eval mode)")
    g.node("Identity", [g.name(args[0])], out)


_RELU, _SIGMOID, _TANH = _unary("Relu"), _unary("Sigmoid"), _unary("Tanh")

# (owner, attribute name) -> entry. Owners: "Tensor" (methods), "fastgrad", "F"
# (fastgrad.nn.functional).
OPS: dict[tuple[str, str], Callable[..., None]] = {
    ("Tensor", "__add__"): _binary("Add"), ("Tensor", "__radd__"): _binary("Add", True),
    ("Tensor", "__sub__"): _binary("Sub"), ("Tensor", "__rsub__"): _binary("Sub", True),
    ("Tensor", "__mul__"): _binary("Mul"), ("Tensor", "__rmul__"): _binary("Mul", True),
    ("Tensor", "__truediv__"): _binary("Div"), ("Tensor", "__rtruediv__"): _binary("Div", True),
    ("Tensor", "__pow__"): _binary("Pow"), ("Tensor", "__matmul__"): _binary("MatMul"),
    ("Tensor", "__rmatmul__"): _binary("MatMul", True), ("Tensor", "__neg__"): _unary("Neg"),
    ("Tensor", "add"): _binary("Add"), ("Tensor", "sub"): _binary("Sub"),
    ("Tensor", "mul"): _binary("Mul"), ("Tensor", "div"): _binary("Div"),
    ("Tensor", "pow"): _binary("Pow"), ("Tensor", "matmul"): _binary("MatMul"),
    ("Tensor", "relu"): _RELU, ("Tensor", "sigmoid"): _SIGMOID, ("Tensor", "tanh"): _TANH,
    ("Tensor", "exp"): _unary("Exp"), ("Tensor", "log"): _unary("Log"),
    ("Tensor", "sqrt"): _unary("Sqrt"), ("Tensor", "abs"): _unary("Abs"),
    ("Tensor", "reshape"): _reshape, ("Tensor", "view"): _reshape,
    ("Tensor", "flatten"): _flatten, ("Tensor", "squeeze"): _reshape,
    ("Tensor", "unsqueeze"): _reshape, ("Tensor", "transpose"): _transpose,
    ("Tensor", "permute"): _permute, ("Tensor", "t"): _t,
    ("Tensor", "sum"): _reduce("ReduceSum"), ("Tensor", "mean"): _reduce("ReduceMean"),
    ("fastgrad", "sum"): _reduce("ReduceSum"), ("fastgrad", "mean"): _reduce("ReduceMean"),
    ("Tensor", "__getitem__"): _getitem,
    ("Tensor", "softmax"): _softmax("Softmax"), ("Tensor", "log_softmax"): _softmax("LogSoftmax"),
    ("fastgrad", "matmul"): _binary("MatMul"), ("fastgrad", "add"): _binary("Add"),
    ("fastgrad", "mul"): _binary("Mul"), ("fastgrad", "cat"): _cat,
    ("fastgrad", "concat"): _cat, ("fastgrad", "concatenate"): _cat,
    ("fastgrad", "reshape"): _reshape, ("fastgrad", "flatten"): _flatten,
    ("fastgrad", "transpose"): _transpose, ("fastgrad", "permute"): _permute,
    ("fastgrad", "relu"): _RELU, ("fastgrad", "sigmoid"): _SIGMOID, ("fastgrad", "tanh"): _TANH,
    ("fastgrad", "exp"): _unary("Exp"), ("fastgrad", "log"): _unary("Log"),
    ("fastgrad", "softmax"): _softmax("Softmax"),
    ("fastgrad", "log_softmax"): _softmax("LogSoftmax"),
    ("F", "relu"): _RELU, ("F", "sigmoid"): _SIGMOID, ("F", "tanh"): _TANH,
    ("F", "leaky_relu"): _leaky_relu, ("F", "elu"): _elu, ("F", "softplus"): _softplus,
    ("F", "gelu"): _gelu, ("F", "linear"): _linear, ("F", "dropout"): _dropout,
    ("F", "softmax"): _softmax("Softmax"), ("F", "log_softmax"): _softmax("LogSoftmax"),
}


def _m_linear(g: _Graph, m: Any, x: Tensor, out: Tensor) -> None:
    _linear_nodes(g, x, m.weight, getattr(m, "bias", None), out)


def _m_identity(g: _Graph, m: Any, x: Tensor, out: Tensor) -> None:
    g.node("Identity", [g.name(x)], out)


def _m_flatten(g: _Graph, m: Any, x: Tensor, out: Tensor) -> None:
    _flatten(g, [x, m.start_dim, m.end_dim], {}, out)


def _m_softmax(op: str) -> Callable[..., None]:
    def emit(g: _Graph, m: Any, x: Tensor, out: Tensor) -> None:
        _softmax(op)(g, [x, m.dim], {}, out)
    return emit


def _tuple(v: Any, nd: int) -> list[int]:
    return [int(x) for x in v] if isinstance(v, (tuple, list)) else [int(v)] * nd


def _unsupported(what: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"fastgrad.onnx.export: {what} has no ONNX export")


def _m_conv(g: _Graph, m: Any, x: Tensor, out: Tensor) -> None:
    """Conv1d/Conv2d as ONNX Conv (pads begin..., end...); zero padding only."""
    if m.padding_mode != "zeros":
        raise _unsupported(f"{type(m).__name__} with padding_mode={m.padding_mode!r}")
    nd = m._nd
    rev = m._reversed_padding_repeated_twice  # (left, right) pairs, last dim first
    begins = [rev[2 * (nd - 1 - i)] for i in range(nd)]
    ends = [rev[2 * (nd - 1 - i) + 1] for i in range(nd)]
    ins = [g.name(x), g.name(m.weight)] + ([g.name(m.bias)] if m.bias is not None else [])
    g.node("Conv", ins, out, kernel_shape=list(m.kernel_size), strides=list(m.stride),
           dilations=list(m.dilation), pads=begins + ends, group=int(m.groups))


def _m_maxpool(g: _Graph, m: Any, x: Tensor, out: Tensor) -> None:
    if m.return_indices:
        raise _unsupported(f"{type(m).__name__} with return_indices=True")
    nd = m._nd
    g.node("MaxPool", [g.name(x)], out, kernel_shape=_tuple(m.kernel_size, nd),
           strides=_tuple(m.stride, nd), pads=_tuple(m.padding, nd) * 2,
           dilations=_tuple(m.dilation, nd), ceil_mode=int(bool(m.ceil_mode)))


def _m_avgpool(g: _Graph, m: Any, x: Tensor, out: Tensor) -> None:
    if m.divisor_override is not None:
        raise _unsupported(f"{type(m).__name__} with divisor_override")
    nd = m._nd
    g.node("AveragePool", [g.name(x)], out, kernel_shape=_tuple(m.kernel_size, nd),
           strides=_tuple(m.stride, nd), pads=_tuple(m.padding, nd) * 2,
           ceil_mode=int(bool(m.ceil_mode)), count_include_pad=int(bool(m.count_include_pad)))


def _m_adaptive_avg(g: _Graph, m: Any, x: Tensor, out: Tensor) -> None:
    if any(int(v) != 1 for v in _tuple(m.output_size, m._nd) if v is not None):
        raise _unsupported(f"{type(m).__name__} with output_size={m.output_size} (only 1)")
    g.node("GlobalAveragePool", [g.name(x)], out)


def _m_batchnorm(g: _Graph, m: Any, x: Tensor, out: Tensor) -> None:
    """BatchNorm in eval mode: the running statistics (a model without them has no export)."""
    if not m.track_running_stats or m.running_mean is None:
        raise _unsupported(f"{type(m).__name__} without running statistics")
    c = int(m.num_features)
    dt = m.running_mean.detach().numpy().dtype
    scale = g.name(m.weight) if m.affine else g.const(np.ones(c), dt, "scale")
    bias = g.name(m.bias) if m.affine else g.const(np.zeros(c), dt, "bias")
    g.node("BatchNormalization", [g.name(x), scale, bias, g.name(m.running_mean),
                                  g.name(m.running_var)], out, epsilon=float(m.eps))


# class name -> fn(g, module, input, output).
MODULES: dict[str, Callable[..., None]] = {
    "Linear": _m_linear,
    "ReLU": lambda g, m, x, out: g.node("Relu", [g.name(x)], out),
    "Sigmoid": lambda g, m, x, out: g.node("Sigmoid", [g.name(x)], out),
    "Tanh": lambda g, m, x, out: g.node("Tanh", [g.name(x)], out),
    "LeakyReLU": lambda g, m, x, out: g.node("LeakyRelu", [g.name(x)], out,
                                             alpha=float(m.negative_slope)),
    "ELU": lambda g, m, x, out: g.node("Elu", [g.name(x)], out, alpha=float(m.alpha)),
    "Softplus": lambda g, m, x, out: _softplus_nodes(g, x, float(getattr(m, "beta", 1.0)), out),
    "GELU": lambda g, m, x, out: _gelu_nodes(g, x, getattr(m, "approximate", "none"), out),
    "Softmax": _m_softmax("Softmax"),
    "LogSoftmax": _m_softmax("LogSoftmax"),
    "Flatten": _m_flatten,
    "Identity": _m_identity,
    "Dropout": _m_identity,  # exported in eval mode
    "Dropout1d": _m_identity,
    "Dropout2d": _m_identity,
    "Conv1d": _m_conv,
    "Conv2d": _m_conv,
    "MaxPool1d": _m_maxpool,
    "MaxPool2d": _m_maxpool,
    "AvgPool1d": _m_avgpool,
    "AvgPool2d": _m_avgpool,
    "AdaptiveAvgPool1d": _m_adaptive_avg,
    "AdaptiveAvgPool2d": _m_adaptive_avg,
    "BatchNorm1d": _m_batchnorm,
    "BatchNorm2d": _m_batchnorm,
}


# --- tracing ---------------------------------------------------------------------------------
def _owners() -> dict[str, Any]:
    return {"Tensor": Tensor, "fastgrad": sys.modules["fastgrad"], "F": F}


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for c in cls.__subclasses__():
        out += [x for x in _subclasses(c) if x not in out]
    return out


def _wrap_op(key: tuple[str, str], orig: Callable[..., Any]) -> Callable[..., Any]:
    entry = OPS[key]

    def traced(*args: Any, **kw: Any) -> Any:
        g = _current[-1] if _current else None
        if g is None or g.depth:
            return orig(*args, **kw)
        g.depth += 1
        try:
            out = orig(*args, **kw)
        finally:
            g.depth -= 1
        if isinstance(out, Tensor):
            entry(g, args, kw, out)
        return out
    return traced


def _module_call(orig: Callable[..., Any]) -> Callable[..., Any]:
    def traced(self: Module, *args: Any, **kw: Any) -> Any:
        g = _current[-1] if _current else None
        entry = MODULES.get(type(self).__name__)
        if g is None or g.depth or entry is None:
            return orig(self, *args, **kw)
        if len(args) != 1 or kw or not isinstance(args[0], Tensor):
            raise UnsupportedOperatorError(
                f"fastgrad.onnx.export: {type(self).__name__} called with other than one tensor")
        g.depth += 1
        try:
            out = orig(self, *args, **kw)
        finally:
            g.depth -= 1
        entry(g, self, args[0], out)
        return out
    return traced


def _onnx_type(onnx: Any, t: Tensor) -> int:
    codes = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE,
             "int64": onnx.TensorProto.INT64, "bool": onnx.TensorProto.BOOL}
    return codes[t.dtype.name]


def _value_info(onnx: Any, name: str, t: Tensor, dyn: Any) -> Any:
    dims: list[Any] = list(t.shape)
    if dyn:
        items = dyn.items() if isinstance(dyn, dict) else ((a, f"{name}_dim{a}") for a in dyn)
        for a, label in items:
            dims[int(a)] = str(label)
    return onnx.helper.make_tensor_value_info(name, _onnx_type(onnx, t), dims)


def _version() -> str:
    from fastgrad._version import __version__
    return __version__


def export(model: Module, args: Any, f: PathLike, input_names: Sequence[str] | None = None,
           output_names: Sequence[str] | None = None,
           dynamic_axes: dict[str, Any] | None = None, opset_version: int = 17) -> None:
    """Writes ``model`` as an ONNX file ``f`` (a path or a binary file object), recording one
    forward call ``model(*args)`` in eval mode (``args``: a Tensor or a tuple of Tensors).

    Layers in ``MODULES`` (Linear as Gemm for 2-D inputs, else MatMul + Add; ReLU, Sigmoid, Tanh,
    LeakyReLU, ELU, Softplus, GELU, Softmax, LogSoftmax, Flatten, Identity, Dropout) and the
    functions and Tensor methods in ``OPS`` (+ - * / ** @, reshape, view, flatten, transpose,
    permute, cat, sum, mean, basic indexing, activations, softmax) are exported; a tensor the graph needs made by any other
    op raises ``UnsupportedOperatorError`` naming it. Shapes are those traced, except the axes in
    ``dynamic_axes`` ({name: {axis: label}} or {name: [axis]}); Reshape keeps the first dimension
    dynamic. Example: ``fastgrad.onnx.export(model, fastgrad.randn(1, 4), "mlp.onnx",
    input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})``.
    """
    try:
        import onnx
    except ImportError:
        raise ImportError("fastgrad.onnx.export needs the onnx package: "
                          "pip install 'fastgrad[onnx]' (or pip install onnx)") from None
    if opset_version < 13:
        raise ValueError(f"fastgrad.onnx.export: opset_version={opset_version}: 13 or later "
                         "(Softmax over one axis)")
    inputs = (args,) if isinstance(args, Tensor) else tuple(args)
    if not all(isinstance(a, Tensor) for a in inputs):
        raise TypeError("fastgrad.onnx.export: args must be a Tensor or a tuple of Tensors")
    g = _Graph(onnx)
    g.opset = opset_version
    in_names = list(input_names or [f"input_{i}" for i in range(len(inputs))])
    if len(in_names) != len(inputs):
        raise ValueError(f"fastgrad.onnx.export: {len(in_names)} input_names for "
                         f"{len(inputs)} inputs")
    traced_inputs = []
    for name, a in zip(in_names, inputs):
        t = a.detach().clone()
        if t.is_floating_point():
            t.requires_grad_(True)  # every op on it leaves a grad_fn: unknown ops are named
        g.names[id(t)] = name
        g.keep.append(t)
        traced_inputs.append(t)
    owners = _owners()
    saved: list[tuple[Any, str, Any]] = []
    was_training = model.training
    model.eval()
    _current.append(g)
    try:
        for owner, attr in OPS:
            obj = owners[owner]
            # Tensor subclasses (Parameter) define some operators of their own: patched too
            for o in _subclasses(obj) if isinstance(obj, type) else [obj]:
                orig = o.__dict__.get(attr) if isinstance(o, type) else getattr(o, attr, None)
                if orig is None:
                    continue
                saved.append((o, attr, orig))
                setattr(o, attr, _wrap_op((owner, attr), orig))
        call = Module.__dict__["__call__"]
        saved.append((Module, "__call__", call))
        Module.__call__ = _module_call(call)  # type: ignore[method-assign]
        with enable_grad():
            result = model(*traced_inputs)
    finally:
        _current.pop()
        for obj, attr, orig in reversed(saved):
            setattr(obj, attr, orig)
        model.train(was_training)
    outs = [result] if isinstance(result, Tensor) else list(result)
    if not all(isinstance(o, Tensor) for o in outs):
        raise TypeError("fastgrad.onnx.export: the model must return a Tensor or a tuple of them")
    out_names = list(output_names or [f"output_{i}" for i in range(len(outs))])
    if len(out_names) != len(outs):
        raise ValueError(f"fastgrad.onnx.export: {len(out_names)} output_names for "
                         f"{len(outs)} outputs")
    rename = {}
    for name, o in zip(out_names, outs):
        internal = g.name(o)
        if internal in in_names or internal in rename or not any(
                internal in n.output for n in g.nodes):
            g.nodes.append(onnx.helper.make_node("Identity", [internal], [name]))
        else:
            rename[internal] = name
    for n in g.nodes:
        for lst in (n.input, n.output):
            for i, v in enumerate(lst):
                if v in rename:
                    lst[i] = rename[v]
    dyn = dynamic_axes or {}
    graph = onnx.helper.make_graph(
        g.nodes, "fastgrad",
        [_value_info(onnx, n, t, dyn.get(n)) for n, t in zip(in_names, traced_inputs)],
        [_value_info(onnx, n, o.detach(), dyn.get(n)) for n, o in zip(out_names, outs)],
        g.initializers)
    proto = onnx.helper.make_model(
        graph, producer_name="fastgrad", producer_version=_version(),
        opset_imports=[onnx.helper.make_opsetid("", opset_version)])
    onnx.checker.check_model(proto)
    if isinstance(f, (str, os.PathLike)):
        onnx.save(proto, os.fspath(f))
    else:
        f.write(proto.SerializeToString())


__all__ = ["MODULES", "OPS", "UnsupportedOperatorError", "export"]
