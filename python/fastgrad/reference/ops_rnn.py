# Fused recurrent-cell gate ops of the reference backend, as in cpp/autograd/ops_rnn.cpp:
# lstm_cell(gates (B, 4H) i f g o, c (B, H)) -> [h | c'] (B, 2H) and gru_cell(xg, hg (B, 3H) r z n,
# h (B, H)) -> h' (B, H). Forward in NumPy; the rules are the vector-Jacobian products written
# with backend ops (so create_graph works), the same formulas as the C++ fused backward.
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastgrad.reference.ops_elementwise import (
    add,
    mul,
    sigmoid,
    sigmoid_backward,
    sub,
    tanh,
    tanh_backward,
)
from fastgrad.reference.ops_shape import cat, slice
from fastgrad.reference.tape import DTYPE_NAMES, FnNode, RTensor, is_floating, make_node

Grads = Sequence[RTensor]


def _check(op: str, name: str, t: RTensor, b: int, width: int, like: RTensor) -> None:
    if t.dtype != like.dtype:
        raise TypeError(f"{op}: {name} is {DTYPE_NAMES[t.dtype]}, expected "
                        f"{DTYPE_NAMES[like.dtype]}")
    if t.ndim != 2 or t.shape != (b, width):
        raise ValueError(f"{op}: expected {name} of shape ({b}, {width}), got {t.shape}")


def _head(op: str, x: RTensor) -> tuple[int, int]:
    if not is_floating(x.dtype):
        raise TypeError(f"{op}: expected floating-point tensors, got {DTYPE_NAMES[x.dtype]}")
    if x.ndim != 2:
        raise ValueError(f"{op}: expected a state of shape (B, H), got {x.shape}")
    return x.shape


def _cols(x: RTensor, k: int, h: int) -> RTensor:
    return slice(x, 1, k * h, (k + 1) * h, 1)


def _sig(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def _lstm_rule(n: FnNode, g: Grads) -> list:
    gates, c = n.saved(0), n.saved(1)
    h = c.shape[1]
    i, f = sigmoid(_cols(gates, 0, h)), sigmoid(_cols(gates, 1, h))
    gg, o = tanh(_cols(gates, 2, h)), sigmoid(_cols(gates, 3, h))
    tc = tanh(add(mul(f, c), mul(i, gg)))
    dh, dc2 = _cols(g[0], 0, h), _cols(g[0], 1, h)
    dct = add(dc2, tanh_backward(mul(dh, o), tc))
    dgates = cat([sigmoid_backward(mul(dct, gg), i), sigmoid_backward(mul(dct, c), f),
                  tanh_backward(mul(dct, i), gg), sigmoid_backward(mul(dh, tc), o)], 1)
    return [dgates, mul(dct, f)]


def lstm_cell(gates: RTensor, c: RTensor) -> RTensor:
    """[h | c'] (B, 2H): c' = sigmoid(f) c + sigmoid(i) tanh(g), h = sigmoid(o) tanh(c')."""
    b, h = _head("lstm_cell", c)
    _check("lstm_cell", "gates", gates, b, 4 * h, c)
    a = gates.data
    i, f, o = _sig(a[:, :h]), _sig(a[:, h:2 * h]), _sig(a[:, 3 * h:])
    c2 = f * c.data + i * np.tanh(a[:, 2 * h:3 * h])
    out = RTensor(np.ascontiguousarray(np.concatenate([o * np.tanh(c2), c2], 1)))
    n = make_node("LstmCellBackward", _lstm_rule, [gates, c], [out])
    if n is not None:
        n.save(gates)
        n.save(c)
    return out


def _gru_rule(n: FnNode, g: Grads) -> list:
    xg, hg, hp = n.saved(0), n.saved(1), n.saved(2)
    h = hp.shape[1]
    r = sigmoid(add(_cols(xg, 0, h), _cols(hg, 0, h)))
    z = sigmoid(add(_cols(xg, 1, h), _cols(hg, 1, h)))
    hn = _cols(hg, 2, h)
    nn = tanh(add(_cols(xg, 2, h), mul(r, hn)))
    dn = tanh_backward(sub(g[0], mul(g[0], z)), nn)
    dz = sigmoid_backward(mul(g[0], sub(hp, nn)), z)
    dr = sigmoid_backward(mul(dn, hn), r)
    return [cat([dr, dz, dn], 1), cat([dr, dz, mul(dn, r)], 1), mul(g[0], z)]


def gru_cell(xg: RTensor, hg: RTensor, h: RTensor) -> RTensor:
    """h' = n + z (h - n), r = sigmoid(xr + hr), z = sigmoid(xz + hz), n = tanh(xn + r hn)."""
    b, hs = _head("gru_cell", h)
    _check("gru_cell", "xg", xg, b, 3 * hs, h)
    _check("gru_cell", "hg", hg, b, 3 * hs, h)
    x, y = xg.data, hg.data
    r = _sig(x[:, :hs] + y[:, :hs])
    z = _sig(x[:, hs:2 * hs] + y[:, hs:2 * hs])
    nn = np.tanh(x[:, 2 * hs:] + r * y[:, 2 * hs:])
    out = RTensor(np.ascontiguousarray(nn + z * (h.data - nn)))
    n = make_node("GruCellBackward", _gru_rule, [xg, hg, h], [out])
    if n is not None:
        n.save(xg)
        n.save(hg)
        n.save(h)
    return out
