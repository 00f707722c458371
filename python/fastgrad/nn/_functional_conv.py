"""Convolution, padding and pooling functionals (re-exported by ``fastgrad.nn.functional``).

Convolutions call the backend primitives ``conv2d`` / ``conv_transpose2d`` (1-D as 2-D with a unit
dim; bias and ``'same'`` padding here). Padding and pooling are composites of Tensor ops (``cat``,
advanced indexing, ``take``, ``amax``), so both backends differentiate them to any order. Names,
arguments and output sizes follow torch.nn.functional. Not here: normalization (normalization.py).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastgrad._random import _rng
from fastgrad.tensor import Tensor, _wrap

_Size = Any  # int or tuple of ints


def _t(x: Any, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")


def _ntuple(op: str, name: str, v: _Size, n: int) -> tuple[int, ...]:
    """v as a tuple of n ints (an int repeats)."""
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    t = tuple(int(a) for a in v)
    if len(t) == 1 and n > 1:
        t = t * n
    if len(t) != n:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


def _const(x: Tensor, shape: Sequence[int], value: float) -> Tensor:
    """A constant tensor on x's backend, of x's dtype."""
    return _wrap(x._b.full(list(shape), float(value), x._impl.dtype), x._b)


def _check_float_pair(op: str, x: Tensor, w: Tensor) -> None:
    x._same_backend(w)
    if x.dtype != w.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} and weight dtype {w.dtype} differ")
    if not x.is_floating_point():
        raise TypeError(f"{op}: expected floating-point tensors, got {x.dtype}")


# --- convolution ------------------------------------------------------------------------------
def _conv_operands(op: str, nd: int, input: Tensor, weight: Tensor,
                   layout: str) -> tuple[Tensor, Tensor]:
    """Input and weight of a convolution (or its transpose) checked: floating, of one dtype, the
    input (N, C, *spatial) or unbatched (C, *spatial), the weight (layout, *kernel_size)."""
    x = _t(input, op)
    w = _t(weight, op)
    _check_float_pair(op, x, w)
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got shape {x.shape}")
    if w.ndim != nd + 2:
        raise ValueError(f"{op}: expected a {nd + 2}-D weight ({layout}, *kernel_size), got shape "
                         f"{w.shape}")
    return x, w


def _conv(op: str, nd: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: _Size,
          padding: _Size | str, dilation: _Size, groups: int, _relu: bool = False) -> Tensor:
    """The convolution of F.conv1d / F.conv2d; with a bias or ``_relu`` (nn.intrinsic's
    ConvReLU) one ``conv2d_fused`` primitive: bias and ReLU applied as the GEMM stores the output."""
    x, w = _conv_operands(op, nd, input, weight, "out_channels, in_channels/groups")
    groups = int(groups)
    if groups <= 0:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    s = _ntuple(op, "stride", stride, nd)
    d = _ntuple(op, "dilation", dilation, nd)
    k = tuple(w.shape[2:])
    if w.shape[0] % groups or x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} and weight of shape "
                         f"{w.shape} with groups={groups} do not match (expected "
                         f"{w.shape[1] * groups} input channels and out channels divisible by "
                         f"groups)")
    if isinstance(padding, str):
        if padding == "valid":
            p = (0,) * nd
        elif padding == "same":
            if any(v != 1 for v in s):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride {s})")
            total = [di * (ki - 1) for di, ki in zip(d, k)]
            p = tuple(t // 2 for t in total)
            extra = [t - 2 * (t // 2) for t in total]  # 1 more on the right for an odd total
            if any(extra):
                pads: list[int] = []
                for e in reversed(extra):
                    pads += [0, e]
                x = pad(x, pads)
        else:
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a tuple, got "
                             f"{padding!r}")
    else:
        p = _ntuple(op, "padding", padding, nd)
    if min(s) <= 0 or min(d) <= 0 or min(p) < 0:
        raise ValueError(f"{op}: stride and dilation must be positive and padding non-negative, "
                         f"got stride={s}, padding={p}, dilation={d}")
    for i in range(nd):
        if x.shape[2 + i] + 2 * p[i] < d[i] * (k[i] - 1) + 1:
            raise ValueError(f"{op}: input of shape {tuple(input.shape)} padded by {p} is smaller "
                             f"than the kernel {k} with dilation {d}")
    if bias is not None:
        bias = _t(bias, op)
        _check_float_pair(op, x, bias)
        if tuple(bias.shape) != (w.shape[0],):
            raise ValueError(f"{op}: bias of shape {bias.shape} does not match weight of shape "
                             f"{weight.shape} (expected ({w.shape[0]},))")
    if nd == 1:
        x, w = x.unsqueeze(2), w.unsqueeze(2)
        s, p, d = (1, *s), (0, *p), (1, *d)
    if bias is not None or _relu:
        y = _wrap(x._b.conv2d_fused(x._impl, w._impl, None if bias is None else bias._impl,
                                    list(s), list(p), list(d), groups, bool(_relu)), x._b)
    else:
        y = _wrap(x._b.conv2d(x._impl, w._impl, list(s), list(p), list(d), groups), x._b)
    if nd == 1:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: _Size = 1,
           padding: _Size | str = 0, dilation: _Size = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch).

    Shapes: input (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in/groups, kH, kW), bias
    (C_out,) -> (N, C_out, H_out, W_out) with H_out = (H + 2p - d(kH-1) - 1) // s + 1.
    padding: int, tuple, 'valid' or 'same' (stride 1). Example:
    ``F.conv2d(fastgrad.randn(1, 3, 8, 8), fastgrad.randn(4, 3, 3, 3), padding=1).shape
    == (1, 4, 8, 8)``.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: _Size = 1,
           padding: _Size | str = 0, dilation: _Size = 1, groups: int = 1) -> Tensor:
    """1-D convolution: input (N, C_in, L) or (C_in, L), weight (C_out, C_in/groups, k) ->
    (N, C_out, L_out). Example: ``F.conv1d(x, w, padding='same')``."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op: str, nd: int, input: Tensor, weight: Tensor, bias: Tensor | None,
                    stride: _Size, padding: _Size, output_padding: _Size, groups: int,
                    dilation: _Size) -> Tensor:
    x, w = _conv_operands(op, nd, input, weight, "in_channels, out_channels/groups")
    groups = int(groups)
    if groups <= 0 or w.shape[0] % groups:
        raise ValueError(f"{op}: groups={groups} must be positive and divide the weight's "
                         f"in_channels {w.shape[0]}")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has {x.shape[1]} channels, "
                         f"weight of shape {w.shape} expects {w.shape[0]}")
    s = _ntuple(op, "stride", stride, nd)
    p = _ntuple(op, "padding", padding, nd)
    op_ = _ntuple(op, "output_padding", output_padding, nd)
    d = _ntuple(op, "dilation", dilation, nd)
    if min(s) <= 0 or min(d) <= 0 or min(p) < 0 or min(op_) < 0:
        raise ValueError(f"{op}: stride and dilation must be positive, padding and "
                         f"output_padding non-negative, got stride={s}, padding={p}, "
                         f"output_padding={op_}, dilation={d}")
    if any(o >= si for o, si in zip(op_, s)):
        raise ValueError(f"{op}: output_padding {op_} must be smaller than stride {s}")
    k = tuple(w.shape[2:])
    out = [(x.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op_[i] + 1
           for i in range(nd)]
    if min(out) <= 0:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} gives a non-positive output "
                         f"size {tuple(out)}")
    if nd == 1:
        x, w = x.unsqueeze(2), w.unsqueeze(2)
        s, p, d, out = (1, *s), (0, *p), (1, *d), [1, *out]
    y = _wrap(x._b.conv_transpose2d(x._impl, w._impl, list(s), list(p), list(d), groups, out),
              x._b)
    if nd == 1:
        y = y.squeeze(2)
    if bias is not None:
        _check_float_pair(op, y, bias)
        c_out = w.shape[1] * groups
        if tuple(bias.shape) != (c_out,):
            raise ValueError(f"{op}: bias of shape {bias.shape} does not match {c_out} output "
                             f"channels")
        y = y + bias.reshape((-1,) + (1,) * nd)
    return y.squeeze(0) if unbatched else y


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: _Size = 1, padding: _Size = 0, output_padding: _Size = 0,
                     groups: int = 1, dilation: _Size = 1) -> Tensor:
    """2-D transposed convolution (the gradient of conv2d w.r.t. its input).

    Shapes: input (N, C_in, H, W), weight (C_in, C_out/groups, kH, kW) -> (N, C_out, H_out, W_out),
    H_out = (H - 1)s - 2p + d(kH - 1) + output_padding + 1.
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: _Size = 1, padding: _Size = 0, output_padding: _Size = 0,
                     groups: int = 1, dilation: _Size = 1) -> Tensor:
    """1-D transposed convolution: input (N, C_in, L), weight (C_in, C_out/groups, k)."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


# --- padding ----------------------------------------------------------------------------------
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """Pads the last len(pad)//2 dims: pad = (left_last, right_last, left_prev, right_prev, ...).

    mode: 'constant' (value, default 0; negative pads crop), 'reflect' (pads < the dim's size),
    'replicate', 'circular' (pads <= the dim's size). Example:
    ``F.pad(x, (1, 1), mode='reflect')``.
    """
    x = _t(input, "pad")
    pads = [int(v) for v in pad]
    if len(pads) % 2 or len(pads) // 2 > x.ndim:
        raise ValueError(f"pad: padding length {len(pads)} must be even and at most twice the "
                         f"input's {x.ndim} dims (input shape {x.shape})")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    if mode != "constant" and value not in (None, 0, 0.0):
        raise ValueError(f"pad: padding value {value} only applies to mode 'constant'")
    for i in range(len(pads) // 2):
        dim = x.ndim - 1 - i
        left, right = pads[2 * i], pads[2 * i + 1]
        n = x.shape[dim]
        if left == 0 and right == 0:
            continue
        if mode == "constant":
            if left < 0 or right < 0:
                idx = [slice(None)] * x.ndim
                idx[dim] = slice(max(-left, 0), n - max(-right, 0))
                x = x[tuple(idx)]
                left, right = max(left, 0), max(right, 0)
            parts = []
            for m in (left, right):
                shp = list(x.shape)
                shp[dim] = m
                parts.append(_const(x, shp, 0.0 if value is None else value) if m else None)
            seq = [t for t in (parts[0], x, parts[1]) if t is not None]
            x = seq[0] if len(seq) == 1 else _cat(seq, dim)
            continue
        if left < 0 or right < 0:
            raise ValueError(f"pad: negative padding {pads} is supported for mode 'constant' "
                             f"only")
        if mode == "reflect" and (left >= n or right >= n):
            raise ValueError(f"pad: reflect padding ({left}, {right}) must be smaller than the "
                             f"padded dim's size {n} (input shape {tuple(input.shape)})")
        if mode == "circular" and (left > n or right > n):
            raise ValueError(f"pad: circular padding ({left}, {right}) must be at most the padded "
                             f"dim's size {n} (input shape {tuple(input.shape)})")
        if n == 0:
            raise ValueError(f"pad: cannot {mode}-pad an empty dim (input shape {x.shape})")
        pos = np.arange(-left, n + right)
        if mode == "reflect":
            pos = np.abs(pos)
            pos = np.where(pos > n - 1, 2 * (n - 1) - pos, pos)
        elif mode == "replicate":
            pos = np.clip(pos, 0, n - 1)
        else:
            pos = pos % n
        x = _index_dim(x, dim, pos)
    return x


def _cat(ts: list[Tensor], dim: int) -> Tensor:
    b = ts[0]._b
    return _wrap(b.cat([t._impl for t in ts], int(dim)), b)


def _index_dim(x: Tensor, dim: int, pos: np.ndarray) -> Tensor:
    """x with dim `dim` replaced by x's entries at pos (a gather, differentiable)."""
    shape = x.shape
    inner = math.prod(shape[dim + 1:])
    outer = math.prod(shape[:dim])
    n = shape[dim]
    flat = (np.arange(outer)[:, None, None] * (n * inner) + pos[None, :, None] * inner
            + np.arange(inner)[None, None, :])
    out_shape = (*shape[:dim], len(pos), *shape[dim + 1:])
    return _take(x.reshape(-1), flat.reshape(out_shape))


def _take(x: Tensor, pos: np.ndarray) -> Tensor:
    """x.flat[pos] as a Tensor of pos's shape (x read in C order; differentiable)."""
    b = x._b
    return _wrap(b.take(x._impl, b.from_numpy(np.ascontiguousarray(pos, dtype=np.int64))), b)


# --- pooling ----------------------------------------------------------------------------------
def _pool_out(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:  # the last window must start inside input or left pad
        out -= 1
    return out


def _windows(sizes: Sequence[int], k: Sequence[int], s: Sequence[int], p: Sequence[int],
             d: Sequence[int], ceil_mode: bool) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Per output position, the flat in-plane positions of its window and a validity mask.

    Returns pos (*out, K) int64 (invalid taps point at position prod(sizes), an extra element),
    valid (*out, K) bool and the output sizes.
    """
    axes_pos = []
    axes_ok = []
    outs = []
    for n, ki, si, pi, di in zip(sizes, k, s, p, d):
        o = _pool_out(n, ki, si, pi, di, ceil_mode)
        outs.append(o)
        q = np.arange(o)[:, None] * si - pi + np.arange(ki)[None, :] * di  # (o, k)
        axes_pos.append(q)
        axes_ok.append((q >= 0) & (q < n))
    if len(sizes) == 1:
        pos, ok = axes_pos[0], axes_ok[0]
    else:
        (qh, qw), (vh, vw) = axes_pos, axes_ok
        w = sizes[1]
        outs = [max(o, 0) for o in outs]
        qh, vh, qw, vw = qh[:outs[0]], vh[:outs[0]], qw[:outs[1]], vw[:outs[1]]
        pos = (qh[:, None, :, None] * w + qw[None, :, None, :])  # (oh, ow, kh, kw)
        ok = vh[:, None, :, None] & vw[None, :, None, :]
        pos = pos.reshape(outs[0], outs[1], k[0] * k[1])
        ok = ok.reshape(outs[0], outs[1], k[0] * k[1])
    total = math.prod(sizes)
    return np.where(ok, pos, total).astype(np.int64), ok, outs


def _gather_windows(x: Tensor, nd: int, pos: np.ndarray, fill: float) -> Tensor:
    """(B, *out, K): x (B, *sizes) at each window's taps, `fill` at invalid taps (pos == total)."""
    b = x.shape[0]
    total = math.prod(x.shape[1:])
    flat = x.reshape(b, total)
    flat = _cat([flat, _const(x, (b, 1), fill)], 1)
    rows = np.arange(b).reshape((b,) + (1,) * pos.ndim) * (total + 1)
    return _take(flat.reshape(-1), rows + pos[None])


def _pool_input(op: str, input: Tensor, nd: int) -> tuple[Tensor, tuple[int, ...], bool]:
    """input as (N*C, *spatial), its leading shape, and whether it is unbatched."""
    x = _t(input, op)
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got shape {x.shape}")
    if not x.is_floating_point():
        raise TypeError(f"{op}: expected a floating-point input, got {x.dtype}")
    lead = tuple(x.shape[:-nd])
    if any(v == 0 for v in x.shape[-nd:]):
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial dim")
    return x.reshape((math.prod(lead), *x.shape[-nd:])), lead, x.ndim == nd + 1


def _pool_args(op: str, nd: int, kernel_size: _Size, stride: _Size | None, padding: _Size,
               dilation: _Size) -> tuple[tuple[int, ...], ...]:
    k = _ntuple(op, "kernel_size", kernel_size, nd)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _ntuple(op, "stride", stride, nd)
    p = _ntuple(op, "padding", padding, nd)
    d = _ntuple(op, "dilation", dilation, nd)
    if min(k) <= 0 or min(s) <= 0 or min(d) <= 0:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be positive, got "
                         f"kernel_size={k}, stride={s}, dilation={d}")
    if any(pi < 0 or 2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{op}: padding {p} must be non-negative and at most half the kernel "
                         f"size {k}")
    return k, s, p, d


def _max_pool(op: str, nd: int, input: Tensor, kernel_size: _Size, stride: _Size | None,
              padding: _Size, dilation: _Size, ceil_mode: bool,
              return_indices: bool) -> Any:
    x, lead, _ = _pool_input(op, input, nd)
    k, s, p, d = _pool_args(op, nd, kernel_size, stride, padding, dilation)
    sizes = tuple(x.shape[1:])
    outs = [_pool_out(n, ki, si, pi, di, ceil_mode) for n, ki, si, pi, di in zip(sizes, k, s, p, d)]
    if min(outs) <= 0:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} is too small for "
                         f"kernel_size={k}, padding={p}, dilation={d} (output size {outs})")
    if nd == 1:  # as 2-D with a unit row
        k, s, p, d, outs, sizes = (1, *k), (1, *s), (0, *p), (1, *d), [1, *outs], (1, *sizes)
    b = x._b
    vals, pos = b.max_pool2d(x.reshape(x.shape[0], 1, *sizes)._impl, list(k), list(s), list(p),
                             list(d), list(outs))
    y = _wrap(vals, b).reshape((*lead, *outs[2 - nd:]))
    if not return_indices:
        return y
    # positions index the whole (B, *sizes) input: subtract each plane's start
    plane = math.prod(sizes)
    at = (b.to_numpy(pos).reshape(x.shape[0], math.prod(outs))
          - (np.arange(x.shape[0]) * plane)[:, None])
    idx = _wrap(b.from_numpy(np.ascontiguousarray(at.reshape(*lead, *outs[2 - nd:]))), b)
    return y, idx


def max_pool2d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """2-D max pooling over (N, C, H, W) or (C, H, W); -inf padding. With return_indices, also
    the flat index h * W + w of each maximum in its input plane (int64). Example:
    ``F.max_pool2d(x, 2)``."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """1-D max pooling over (N, C, L) or (C, L)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def _avg_pool(op: str, nd: int, input: Tensor, kernel_size: _Size, stride: _Size | None,
              padding: _Size, ceil_mode: bool, count_include_pad: bool,
              divisor_override: int | None) -> Tensor:
    x, lead, _ = _pool_input(op, input, nd)
    k, s, p, d = _pool_args(op, nd, kernel_size, stride, padding, 1)
    sizes = tuple(x.shape[1:])
    pos, ok, outs = _windows(sizes, k, s, p, d, ceil_mode)
    if min(outs) <= 0:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} is too small for "
                         f"kernel_size={k}, padding={p} (output size {outs})")
    total = _gather_windows(x, nd, pos, 0.0).sum(dim=-1)
    if divisor_override is not None:
        if int(divisor_override) == 0:
            raise ValueError(f"{op}: divisor_override must be non-zero")
        div = np.full(outs, float(divisor_override))
    elif count_include_pad:
        # taps inside the padded input (input plus padding), not those past it (ceil_mode)
        cnt = np.ones(outs)
        for a, (n, ki, si, pi) in enumerate(zip(sizes, k, s, p)):
            start = np.arange(outs[a]) * si - pi
            end = np.minimum(start + ki, n + pi)
            shape = [1] * nd
            shape[a] = outs[a]
            cnt = cnt * (end - start).reshape(shape)
        div = cnt
    else:
        div = ok.sum(-1).astype(float)
    y = total / _wrap(x._b.from_numpy(np.ascontiguousarray(div, dtype=x.dtype.np)), x._b)
    return y.reshape((*lead, *outs))


def avg_pool2d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,
               padding: _Size = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2-D average pooling over (N, C, H, W) or (C, H, W). Example: ``F.avg_pool2d(x, 2)``."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,
               padding: _Size = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L)."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def _adaptive_bounds(n: int, o: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(o)
    return (i * n) // o, -((-(i + 1) * n) // o)


def _adaptive_sizes(op: str, nd: int, output_size: Any, sizes: Sequence[int]) -> list[int]:
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    out = list(output_size)
    if len(out) != nd:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {nd}, got "
                         f"{output_size!r}")
    out = [sizes[i] if v is None else int(v) for i, v in enumerate(out)]
    if min(out) <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {tuple(out)}")
    return out


def _adaptive_avg(op: str, nd: int, input: Tensor, output_size: Any) -> Tensor:
    x, lead, _ = _pool_input(op, input, nd)
    sizes = tuple(x.shape[1:])
    outs = _adaptive_sizes(op, nd, output_size, sizes)
    y = x
    for a in range(nd):  # one averaging matrix per spatial dim: y = A_h x A_w^T
        n, o = sizes[a], outs[a]
        lo, hi = _adaptive_bounds(n, o)
        j = np.arange(n)
        m = ((j[None, :] >= lo[:, None]) & (j[None, :] < hi[:, None])) / (hi - lo)[:, None]
        mt = _wrap(x._b.from_numpy(np.ascontiguousarray(m.T, dtype=x.dtype.np)), x._b)  # (n, o)
        dim = 1 + a
        perm = [i for i in range(nd + 1) if i != dim] + [dim]
        inv = list(np.argsort(perm))
        y = (y.permute(*perm) @ mt).permute(*inv)
    return y.reshape((*lead, *outs))


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size (H_out, W_out), windows as PyTorch's
    [floor(i*H/H_out), ceil((i+1)*H/H_out))."""
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling of (N, C, L) to a fixed length."""
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def _adaptive_max(op: str, nd: int, input: Tensor, output_size: Any,
                  return_indices: bool) -> Any:
    x, lead, _ = _pool_input(op, input, nd)
    sizes = tuple(x.shape[1:])
    outs = _adaptive_sizes(op, nd, output_size, sizes)
    axes_pos, axes_ok = [], []
    for n, o in zip(sizes, outs):
        lo, hi = _adaptive_bounds(n, o)
        kmax = int((hi - lo).max())
        q = lo[:, None] + np.arange(kmax)[None, :]
        axes_pos.append(q)
        axes_ok.append(q < hi[:, None])
    if nd == 1:
        pos, ok = axes_pos[0], axes_ok[0]
    else:
        (qh, qw), (vh, vw) = axes_pos, axes_ok
        pos = (qh[:, None, :, None] * sizes[1] + qw[None, :, None, :]).reshape(*outs, -1)
        ok = (vh[:, None, :, None] & vw[None, :, None, :]).reshape(*outs, -1)
    pos = np.where(ok, pos, math.prod(sizes)).astype(np.int64)
    win = _gather_windows(x, nd, pos, -math.inf)
    kk = pos.shape[-1]
    arg = win.detach().argmax(dim=-1).numpy()
    rows = np.arange(arg.size).reshape(arg.shape) * kk
    y = _take(win.reshape(-1), rows + arg).reshape((*lead, *outs))
    if not return_indices:
        return y
    plane = np.take_along_axis(np.broadcast_to(pos, arg.shape + (kk,)), arg[..., None], -1)
    idx = _wrap(x._b.from_numpy(np.ascontiguousarray(plane[..., 0].reshape(*lead, *outs))), x._b)
    return y, idx


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling to a fixed output size (H_out, W_out)."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of (N, C, L) to a fixed length."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)



# --- normalization ----------------------------------------------------------------------------
def _moments(x: Tensor, dims: list[int]) -> tuple[Tensor, Tensor]:
    """Mean and biased variance over dims, kept as size-1 dims."""
    mean = x.mean(dims, keepdim=True)
    d = x - mean
    return mean, (d * d).mean(dims, keepdim=True)


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple) -> Tensor:
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _check_vec(op: str, name: str, t: Tensor | None, c: int, x: Tensor) -> None:
    if t is not None and tuple(t.shape) != (c,):
        raise ValueError(f"{op}: {name} of shape {t.shape} does not match {c} channels of input "
                         f"of shape {x.shape}")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalizes each channel (dim 1) of (N, C, *) over all other dims.

    training: batch statistics, and running_mean / running_var (when given) updated in place as
    (1 - momentum) * running + momentum * batch (the variance unbiased); else the running
    statistics. Example: ``F.batch_norm(x, rm, rv, training=True)``.
    """
    x = _t(input, "batch_norm")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dims (N, C, *), got shape "
                         f"{x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_vec("batch_norm", name, t, c, x)
    dims = [0, *range(2, x.ndim)]
    shape = (1, c) + (1,) * (x.ndim - 2)
    if training:
        n = x.shape[0] * math.prod(x.shape[2:])  # values per channel
        if n == 1 or (n == 0 and not _fused_bn_ok(x, weight, bias)):
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input of shape {x.shape}")
        if _fused_bn_ok(x, weight, bias):
            return _fused_batch_norm(x, running_mean, running_var, weight, bias, n, momentum, eps)
        # two passes over x for the statistics, two for y = d * scale + shift (scale and shift
        # per channel), so the graph holds few full-size tensors
        mean = x.mean(dims, keepdim=True)
        d = x - mean
        var = (d * d).mean(dims, keepdim=True)
        if running_mean is not None or running_var is not None:
            from fastgrad.autograd.grad_mode import no_grad

            with no_grad():
                m = float(momentum)
                if running_mean is not None:
                    running_mean.copy_(running_mean * (1 - m) + mean.reshape(c).detach() * m)
                if running_var is not None:
                    unbiased = var.reshape(c).detach() * (n / (n - 1))
                    running_var.copy_(running_var * (1 - m) + unbiased * m)
        scale = 1.0 / (var + eps).sqrt()
        if weight is not None:
            scale = scale * weight.reshape(shape)
        y = d * scale
        return y if bias is None else y + bias.reshape(shape)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are needed when not training")
    scale = 1.0 / (running_var.reshape(shape) + eps).sqrt()
    if weight is not None:
        scale = scale * weight.reshape(shape)
    shift = -running_mean.reshape(shape) * scale
    if bias is not None:
        shift = shift + bias.reshape(shape)
    return x * scale + shift


# --- h11-bn: the fused batch_norm_train primitive for the training path -----------------------
def _fused_bn_ok(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> bool:
    """Whether the fused primitive takes this call: floating input, weight and bias of its dtype
    (otherwise the composite below promotes dtypes as the Tensor ops do)."""
    return (x.is_floating_point() and hasattr(x._b, "batch_norm_train")
            and all(t is None or t.dtype is x.dtype for t in (weight, bias)))


def _fused_batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                      weight: Tensor | None, bias: Tensor | None, n: int, momentum: float,
                      eps: float) -> Tensor:
    """Training-mode batch_norm through the fused primitive: y, and the running statistics updated
    from the batch's mean and invstd as the composite does (unbiased variance). A zero-size batch
    (n == 0) gives an empty y and leaves the running statistics alone, as PyTorch does."""
    b = x._b
    y, mean, invstd = b.batch_norm_train(x._impl, None if weight is None else weight._impl,
                                         None if bias is None else bias._impl, float(eps))
    if n > 0 and (running_mean is not None or running_var is not None):
        from fastgrad.autograd.grad_mode import no_grad

        with no_grad():
            m = float(momentum)
            if running_mean is not None:
                running_mean.copy_(running_mean * (1 - m) + _wrap(mean, b) * m)
            if running_var is not None:
                iv = _wrap(invstd, b).double()
                var = (1.0 / (iv * iv) - float(eps)).to(x.dtype)
                running_var.copy_(running_var * (1 - m) + var * (n / (n - 1)) * m)
    return _wrap(y, b)


def layer_norm(input: Tensor, normalized_shape: Sequence[int] | int,
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalizes over the last len(normalized_shape) dims (biased variance), then
    * weight + bias (both of normalized_shape). Example: ``F.layer_norm(x, (16,))``."""
    x = _t(input, "layer_norm")
    ns = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else \
        tuple(int(v) for v in normalized_shape)
    k = len(ns)
    if k == 0 or tuple(x.shape[x.ndim - k:]) != ns or x.ndim < k:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end with "
                         f"normalized_shape {ns}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != ns:
            raise ValueError(f"layer_norm: {name} of shape {t.shape} does not match "
                             f"normalized_shape {ns}")
    mean, var = _moments(x, list(range(x.ndim - k, x.ndim)))
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalizes (N, C, *) over each group of C / num_groups channels and all spatial dims,
    then a per-channel affine. Example: ``F.group_norm(x, 2)``."""
    x = _t(input, "group_norm")
    if x.ndim < 2 or num_groups <= 0 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm: input of shape {x.shape} needs at least 2 dims and "
                         f"channels divisible by num_groups={num_groups}")
    c = x.shape[1]
    for name, t in (("weight", weight), ("bias", bias)):
        _check_vec("group_norm", name, t, c, x)
    n = x.shape[0]
    xg = x.reshape(n, num_groups, (c // num_groups) * math.prod(x.shape[2:]))
    mean, var = _moments(xg, [2])
    y = ((xg - mean) / (var + eps).sqrt()).reshape(x.shape)
    return _affine(y, weight, bias, (1, c) + (1,) * (x.ndim - 2))


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalizes each (sample, channel) of (N, C, *) over its spatial dims. With
    use_input_stats and running statistics given, these are updated with the mean over the batch
    of the instance statistics (variance unbiased); without use_input_stats they are used."""
    x = _t(input, "instance_norm")
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected an input (N, C, *) with spatial dims, got "
                         f"shape {x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_vec("instance_norm", name, t, c, x)
    shape = (1, c) + (1,) * (x.ndim - 2)
    dims = list(range(2, x.ndim))
    if use_input_stats:
        n = math.prod(x.shape[2:])
        if n <= 1:
            raise ValueError(f"instance_norm: expected more than 1 spatial element per channel "
                             f"when using input statistics, got input of shape {x.shape}")
        mean, var = _moments(x, dims)
        if running_mean is not None or running_var is not None:
            from fastgrad.autograd.grad_mode import no_grad

            with no_grad():
                m = float(momentum)
                if running_mean is not None:
                    bm = mean.detach().mean([0]).reshape(c)
                    running_mean.copy_(running_mean * (1 - m) + bm * m)
                if running_var is not None:
                    bv = (var.detach() * (n / (n - 1))).mean([0]).reshape(c)
                    running_var.copy_(running_var * (1 - m) + bv * m)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: running statistics are needed without "
                             "use_input_stats")
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    y = (x - mean) / (var + eps).sqrt()
    return _affine(y, weight, bias, shape)



# --- channel dropout, resampling, unfold / fold -------------------------------------------------
def _channel_dropout(op: str, input: Tensor, p: float, training: bool, spatial: int) -> Tensor:
    x = _t(input, op)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability has to be between 0 and 1, but got {p}")
    legacy = spatial == 2 and x.ndim == 2  # dropout2d of an (N, C) input
    if legacy:  # PyTorch warns and drops whole rows, as if (C, L) were an unbatched 3-D input
        warnings.warn(f"{op}: Received a 2-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and "
                      "silence this warning, please use dropout instead.", stacklevel=3)
    elif x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D "
                         f"(batched) input, got shape {x.shape}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    if legacy:
        shape: tuple[int, ...] = (x.shape[0], 1)
    else:
        shape = tuple(x.shape[:x.ndim - spatial]) + (1,) * spatial
    keep = _rng().random(shape) >= p
    mask = (keep / (1.0 - p)).astype(x.dtype.np)
    return x * _wrap(x._b.from_numpy(mask), x._b)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, L) or (C, L) with probability p, scales the rest by
    1/(1-p) (training only)."""
    return _channel_dropout("dropout1d", input, p, training, 1)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) with probability p, scales the rest
    by 1/(1-p) (training only)."""
    return _channel_dropout("dropout2d", input, p, training, 2)


def _resample_dim(x: Tensor, dim: int, out: int, mode: str, align_corners: bool,
                  scale: float | None) -> Tensor:
    """x resampled along dim to `out` points; scale: 1/scale_factor when given, else in/out."""
    n = x.shape[dim]
    ratio = n / out if scale is None else scale
    j = np.arange(out)
    if mode == "nearest":
        return _index_dim(x, dim, np.minimum(np.floor(j * ratio).astype(np.int64), n - 1))
    if align_corners:
        src = j * ((n - 1) / (out - 1)) if out > 1 else np.zeros(out)
    else:
        src = np.maximum((j + 0.5) * ratio - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    shape = [1] * x.ndim
    shape[dim] = out
    w1 = _wrap(x._b.from_numpy(np.ascontiguousarray(lam.reshape(shape), dtype=x.dtype.np)),
               x._b)
    return _index_dim(x, dim, i0) * (1.0 - w1) + _index_dim(x, dim, i1) * w1


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None) -> Tensor:
    """Resizes the spatial dims of (N, C, L) or (N, C, H, W): mode 'nearest', 'linear' (3-D) or
    'bilinear' (4-D), align_corners as PyTorch (default False). Give size or scale_factor.
    Example: ``F.interpolate(x, scale_factor=2, mode='bilinear')``."""
    x = _t(input, "interpolate")
    modes = {"nearest": (3, 4), "linear": (3,), "bilinear": (4,)}
    if mode not in modes:
        raise ValueError(f"interpolate: mode must be one of {tuple(modes)}, got {mode!r}")
    if x.ndim not in modes[mode]:
        raise ValueError(f"interpolate: mode {mode!r} expects a {modes[mode]}-D input, got shape "
                         f"{x.shape}")
    if not x.is_floating_point():
        raise TypeError(f"interpolate: expected a floating-point input, got {x.dtype}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to 'linear' and 'bilinear'")
    nd = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        outs = list(_ntuple("interpolate", "size", size, nd))
        scales: list[float | None] = [None] * nd
    else:
        sf = [float(v) for v in ((scale_factor,) * nd if isinstance(scale_factor, (int, float))
                                 else scale_factor)]
        if len(sf) != nd or min(sf) <= 0:
            raise ValueError(f"interpolate: scale_factor must be positive, one per spatial dim, "
                             f"got {scale_factor!r}")
        outs = [math.floor(n * f) for n, f in zip(x.shape[2:], sf)]
        scales = [None if recompute_scale_factor else 1.0 / f for f in sf]
    if min(outs) <= 0:
        raise ValueError(f"interpolate: output size {tuple(outs)} must be positive (input shape "
                         f"{x.shape})")
    m = "nearest" if mode == "nearest" else "linear"
    for a in range(nd):
        x = _resample_dim(x, 2 + a, outs[a], m, bool(align_corners), scales[a])
    return x


def _one_hot_taps(x: Tensor, c: int, k: tuple[int, int]) -> Tensor:
    """(c * kh * kw, 1, kh, kw) weights: output channel (ch, i, j) picks tap (i, j)."""
    kk = k[0] * k[1]
    e = np.zeros((c * kk, 1, k[0], k[1]), dtype=x.dtype.np)
    e.reshape(c, kk, kk)[:, np.arange(kk), np.arange(kk)] = 1.0
    return _wrap(x._b.from_numpy(e), x._b)


def unfold(input: Tensor, kernel_size: _Size, dilation: _Size = 1, padding: _Size = 0,
           stride: _Size = 1) -> Tensor:
    """Sliding local blocks (im2col): (N, C, H, W) -> (N, C * kh * kw, L), L the number of
    block positions; the row order is (c, i, j) as PyTorch. Example: ``F.unfold(x, 3)``."""
    x = _t(input, "unfold")
    if x.ndim not in (3, 4):
        raise ValueError(f"unfold: expected a 3-D (unbatched) or 4-D input, got shape {x.shape}")
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    k = _ntuple("unfold", "kernel_size", kernel_size, 2)
    c = x.shape[1]
    y = conv2d(x, _one_hot_taps(x, c, k), None, stride, padding, dilation, groups=c)
    y = y.reshape(y.shape[0], y.shape[1], y.shape[2] * y.shape[3])
    return y.squeeze(0) if unbatched else y


def fold(input: Tensor, output_size: _Size, kernel_size: _Size, dilation: _Size = 1,
         padding: _Size = 0, stride: _Size = 1) -> Tensor:
    """The adjoint of unfold (col2im, overlaps summed): (N, C * kh * kw, L) -> (N, C, *output_size).
    Example: ``F.fold(F.unfold(x, 2, stride=2), x.shape[2:], 2, stride=2)`` gives x back."""
    x = _t(input, "fold")
    if x.ndim not in (2, 3):
        raise ValueError(f"fold: expected a 2-D (unbatched) or 3-D input, got shape {x.shape}")
    unbatched = x.ndim == 2
    if unbatched:
        x = x.unsqueeze(0)
    o = _ntuple("fold", "output_size", output_size, 2)
    k = _ntuple("fold", "kernel_size", kernel_size, 2)
    d = _ntuple("fold", "dilation", dilation, 2)
    p = _ntuple("fold", "padding", padding, 2)
    s = _ntuple("fold", "stride", stride, 2)
    kk = k[0] * k[1]
    blocks = [(o[a] + 2 * p[a] - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(2)]
    if x.shape[1] % kk or min(blocks) <= 0 or x.shape[2] != blocks[0] * blocks[1]:
        raise ValueError(f"fold: input of shape {tuple(input.shape)} does not match "
                         f"kernel_size={k} and output_size={o}: expected C * {kk} rows and "
                         f"{max(blocks[0], 0) * max(blocks[1], 0)} blocks")
    c = x.shape[1] // kk
    cols = x.reshape(x.shape[0], c * kk, blocks[0], blocks[1])
    b = x._b
    y = _wrap(b.conv_transpose2d(cols._impl, _one_hot_taps(x, c, k)._impl, list(s), list(p),
                                 list(d), c, list(o)), b)
    return y.squeeze(0) if unbatched else y


__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "dropout1d",
    "dropout2d",
    "fold",
    "group_norm",
    "instance_norm",
    "interpolate",
    "layer_norm",
    "max_pool1d",
    "max_pool2d",
    "pad",
    "unfold",
]
