"""Recurrent layers RNN, LSTM, GRU and their cells, with torch.nn's arguments, parameter names and
layout (``weight_ih_l0``, ``bias_hh_l1_reverse``, gates i f g o / r z n) so a PyTorch state_dict
loads. Composites: the input projection of all steps is one GEMM, then per step one recurrent GEMM
and the gate math as Tensor ops. Not here: a fused gate kernel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastgrad import _creation
from fastgrad._device import check_device
from fastgrad._dtype import as_dtype, float32
from fastgrad._ops import cat, stack
from fastgrad.nn import functional as F
from fastgrad.nn import init
from fastgrad.nn.module import Module, Parameter
from fastgrad.nn.utils.rnn import PackedSequence, _gather, _np_int, _rows
from fastgrad.tensor import Tensor, _wrap, where

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _const(a: np.ndarray, like: Tensor) -> Tensor:
    return _wrap(like._b.from_numpy(np.ascontiguousarray(a)), like._b)


# --- one step of each cell: x_gates (B, G*H) is x @ W_ih^T + b_ih, already computed -------------
def _rnn_step(xg: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, relu: bool) -> Tensor:
    a = xg + F.linear(h, w_hh, b_hh)
    return a.relu() if relu else a.tanh()


def _lstm_step(xg: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None,
               w_hr: Tensor | None) -> tuple[Tensor, Tensor]:
    n = c.shape[-1]
    g = xg + F.linear(h, w_hh, b_hh)
    fused = getattr(g._b, "lstm_cell", None)
    if fused is not None and g.ndim == 2 and g.dtype is c.dtype:  # one gate kernel
        hc = _wrap(fused(g._impl, c._impl), g._b)
        h2, c2 = hc[:, :n], hc[:, n:]
        return (h2 if w_hr is None else h2 @ w_hr.T), c2
    i = g[..., :n].sigmoid()
    f = g[..., n:2 * n].sigmoid()
    gg = g[..., 2 * n:3 * n].tanh()
    o = g[..., 3 * n:].sigmoid()
    c2 = f * c + i * gg
    h2 = o * c2.tanh()
    if w_hr is not None:
        h2 = h2 @ w_hr.T
    return h2, c2


def _gru_step(xg: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    n = h.shape[-1]
    hg = F.linear(h, w_hh, b_hh)
    fused = getattr(hg._b, "gru_cell", None)
    if fused is not None and hg.ndim == 2 and xg.dtype is h.dtype:  # one gate kernel
        return _wrap(fused(xg._impl, hg._impl, h._impl), hg._b)
    r = (xg[..., :n] + hg[..., :n]).sigmoid()
    z = (xg[..., n:2 * n] + hg[..., n:2 * n]).sigmoid()
    nn_ = (xg[..., 2 * n:] + r * hg[..., 2 * n:]).tanh()
    return nn_ + z * (h - nn_)


class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU: parameters per layer and direction, the layer
    loop, batch_first, bidirectional, dropout between layers, packed and unbatched input."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        check_device(device, name)
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing "
                             f"the probability of an element being zeroed, got {dropout}")
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{name}: hidden_size and num_layers must be positive, got "
                             f"{hidden_size} and {num_layers}")
        if proj_size < 0 or (proj_size and mode != "LSTM"):
            raise ValueError(f"{name}: proj_size must be 0 (or positive for LSTM), got "
                             f"{proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size")
        self.mode, self.input_size, self.hidden_size = mode, int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = int(num_layers), bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        d = as_dtype(dtype or float32)
        dirs = 2 if bidirectional else 1
        real = proj_size or hidden_size
        gate = _GATES[mode] * hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for direction in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                isz = input_size if layer == 0 else real * dirs
                shapes = [("weight_ih", (gate, isz)), ("weight_hh", (gate, real))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for pname, shape in shapes:
                    setattr(self, pname + sfx, Parameter(_creation.empty(*shape, dtype=d)))
                    self._flat_weights_names.append(pname + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Accepted for PyTorch compatibility; the weights are always used as they are."""

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for k, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                           ("bidirectional", False)):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)}"
        return s

    def _params(self, layer: int, direction: int) -> tuple[Any, ...]:
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        g = self.__getattr__
        b_ih = g("bias_ih" + sfx) if self.bias else None
        b_hh = g("bias_hh" + sfx) if self.bias else None
        w_hr = g("weight_hr" + sfx) if self.proj_size else None
        return g("weight_ih" + sfx), g("weight_hh" + sfx), b_ih, b_hh, w_hr

    # --- forward -----------------------------------------------------------------------------
    def _check_hidden(self, h: Tensor, expected: tuple[int, ...], what: str) -> None:
        if tuple(h.shape) != expected:
            raise ValueError(f"{type(self).__name__}: expected {what} size {expected}, got "
                             f"{tuple(h.shape)}")

    def forward(self, input: Any, hx: Any = None) -> Any:
        name = type(self).__name__
        packed = isinstance(input, PackedSequence)
        lstm = self.mode == "LSTM"
        dirs = 2 if self.bidirectional else 1
        real = self.proj_size or self.hidden_size
        mask = None
        if packed:
            x, mask, sorted_idx, unsorted_idx = _packed_to_padded(input)
            batched = True
        else:
            if not isinstance(input, Tensor):
                raise TypeError(f"{name}: expected a Tensor or PackedSequence input, got "
                                f"{type(input).__name__}")
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: expected input to be 2-D or 3-D, got {input.ndim}-D "
                                 f"tensor of shape {tuple(input.shape)}")
            batched = input.ndim == 3
            x = input if batched else input.unsqueeze(1)
            if batched and self.batch_first:
                x = x.transpose(0, 1)
            sorted_idx = unsorted_idx = None
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {x.shape[-1]}")
        b = x.shape[1]
        h0 = c0 = None
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"{name}: hx must be a tuple (h_0, c_0)")
                h0, c0 = hx
            else:
                h0 = hx
            hs = [h0] + ([c0] if lstm else [])
            for k, h in enumerate(hs):
                if not batched:
                    if h.ndim != 2:
                        raise ValueError(f"{name}: for unbatched 2-D input, hx should also be "
                                         f"2-D but got {h.ndim}-D tensor")
                    hs[k] = h.unsqueeze(1)
                elif h.ndim != 3:
                    raise ValueError(f"{name}: for batched 3-D input, hx should also be 3-D but "
                                     f"got {h.ndim}-D tensor")
            hs[0] = _permute_batch(hs[0], sorted_idx)
            self._check_hidden(hs[0], (self.num_layers * dirs, b, real), "hidden")
            if lstm:
                hs[1] = _permute_batch(hs[1], sorted_idx)
                self._check_hidden(hs[1], (self.num_layers * dirs, b, self.hidden_size), "cell")
                c0 = hs[1]
            h0 = hs[0]
        out, hn, cn = self._run(x, h0, c0, mask)
        hn = _permute_batch(hn, unsorted_idx)
        cn = _permute_batch(cn, unsorted_idx) if lstm else None
        if packed:
            output: Any = _padded_to_packed(out, input)
        else:
            if not batched:
                out, hn = out.squeeze(1), hn.squeeze(1)
                cn = cn.squeeze(1) if lstm else None
            elif self.batch_first:
                out = out.transpose(0, 1)
            output = out
        return (output, (hn, cn)) if lstm else (output, hn)

    def _run(self, x: Tensor, h0: Tensor | None, c0: Tensor | None,
             mask: np.ndarray | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """x (T, B, I) -> output (T, B, dirs * H_out), h_n, c_n (L * dirs, B, H)."""
        dirs = 2 if self.bidirectional else 1
        real = self.proj_size or self.hidden_size
        b = x.shape[1]
        zeros_h = zeros_c = None
        if h0 is None:
            zeros_h = _const(np.zeros((b, real), dtype=x.dtype.np), x)
            zeros_c = _const(np.zeros((b, self.hidden_size), dtype=x.dtype.np), x)
        elif c0 is None and self.mode == "LSTM":
            zeros_c = _const(np.zeros((b, self.hidden_size), dtype=x.dtype.np), x)
        masks = None if mask is None else [_const(mask[t][:, None], x) for t in range(mask.shape[0])]
        hns, cns = [], []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(dirs):
                k = layer * dirs + direction
                h = zeros_h if h0 is None else h0[k]
                c = (zeros_c if c0 is None else c0[k]) if self.mode == "LSTM" else None
                o, h, c = self._direction(x, self._params(layer, direction), h, c,
                                          bool(direction), masks)
                outs.append(o)
                hns.append(h)
                cns.append(c)
            x = outs[0] if dirs == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        hn = stack(hns, 0)
        cn = stack(cns, 0) if self.mode == "LSTM" else None
        return x, hn, cn

    def _direction(self, x: Tensor, params: tuple[Any, ...], h: Tensor, c: Tensor | None,
                   reverse: bool, masks: list[Tensor] | None
                   ) -> tuple[Tensor, Tensor, Tensor | None]:
        w_ih, w_hh, b_ih, b_hh, w_hr = params
        t_len, b = x.shape[0], x.shape[1]
        if b_hh is not None and self.mode != "GRU":  # both biases once, not per step
            b_ih, b_hh = b_ih + b_hh, None
        xg = F.linear(x.reshape(t_len * b, x.shape[2]), w_ih, b_ih).reshape(t_len, b, -1)
        outs: list[Tensor] = [None] * t_len  # type: ignore[list-item]
        steps = range(t_len - 1, -1, -1) if reverse else range(t_len)
        xs = _Unbind0.apply(xg)
        for t in steps:
            if self.mode == "LSTM":
                h2, c2 = _lstm_step(xs[t], h, c, w_hh, b_hh, w_hr)  # type: ignore[arg-type]
            elif self.mode == "GRU":
                h2, c2 = _gru_step(xs[t], h, w_hh, b_hh), None
            else:
                h2, c2 = _rnn_step(xs[t], h, w_hh, b_hh, self.mode == "RNN_RELU"), None
            if masks is not None:
                h2 = where(masks[t], h2, h)
                if c2 is not None:
                    c2 = where(masks[t], c2, c)
            outs[t] = h2
            h, c = h2, c2
        return stack(outs, 0), h, c


class _Unbind0:
    """x (T, ...) as T views x[t] whose gradients come back as ONE stack (T slice gradients would
    each be a zero-filled (T, ...) tensor, summed: O(T^2) memory traffic over a sequence)."""

    fn: Any = None

    @classmethod
    def apply(cls, x: Tensor) -> tuple[Tensor, ...]:
        if not x.requires_grad:
            return tuple(x[t] for t in range(x.shape[0]))
        if cls.fn is None:
            from fastgrad.autograd.function import Function

            class Unbind(Function):
                @staticmethod
                def forward(ctx: Any, x: Tensor) -> tuple[Tensor, ...]:
                    ctx.like = x
                    return tuple(x[t] for t in range(x.shape[0]))

                @staticmethod
                def backward(ctx: Any, *grads: Tensor) -> Tensor:
                    like = ctx.like
                    z = None
                    out = []
                    for g in grads:
                        if g is None or g._impl is None:
                            if z is None:
                                z = _const(np.zeros(like.shape[1:], dtype=like.dtype.np), like)
                            g = z
                        out.append(g)
                    return stack(out, 0)

            cls.fn = Unbind
        return cls.fn.apply(x)


def _permute_batch(h: Tensor | None, idx: np.ndarray | None) -> Tensor | None:
    """h (L, B, H) with its batch dim reordered by idx (None: unchanged)."""
    if h is None or idx is None:
        return h
    return h[:, idx]


def _packed_to_padded(p: PackedSequence) -> tuple[Tensor, np.ndarray, Any, Any]:
    """(padded (T, B, *) in sorted order, mask (T, B) of live steps, sorted, unsorted indices)."""
    bs = _np_int(p.batch_sizes)
    b, t = int(bs[0]), int(bs.size)
    mask = np.arange(b)[None, :] < bs[:, None]
    starts = np.concatenate([[0], np.cumsum(bs)[:-1]])
    n = int(bs.sum())
    rows = np.where(mask, starts[:, None] + np.arange(b)[None, :], n)
    mat, _, rest = _rows(p.data)
    pad = _const(np.zeros((1, mat.shape[1]), dtype=mat.dtype.np), mat)
    x = _gather(cat([mat, pad], 0), rows).reshape(t, b, *rest)
    return x, mask, _np_int(p.sorted_indices), _np_int(p.unsorted_indices)


def _padded_to_packed(out: Tensor, like: PackedSequence) -> PackedSequence:
    bs = _np_int(like.batch_sizes)
    b = out.shape[1]
    rows = np.concatenate([s * b + np.arange(n) for s, n in enumerate(bs)])
    mat, _, rest = _rows(out.reshape(out.shape[0] * b, *out.shape[2:]))
    data = _gather(mat, rows).reshape(rows.size, *rest)
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    Shapes: input (T, B, input_size) (batch_first: (B, T, ...); unbatched (T, input_size)), h_0
    (num_layers * dirs, B, hidden_size) -> output (T, B, dirs * hidden_size), h_n. Example:
    ``out, h = nn.RNN(10, 20, 2)(fastgrad.randn(5, 3, 10))``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (use 'tanh' or 'relu')")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, gates i f g o; with ``proj_size`` h is projected by weight_hr.

    Returns ``output, (h_n, c_n)``; h_n (num_layers * dirs, B, proj_size or hidden_size), c_n
    (num_layers * dirs, B, hidden_size). Example: ``out, (h, c) = nn.LSTM(10, 20)(x)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit, gates r z n: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    h' = (1 - z) * n + z * h. Example: ``out, h = nn.GRU(10, 20, batch_first=True)(x)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)


# --- cells -------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """weight_ih (G*H, input_size), weight_hh (G*H, H), bias_ih, bias_hh (G*H,)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        d = as_dtype(dtype or float32)
        g = num_chunks * hidden_size
        self.weight_ih = Parameter(_creation.empty(g, input_size, dtype=d))
        self.weight_hh = Parameter(_creation.empty(g, hidden_size, dtype=d))
        if bias:
            self.bias_ih = Parameter(_creation.empty(g, dtype=d))
            self.bias_hh = Parameter(_creation.empty(g, dtype=d))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        return s

    def _input(self, input: Tensor) -> tuple[Tensor, bool]:
        name = type(self).__name__
        if not isinstance(input, Tensor) or input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got "
                             f"{getattr(input, 'ndim', type(input).__name__)}D instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has inconsistent input_size: got {input.shape[-1]} "
                             f"expected {self.input_size}")
        batched = input.ndim == 2
        return (input if batched else input.unsqueeze(0)), batched

    def _hidden(self, h: Tensor | None, x: Tensor, batched: bool) -> Tensor:
        name = type(self).__name__
        if h is None:
            return _const(np.zeros((x.shape[0], self.hidden_size), dtype=x.dtype.np), x)
        h = h if batched else h.unsqueeze(0)
        if tuple(h.shape) != (x.shape[0], self.hidden_size):
            raise ValueError(f"{name}: hidden of shape {tuple(h.shape)} does not match input "
                             f"batch {x.shape[0]} and hidden_size {self.hidden_size}")
        return h


class RNNCell(RNNCellBase):
    """One step of an Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).
    Example: ``h = nn.RNNCell(10, 20)(x, h)``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._input(input)
        h = self._hidden(hx, x, batched)
        out = _rnn_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh,
                        self.bias_hh, self.nonlinearity == "relu")
        return out if batched else out.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: returns (h', c'). Example: ``h, c = nn.LSTMCell(10, 20)(x, (h, c))``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor]:
        x, batched = self._input(input)
        h0, c0 = (None, None) if hx is None else hx
        h = self._hidden(h0, x, batched)
        c = self._hidden(c0, x, batched)
        h2, c2 = _lstm_step(F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh,
                            self.bias_hh, None)
        return (h2, c2) if batched else (h2.squeeze(0), c2.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step. Example: ``h = nn.GRUCell(10, 20)(x, h)``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._input(input)
        h = self._hidden(hx, x, batched)
        out = _gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh,
                        self.bias_hh)
        return out if batched else out.squeeze(0)


__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]
