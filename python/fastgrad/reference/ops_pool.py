# Max pooling of the reference backend in NumPy: max_pool2d returns the window maxima and the flat
# positions of their first arguments in x; the rule is put_add of g at those positions, as in
# cpp/autograd/ops_pool.cpp. Output sizes (ceil_mode) and 1-D pooling are the Python layer's.
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastgrad.reference.ops_index import put_add
from fastgrad.reference.tape import INT64, FnNode, RTensor, check_float, make_node, wrap

Grads = Sequence[RTensor]


def _max_pool2d_rule(n: FnNode, g: Grads) -> list:
    return [put_add(g[0], n.saved(0), n.input_meta[0][0])]


def max_pool2d(x: RTensor, kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
               dilation: Sequence[int], output_size: Sequence[int]) -> tuple[RTensor, RTensor]:
    """x (N, C, H, W) -> (values, positions into x.flat), both (N, C, *output_size)."""
    op = "max_pool2d"
    check_float(op, x)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    k, s, p, d, o = (tuple(int(v) for v in a)
                     for a in (kernel, stride, padding, dilation, output_size))
    if any(len(t) != 2 for t in (k, s, p, d, o)):
        raise ValueError(f"{op}: kernel, stride, padding, dilation and output size must have 2 "
                         "values each")
    n, c, h, w = x.shape
    if h == 0 or w == 0:
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial dim")
    for a, size in enumerate((h, w)):
        if min(k[a], s[a], d[a]) <= 0 or p[a] < 0 or 2 * p[a] > k[a] or o[a] < 0:
            raise ValueError(f"{op}: bad window for input of shape {x.shape}: kernel {k}, "
                             f"stride {s}, padding {p}, dilation {d}")
        if o[a] and not ((o[a] - 1) * s[a] - p[a] < size
                         and (o[a] - 1) * s[a] - p[a] + (k[a] - 1) * d[a] >= 0):
            raise ValueError(f"{op}: output size {o} does not fit input of shape {x.shape}")
    qh = np.arange(o[0])[:, None] * s[0] - p[0] + np.arange(k[0])[None, :] * d[0]  # (OH, KH)
    qw = np.arange(o[1])[:, None] * s[1] - p[1] + np.arange(k[1])[None, :] * d[1]  # (OW, KW)
    ok = ((qh >= 0) & (qh < h))[:, None, :, None] & ((qw >= 0) & (qw < w))[None, :, None, :]
    pos = (np.clip(qh, 0, h - 1)[:, None, :, None] * w
           + np.clip(qw, 0, w - 1)[None, :, None, :]).reshape(o[0], o[1], -1)
    ok = ok.reshape(o[0], o[1], -1)
    planes = x.data.reshape(n * c, h * w)
    win = planes[:, pos]  # (NC, OH, OW, K)
    win = np.where(ok[None], win, -np.inf)
    arg = np.argmax(win, axis=-1)  # the first maximum; a NaN wins (np.argmax)
    vals = np.take_along_axis(win, arg[..., None], -1)[..., 0]
    at = np.take_along_axis(np.broadcast_to(pos, win.shape), arg[..., None], -1)[..., 0]
    at = at + (np.arange(n * c) * (h * w))[:, None, None]
    out = wrap(vals.reshape(n, c, o[0], o[1]), x.dtype)
    idx = wrap(at.reshape(n, c, o[0], o[1]), INT64)
    node = make_node("MaxPool2DBackward", _max_pool2d_rule, [x], [out])
    if node is not None:
        node.save(idx)
    return out, idx
