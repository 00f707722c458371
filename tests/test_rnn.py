"""RNN, LSTM, GRU, the cells and nn.utils.rnn against PyTorch (float64, same weights via a torch
state_dict): outputs, final states, input and parameter gradients; packed vs padded; both backends;
gradcheck; bad shapes."""

from __future__ import annotations

from typing import Any

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn
from fastgrad.nn.utils import rnn as U

F64 = fastgrad.float64


def _pair(torch: Any, cls: str, *args: Any, **kw: Any) -> tuple[Any, Any]:
    tm = getattr(torch.nn, cls)(*args, dtype=torch.float64, **kw)
    m = getattr(nn, cls)(*args, dtype=F64, **kw)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    m.load_state_dict(tm.state_dict())
    return m, tm


def _close(a: Any, b: Any, tol: float = 1e-10) -> None:
    a = a.detach().numpy() if hasattr(a, "detach") else a
    np.testing.assert_allclose(np.asarray(a), b.detach().numpy(), rtol=tol, atol=tol)


def _flat(out: Any) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def _compare(m: Any, tm: Any, torch: Any, x: np.ndarray, hx: Any, rng: np.random.Generator,
             ) -> None:
    fx = fastgrad.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    if hx is None:
        fo, to = m(fx), tm(tx)
        fh, th = [], []
    else:
        fh = [fastgrad.tensor(h, requires_grad=True) for h in hx]
        th = [torch.tensor(h, requires_grad=True) for h in hx]
        fo = m(fx, tuple(fh) if len(fh) == 2 else fh[0])
        to = tm(tx, tuple(th) if len(th) == 2 else th[0])
    fl, tl = _flat(fo), _flat(to)
    loss_f, loss_t = 0, 0
    for a, b in zip(fl, tl):
        _close(a, b)
        u = rng.standard_normal(b.shape)
        loss_f = loss_f + (a * fastgrad.tensor(u)).sum()
        loss_t = loss_t + (b * torch.tensor(u)).sum()
    loss_f.backward()
    loss_t.backward()
    _close(fx.grad, tx.grad)
    for a, b in zip(fh, th):
        _close(a.grad, b.grad)
    tp = dict(tm.named_parameters())
    for n, p in m.named_parameters():
        _close(p.grad, tp[n].grad)


CONFIGS = [
    ("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 2, "num_layers": 2}), ("LSTM", {"bias": False, "batch_first": True}),
    ("GRU", {}), ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {"bias": False}),
    ("RNN", {}), ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}),
]


@pytest.mark.parametrize(("cls", "kw"), CONFIGS)
@pytest.mark.parametrize("with_hx", [False, True])
def test_recurrent_against_torch(backend: str, rng: np.random.Generator, cls: str, kw: dict,
                                 with_hx: bool) -> None:
    torch = torch_or_skip()
    m, tm = _pair(torch, cls, 3, 4, **kw)
    t, b = 4, 2
    x = rng.standard_normal((b, t, 3) if kw.get("batch_first") else (t, b, 3))
    hx = None
    if with_hx:
        lay = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        hx = [rng.standard_normal((lay, b, kw.get("proj_size") or 4))]
        if cls == "LSTM":
            hx.append(rng.standard_normal((lay, b, 4)))
    _compare(m, tm, torch, x, hx, rng)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_unbatched(backend: str, rng: np.random.Generator, cls: str) -> None:
    torch = torch_or_skip()
    m, tm = _pair(torch, cls, 3, 4, num_layers=2)
    hx = [rng.standard_normal((2, 4))] * (2 if cls == "LSTM" else 1)
    _compare(m, tm, torch, rng.standard_normal((5, 3)), hx, rng)


@pytest.mark.parametrize(("cls", "kw"), [("LSTM", {"bidirectional": True}),
                                         ("GRU", {"num_layers": 2, "bidirectional": True}),
                                         ("LSTM", {"proj_size": 2}), ("RNN", {})])
@pytest.mark.parametrize("with_hx", [False, True])
def test_packed_against_torch(backend: str, rng: np.random.Generator, cls: str, kw: dict,
                              with_hx: bool) -> None:
    torch = torch_or_skip()
    m, tm = _pair(torch, cls, 3, 4, **kw)
    lengths = [2, 4, 1]
    x = rng.standard_normal((4, 3, 3))
    fx = fastgrad.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    fp = U.pack_padded_sequence(fx, lengths, enforce_sorted=False)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, enforce_sorted=False)
    _close(fp.data, tp.data)
    assert fp.batch_sizes.tolist() == tp.batch_sizes.tolist()
    assert fp.sorted_indices.tolist() == tp.sorted_indices.tolist()
    assert fp.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    args_f, args_t = [fp], [tp]
    if with_hx:
        lay = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        hs = [rng.standard_normal((lay, 3, kw.get("proj_size") or 4))]
        if cls == "LSTM":
            hs.append(rng.standard_normal((lay, 3, 4)))
        fh = [fastgrad.tensor(h) for h in hs]
        th = [torch.tensor(h) for h in hs]
        args_f.append(tuple(fh) if cls == "LSTM" else fh[0])
        args_t.append(tuple(th) if cls == "LSTM" else th[0])
    fo, fs = m(*args_f)
    to, ts = tm(*args_t)
    assert isinstance(fo, U.PackedSequence)
    _close(fo.data, to.data)
    for a, b in zip(_flat(fs), _flat(ts)):
        _close(a, b)
    fpad, flen = U.pad_packed_sequence(fo, batch_first=True, padding_value=-1.0)
    tpad, tlen = torch.nn.utils.rnn.pad_packed_sequence(to, batch_first=True, padding_value=-1.0)
    _close(fpad, tpad)
    assert flen.tolist() == tlen.tolist()
    u = rng.standard_normal(tpad.shape)
    (fpad * fastgrad.tensor(u)).sum().backward()
    (tpad * torch.tensor(u)).sum().backward()
    _close(fx.grad, tx.grad)
    tparams = dict(tm.named_parameters())
    for n, p in m.named_parameters():
        _close(p.grad, tparams[n].grad)


def test_packed_equals_padded_per_sequence(backend: str, rng: np.random.Generator) -> None:
    """Each sequence of a packed batch gives what it gives alone."""
    m = nn.GRU(2, 3, bidirectional=True, dtype=F64)
    seqs = [fastgrad.tensor(rng.standard_normal((n, 2))) for n in (3, 1, 2)]
    out, h = m(U.pack_sequence(seqs, enforce_sorted=False))
    pad, _lengths = U.pad_packed_sequence(out)
    for i, s in enumerate(seqs):
        o1, h1 = m(s)
        np.testing.assert_allclose(pad[: s.shape[0], i].detach().numpy(), o1.detach().numpy(),
                                   atol=1e-12)
        np.testing.assert_allclose(h[:, i].detach().numpy(), h1.detach().numpy(), atol=1e-12)


def test_utils_against_torch(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    tU = torch.nn.utils.rnn
    raw = [rng.standard_normal((n, 2)) for n in (3, 1, 4)]
    fs = [fastgrad.tensor(a, requires_grad=True) for a in raw]
    ts = [torch.tensor(a, requires_grad=True) for a in raw]
    for kw in ({}, {"batch_first": True, "padding_value": 2.0}, {"padding_side": "left"}):
        _close(U.pad_sequence(fs, **kw), tU.pad_sequence(ts, **kw))
    fp = U.pack_sequence(fs, enforce_sorted=False)
    tp = tU.pack_sequence(ts, enforce_sorted=False)
    _close(fp.data, tp.data)
    u = rng.standard_normal(tp.data.shape)
    (fp.data * fastgrad.tensor(u)).sum().backward()
    (tp.data * torch.tensor(u)).sum().backward()
    for a, b in zip(fs, ts):
        _close(a.grad, b.grad)
    pad, lengths = U.pad_packed_sequence(fp, total_length=6)
    assert pad.shape == (6, 3, 2) and lengths.tolist() == [3, 1, 4]
    back = U.unpack_sequence(fp)
    for a, b in zip(back, raw):
        np.testing.assert_allclose(a.detach().numpy(), b)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        U.pack_sequence(fs)
    with pytest.raises(ValueError, match="total_length"):
        U.pad_packed_sequence(fp, total_length=2)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_against_torch(backend: str, rng: np.random.Generator, cls: str) -> None:
    torch = torch_or_skip()
    m, tm = _pair(torch, cls, 3, 4)
    n = 2 if cls == "LSTMCell" else 1
    _compare(m, tm, torch, rng.standard_normal((2, 3)), [rng.standard_normal((2, 4))] * n, rng)
    _compare(m, tm, torch, rng.standard_normal((3,)), [rng.standard_normal((4,))] * n, rng)
    _compare(m, tm, torch, rng.standard_normal((2, 3)), None, rng)


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_gradcheck(backend: str, rng: np.random.Generator, cls: str) -> None:
    m = getattr(nn, cls)(2, 2, bidirectional=True, dtype=F64)
    x = fastgrad.tensor(rng.standard_normal((3, 1, 2)), requires_grad=True)
    w = m.weight_hh_l0_reverse
    assert fastgrad.gradcheck(lambda x, w: m(x)[0], (x, w))


def test_backends_agree(rng: np.random.Generator) -> None:
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("no C++ backend")
    x = rng.standard_normal((3, 2, 2))
    res = {}
    for b in ("python", "cpp"):
        fastgrad.set_backend(b)
        try:
            fastgrad.manual_seed(3)
            m = nn.LSTM(2, 3, num_layers=2, dtype=F64)
            xt = fastgrad.tensor(x, requires_grad=True)
            out, (_h, c) = m(xt)
            (out.sum() + c.sum()).backward()
            res[b] = [out.detach().numpy(), xt.grad.numpy(), m.weight_ih_l1.grad.numpy()]
        finally:
            fastgrad.set_backend("cpp")
    for a, c in zip(res["cpp"], res["python"]):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def test_dropout_between_layers_and_misc(backend: str) -> None:
    m = nn.LSTM(2, 3, num_layers=2, dropout=0.5)
    m.flatten_parameters()
    x = fastgrad.randn(4, 2, 2)
    assert m(x)[0].shape == (4, 2, 3)
    m.eval()
    a, b = m(x)[0], m(x)[0]
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert len(m.all_weights) == 2 and len(m.all_weights[0]) == 4
    bound = 1 / np.sqrt(3)
    assert all(np.abs(p.detach().numpy()).max() <= bound for p in m.parameters())
    assert nn.GRU(2, 3, dtype=F64).weight_ih_l0.dtype is F64


def test_errors(backend: str) -> None:
    m = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match="input_size"):
        m(fastgrad.randn(2, 1, 5))
    with pytest.raises(ValueError, match="2-D or 3-D"):
        m(fastgrad.randn(2, 1, 1, 3))
    with pytest.raises(ValueError, match="hidden"):
        m(fastgrad.randn(2, 1, 3), (fastgrad.randn(1, 2, 4), fastgrad.randn(1, 2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        m(fastgrad.randn(2, 3), (fastgrad.randn(1, 1, 4), fastgrad.randn(1, 1, 4)))
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="input_size"):
        nn.GRUCell(3, 4)(fastgrad.randn(2, 2))


def test_lstm_demo_runs() -> None:
    """``python -m fastgrad.demo --model lstm`` trains a few steps and samples (subprocess)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("tqdm", reason="tqdm is not installed")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(fastgrad.__file__).parent.parent),
                                         env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    backend = "cpp" if "cpp" in fastgrad._backend.available() else "python"
    cmd = [sys.executable, "-m", "fastgrad.demo", "--model", "lstm", "--steps", "2",
           "--hidden", "16", "--seq-len", "8", "--batch-size", "4", "--threads", "1",
           "--backend", backend, "--samples", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "validation perplexity" in r.stdout and "samples:" in r.stdout
    assert "Beautiful is better" not in r.stdout  # the corpus is read, not printed


# --- the fused gate primitives (op table family "rnn") ------------------------------------------
def _cell_inputs(rng: np.random.Generator, kind: str, b: int = 3, h: int = 4) -> list[np.ndarray]:
    if kind == "lstm_cell":
        return [rng.standard_normal((b, 4 * h)), rng.standard_normal((b, h))]
    return [rng.standard_normal((b, 3 * h)), rng.standard_normal((b, 3 * h)),
            rng.standard_normal((b, h))]


def _cell_composite(kind: str, ts: list) -> Any:
    """The same math from Tensor ops (what nn/rnn.py does without the primitive)."""
    if kind == "lstm_cell":
        g, c = ts
        n = c.shape[1]
        i, f = g[:, :n].sigmoid(), g[:, n:2 * n].sigmoid()
        gg, o = g[:, 2 * n:3 * n].tanh(), g[:, 3 * n:].sigmoid()
        c2 = f * c + i * gg
        return fastgrad.cat([o * c2.tanh(), c2], 1)
    xg, hg, h = ts
    n = h.shape[1]
    r = (xg[:, :n] + hg[:, :n]).sigmoid()
    z = (xg[:, n:2 * n] + hg[:, n:2 * n]).sigmoid()
    nn_ = (xg[:, 2 * n:] + r * hg[:, 2 * n:]).tanh()
    return nn_ + z * (h - nn_)


@pytest.mark.parametrize("kind", ["lstm_cell", "gru_cell"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gate_primitive_matches_composite(backend: str, rng: np.random.Generator, kind: str,
                                          dtype: str) -> None:
    arrs = [a.astype(dtype) for a in _cell_inputs(rng, kind)]
    tol = 1e-5 if dtype == "float32" else 1e-12
    outs, grads = [], []
    for fused in (True, False):
        ts = [fastgrad.tensor(a, requires_grad=True) for a in arrs]
        y = _wrap_prim(kind, ts) if fused else _cell_composite(kind, ts)
        if fused:
            u = fastgrad.tensor(rng.standard_normal(y.shape).astype(dtype))
        (y * u).sum().backward()
        outs.append(y.detach().numpy())
        grads.append([t.grad.numpy() for t in ts])
    np.testing.assert_allclose(outs[0], outs[1], rtol=tol, atol=tol)
    for a, c in zip(grads[0], grads[1]):
        np.testing.assert_allclose(a, c, rtol=tol, atol=tol)


def _wrap_prim(kind: str, ts: list) -> Any:
    from fastgrad.tensor import _wrap

    b = ts[0]._b
    return _wrap(getattr(b, kind)(*[t._impl for t in ts]), b)


@pytest.mark.parametrize("kind", ["lstm_cell", "gru_cell"])
def test_gate_primitive_gradcheck_and_second_order(backend: str, rng: np.random.Generator,
                                                   kind: str) -> None:
    ts = [fastgrad.tensor(a, requires_grad=True) for a in _cell_inputs(rng, kind, 2, 2)]
    assert fastgrad.gradcheck(lambda *xs: _wrap_prim(kind, list(xs)), ts)
    assert fastgrad.gradgradcheck(lambda *xs: _wrap_prim(kind, list(xs)), ts)


def test_gate_primitive_backends_agree(rng: np.random.Generator) -> None:
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("no C++ backend")
    for kind in ("lstm_cell", "gru_cell"):
        arrs = _cell_inputs(rng, kind)
        res = {}
        for name in ("cpp", "python"):
            fastgrad.set_backend(name)
            try:
                ts = [fastgrad.tensor(a, requires_grad=True) for a in arrs]
                y = _wrap_prim(kind, ts)
                (y * y).sum().backward()
                res[name] = [y.detach().numpy()] + [t.grad.numpy() for t in ts]
            finally:
                fastgrad.set_backend("cpp")
        for a, c in zip(res["cpp"], res["python"]):
            np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def test_gate_primitive_errors(backend: str) -> None:
    b = fastgrad.zeros(1)._b
    g, c = fastgrad.zeros(2, 8, dtype=F64), fastgrad.zeros(2, 2, dtype=F64)
    with pytest.raises(ValueError, match="lstm_cell"):
        b.lstm_cell(g._impl, fastgrad.zeros(2, 3, dtype=F64)._impl)
    with pytest.raises(TypeError, match="lstm_cell"):
        b.lstm_cell(fastgrad.zeros(2, 8)._impl, c._impl)
    with pytest.raises(ValueError, match="gru_cell"):
        b.gru_cell(fastgrad.zeros(2, 6, dtype=F64)._impl, fastgrad.zeros(2, 5, dtype=F64)._impl,
                   c._impl)
