# 2-D convolution of the reference backend in plain NumPy (sliding_window_view + einsum):
# conv2d, conv_transpose2d (its input gradient) and conv2d_weight (its weight gradient), each the
# others' derivative rule, as in cpp/autograd/ops_conv.cpp. NCHW, 4-D, symmetric zero padding
# only; 1-D convolution, bias and padding modes are the Python layer's (nn/_functional_conv.py).
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastgrad.reference.tape import (
    FnNode,
    RTensor,
    check_float,
    check_same_dtype,
    make_node,
    wrap,
)

Grads = Sequence[RTensor]


def _params(op: str, stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
            groups: int) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], int]:
    s, p, d = (tuple(int(v) for v in a) for a in (stride, padding, dilation))
    if len(s) != 2 or len(p) != 2 or len(d) != 2:
        raise ValueError(f"{op}: stride, padding and dilation must have 2 values each, got "
                         f"{len(s)}, {len(p)} and {len(d)}")
    if min(s) <= 0:
        raise ValueError(f"{op}: stride must be positive, got {s}")
    if min(p) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {p}")
    if min(d) <= 0:
        raise ValueError(f"{op}: dilation must be positive, got {d}")
    if int(groups) <= 0:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    return s, p, d, int(groups)  # type: ignore[return-value]


def _check(op: str, xs: tuple, ws: tuple, groups: int) -> None:
    if len(xs) != 4 or len(ws) != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) and a 4-D weight "
                         f"(O, C/groups, KH, KW), got shapes {xs} and {ws}")
    if ws[0] % groups:
        raise ValueError(f"{op}: weight of shape {ws}: out channels {ws[0]} not divisible by "
                         f"groups {groups}")
    if xs[1] != ws[1] * groups:
        raise ValueError(f"{op}: input of shape {xs} has {xs[1]} channels, weight of shape {ws} "
                         f"with groups={groups} expects {ws[1] * groups}")


def _out(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _windows(x: np.ndarray, kh: int, kw: int, s: tuple, p: tuple, d: tuple, oh: int,
             ow: int) -> np.ndarray:
    """(N, C, OH, OW, KH, KW): the input patch of every output position (zero padded)."""
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    eh, ew = d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1
    if xp.shape[2] < eh or xp.shape[3] < ew:
        return np.zeros(x.shape[:2] + (oh, ow, kh, kw), x.dtype)
    win = np.lib.stride_tricks.sliding_window_view(xp, (eh, ew), axis=(2, 3))
    return win[:, :, ::s[0], ::s[1], ::d[0], ::d[1]][:, :, :oh, :ow]


def _conv(x: np.ndarray, w: np.ndarray, s: tuple, p: tuple, d: tuple, g: int) -> np.ndarray:
    n, _c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = _out(h, kh, s[0], p[0], d[0]), _out(wd, kw, s[1], p[1], d[1])
    win = _windows(x, kh, kw, s, p, d, oh, ow).reshape(n, g, cg, oh, ow, kh, kw)
    y = np.einsum("ngchwij,gocij->ngohw", win, w.reshape(g, o // g, cg, kh, kw), optimize=True)
    return y.reshape(n, o, oh, ow)


def _conv_t(gy: np.ndarray, w: np.ndarray, s: tuple, p: tuple, d: tuple, g: int, h: int,
            wd: int) -> np.ndarray:
    n, o, oh, ow = gy.shape
    _, cg, kh, kw = w.shape
    cols = np.einsum("ngohw,gocij->ngcijhw", gy.reshape(n, g, o // g, oh, ow),
                     w.reshape(g, o // g, cg, kh, kw), optimize=True)
    cols = cols.reshape(n, g * cg, kh, kw, oh, ow)
    hp, wp = max(h + 2 * p[0], (oh - 1) * s[0] + d[0] * (kh - 1) + 1), \
        max(wd + 2 * p[1], (ow - 1) * s[1] + d[1] * (kw - 1) + 1)
    dx = np.zeros((n, g * cg, hp, wp), gy.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i * d[0]:i * d[0] + (oh - 1) * s[0] + 1:s[0],
               j * d[1]:j * d[1] + (ow - 1) * s[1] + 1:s[1]] += cols[:, :, i, j]
    return dx[:, :, p[0]:p[0] + h, p[1]:p[1] + wd]


def _conv_w(x: np.ndarray, gy: np.ndarray, ws: tuple, s: tuple, p: tuple, d: tuple,
            g: int) -> np.ndarray:
    n = x.shape[0]
    o, cg, kh, kw = ws
    oh, ow = gy.shape[2], gy.shape[3]
    win = _windows(x, kh, kw, s, p, d, oh, ow).reshape(n, g, cg, oh, ow, kh, kw)
    dw = np.einsum("ngchwij,ngohw->gocij", win, gy.reshape(n, g, o // g, oh, ow), optimize=True)
    return dw.reshape(ws)


def _conv2d_rule(n: FnNode, g: Grads) -> list:
    s, p, d, gr, h, wd = n.args
    x, w = n.saved(0), n.saved(1)
    dx = conv_transpose2d(g[0], w, s, p, d, gr, (h, wd)) if n.needs_input_grad(0) else None
    dw = conv2d_weight(x, g[0], w.shape, s, p, d, gr) if n.needs_input_grad(1) else None
    return [dx, dw]


def conv2d(x: RTensor, w: RTensor, stride: Sequence[int], padding: Sequence[int],
           dilation: Sequence[int], groups: int) -> RTensor:
    """x (N, C, H, W) * w (O, C/groups, KH, KW) -> (N, O, OH, OW), symmetric zero padding."""
    s, p, d, g = _params("conv2d", stride, padding, dilation, groups)
    check_same_dtype("conv2d", x, w)
    check_float("conv2d", x)
    _check("conv2d", x.shape, w.shape, g)
    oh = _out(x.shape[2], w.shape[2], s[0], p[0], d[0])
    ow = _out(x.shape[3], w.shape[3], s[1], p[1], d[1])
    if oh <= 0 or ow <= 0:
        raise ValueError(f"conv2d: input of shape {x.shape} (padded {x.shape[2] + 2 * p[0]}x"
                         f"{x.shape[3] + 2 * p[1]}) is smaller than the dilated kernel of weight "
                         f"shape {w.shape}")
    out = wrap(_conv(x.data, w.data, s, p, d, g), x.dtype)
    node = make_node("Conv2dBackward", _conv2d_rule, [x, w], [out],
                     (s, p, d, g, x.shape[2], x.shape[3]))
    if node is not None:
        node.save(x)
        node.save(w)
    return out


def _conv_transpose2d_rule(n: FnNode, g: Grads) -> list:
    s, p, d, gr = n.args[:4]
    gy, w = n.saved(0), n.saved(1)
    dgy = conv2d(g[0], w, s, p, d, gr) if n.needs_input_grad(0) else None
    dw = conv2d_weight(g[0], gy, w.shape, s, p, d, gr) if n.needs_input_grad(1) else None
    return [dgy, dw]


def conv_transpose2d(gy: RTensor, w: RTensor, stride: Sequence[int], padding: Sequence[int],
                     dilation: Sequence[int], groups: int, input_size: Sequence[int]) -> RTensor:
    """The gradient of conv2d w.r.t. its input: gy (N, O, OH, OW), w (O, C/groups, KH, KW) ->
    (N, C, *input_size)."""
    op = "conv_transpose2d"
    s, p, d, g = _params(op, stride, padding, dilation, groups)
    check_same_dtype(op, gy, w)
    check_float(op, gy)
    gs, ws = gy.shape, w.shape
    if len(gs) != 4 or len(ws) != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) and a 4-D weight "
                         f"(C, O/groups, KH, KW), got shapes {gs} and {ws}")
    h, wd = (int(v) for v in input_size)
    if gs[1] != ws[0]:
        raise ValueError(f"{op}: input of shape {gs} has {gs[1]} channels, weight of shape {ws} "
                         f"expects {ws[0]}")
    _check(op, (gs[0], ws[1] * g, h, wd), ws, g)
    if _out(h, ws[2], s[0], p[0], d[0]) != gs[2] or _out(wd, ws[3], s[1], p[1], d[1]) != gs[3]:
        raise ValueError(f"{op}: output size ({h}, {wd}) does not match input of shape {gs} and "
                         f"weight of shape {ws} (output_padding must be smaller than stride or "
                         "dilation)")
    out = wrap(_conv_t(gy.data, w.data, s, p, d, g, h, wd), gy.dtype)
    node = make_node("ConvTranspose2dBackward", _conv_transpose2d_rule, [gy, w], [out],
                     (s, p, d, g, h, wd))
    if node is not None:
        node.save(gy)
        node.save(w)
    return out


def _conv2d_weight_rule(n: FnNode, g: Grads) -> list:
    s, p, d, gr = n.args[:4]
    x, gy = n.saved(0), n.saved(1)
    dx = (conv_transpose2d(gy, g[0], s, p, d, gr, x.shape[2:]) if n.needs_input_grad(0)
          else None)
    dgy = conv2d(x, g[0], s, p, d, gr) if n.needs_input_grad(1) else None
    return [dx, dgy]


def conv2d_weight(x: RTensor, gy: RTensor, weight_shape: Sequence[int], stride: Sequence[int],
                  padding: Sequence[int], dilation: Sequence[int], groups: int) -> RTensor:
    """The gradient of conv2d w.r.t. its weight: x (N, C, H, W), gy (N, O, OH, OW) ->
    weight_shape (O, C/groups, KH, KW)."""
    op = "conv2d_weight"
    s, p, d, g = _params(op, stride, padding, dilation, groups)
    check_same_dtype(op, x, gy)
    check_float(op, x)
    ws = tuple(int(v) for v in weight_shape)
    _check(op, x.shape, ws, g)
    gs, xs = gy.shape, x.shape
    if (len(gs) != 4 or gs[0] != xs[0] or gs[1] != ws[0]
            or gs[2] != _out(xs[2], ws[2], s[0], p[0], d[0])
            or gs[3] != _out(xs[3], ws[3], s[1], p[1], d[1])):
        raise ValueError(f"{op}: grad output of shape {gs} does not match input of shape {xs} "
                         f"and weight shape {ws}")
    out = wrap(_conv_w(x.data, gy.data, ws, s, p, d, g), x.dtype)
    node = make_node("Conv2dWeightBackward", _conv2d_weight_rule, [x, gy], [out], (s, p, d, g))
    if node is not None:
        node.save(x)
        node.save(gy)
    return out


def conv2d_fused(x: RTensor, w: RTensor, b: RTensor | None, stride: Sequence[int],
                 padding: Sequence[int], dilation: Sequence[int], groups: int,
                 relu: bool) -> RTensor:
    """relu?(conv2d(x, w) + b[o]): the composition conv2d, add, relu (the C++ backend fuses bias
    and relu into the GEMM's store); b (O,) or None."""
    from fastgrad.reference.ops_elementwise import add
    from fastgrad.reference.ops_elementwise import relu as _relu
    from fastgrad.reference.ops_shape import reshape

    op = "conv2d_fused"
    if b is not None:
        check_same_dtype(op, x, b)
        if len(w.shape) == 4 and tuple(b.shape) != (w.shape[0],):
            raise ValueError(f"{op}: bias of shape {tuple(b.shape)} does not match weight of shape "
                             f"{tuple(w.shape)} (expected ({w.shape[0]},))")
    y = conv2d(x, w, stride, padding, dilation, groups)
    if b is not None:
        y = add(y, reshape(b, [1, -1, 1, 1]))
    return _relu(y) if relu else y
