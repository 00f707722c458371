"""scaled_dot_product_attention, MultiheadAttention, the Transformer layers and the activations
GELU SiLU Mish Softplus Hardtanh Hardswish Softsign against PyTorch (float64, same weights via a
torch state_dict): outputs and gradients; both backends; gradcheck; bad shapes and masks."""

from __future__ import annotations

from typing import Any

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn
from fastgrad.nn import functional as F

F64 = fastgrad.float64


def _close(a: Any, b: Any, tol: float = 1e-10) -> None:
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)


def _both(torch: Any, arrays: list, grad: bool = True) -> tuple[list, list]:
    f = [fastgrad.tensor(a, requires_grad=grad) if a.dtype != bool else fastgrad.tensor(a)
         for a in arrays]
    t = [torch.tensor(a, requires_grad=grad) if a.dtype != bool else torch.tensor(a)
         for a in arrays]
    return f, t


def _backward_and_compare(fo: Any, to: Any, fins: list, tins: list, torch: Any,
                          rng: np.random.Generator) -> None:
    _close(fo, to)
    u = rng.standard_normal(to.shape)
    (fo * fastgrad.tensor(u)).sum().backward()
    (to * torch.tensor(u)).sum().backward()
    for a, b in zip(fins, tins):
        if b.requires_grad:
            _close(a.grad, b.grad)


MASKS = ["none", "bool", "float", "causal", "scale", "gqa"]


@pytest.mark.parametrize("mask", MASKS)
def test_sdpa_against_torch(backend: str, rng: np.random.Generator, mask: str) -> None:
    torch = torch_or_skip()
    hk = 1 if mask == "gqa" else 2
    q = rng.standard_normal((2, 2, 3, 4))
    k = rng.standard_normal((2, hk, 5, 4))
    v = rng.standard_normal((2, hk, 5, 3))
    (fq, fk, fv), (tq, tk, tv) = _both(torch, [q, k, v])
    kw: dict = {}
    if mask == "bool":
        m = rng.random((3, 5)) > 0.3
        m[:, 0] = True
        kw["attn_mask"] = m
    elif mask == "float":
        kw["attn_mask"] = rng.standard_normal((2, 1, 3, 5))
    elif mask == "causal":
        kw["is_causal"] = True
    elif mask == "scale":
        kw["scale"] = 0.3
    elif mask == "gqa":
        kw["enable_gqa"] = True
    fkw = {k_: (fastgrad.tensor(v_) if isinstance(v_, np.ndarray) else v_) for k_, v_ in kw.items()}
    tkw = {k_: (torch.tensor(v_) if isinstance(v_, np.ndarray) else v_) for k_, v_ in kw.items()}
    fo = F.scaled_dot_product_attention(fq, fk, fv, **fkw)
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    _backward_and_compare(fo, to, [fq, fk, fv], [tq, tk, tv], torch, rng)


def test_sdpa_gradcheck_and_errors(backend: str, rng: np.random.Generator) -> None:
    q = fastgrad.tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    k = fastgrad.tensor(rng.standard_normal((2, 4, 2)), requires_grad=True)
    v = fastgrad.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    assert fastgrad.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=fastgrad.tensor([[True, True, False, True]])), (q, k, v))
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(q, k[..., :1], v)
    with pytest.raises(ValueError, match="attn_mask"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=fastgrad.ones(3, 5).bool())
    with pytest.raises(ValueError, match="is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=fastgrad.ones(3, 4), is_causal=True)


MHA_CASES = [
    ({}, "self", {}), ({"batch_first": True}, "cross", {"key_padding_mask": "bool"}),
    ({"kdim": 3, "vdim": 5}, "cross", {"attn_mask": "float2"}),
    ({"bias": False}, "self", {"attn_mask": "bool3", "average_attn_weights": False}),
    ({"add_bias_kv": True}, "cross", {"key_padding_mask": "bool", "attn_mask": "bool2"}),
    ({"add_zero_attn": True}, "self", {"key_padding_mask": "float"}),
    ({}, "unbatched", {"need_weights": False}),
]


@pytest.mark.parametrize(("ctor", "kind", "fwd"), MHA_CASES)
def test_mha_against_torch(backend: str, rng: np.random.Generator, ctor: dict, kind: str,
                           fwd: dict) -> None:
    torch = torch_or_skip()
    e, h, n, lq, s = 8, 2, 2, 3, 4
    tm = torch.nn.MultiheadAttention(e, h, dtype=torch.float64, **ctor)
    m = nn.MultiheadAttention(e, h, dtype=F64, **ctor)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict(tm.state_dict())
    bf = ctor.get("batch_first", False)
    kd, vd = ctor.get("kdim", e), ctor.get("vdim", e)

    def shp(length: int, d: int) -> tuple[int, ...]:
        if kind == "unbatched":
            return (length, d)
        return (n, length, d) if bf else (length, n, d)

    if kind == "self" or kind == "unbatched":
        s = lq
        x = rng.standard_normal(shp(lq, e))
        (fx,), (tx,) = _both(torch, [x])
        fargs, targs, fins, tins = [fx, fx, fx], [tx, tx, tx], [fx], [tx]
    else:
        arrs = [rng.standard_normal(shp(lq, e)), rng.standard_normal(shp(s, kd)),
                rng.standard_normal(shp(s, vd))]
        fins, tins = _both(torch, arrs)
        fargs, targs = fins, tins
    fkw: dict = {}
    tkw: dict = {}
    for name, what in fwd.items():
        if isinstance(what, bool):
            fkw[name] = tkw[name] = what
            continue
        if name == "key_padding_mask":
            a = rng.random((n, s)) > 0.6 if what == "bool" else rng.standard_normal((n, s))
            if what == "bool":
                a[:, 0] = False
        elif what == "float2":
            a = rng.standard_normal((lq, s))
        elif what == "bool2":
            a = rng.random((lq, s)) > 0.6
            a[:, 0] = False
        else:  # bool3
            a = rng.random((n * h, lq, s)) > 0.6
            a[:, :, 0] = False
        fkw[name], tkw[name] = fastgrad.tensor(a), torch.tensor(a)
    fo, fw = m(*fargs, **fkw)
    to, tw = tm(*targs, **tkw)
    if tw is None:
        assert fw is None
    else:
        _close(fw, tw)
    _backward_and_compare(fo, to, fins, tins, torch, rng)
    tp = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        _close(p.grad, tp[name].grad)


def _layer_pair(torch: Any, cls: str, *args: Any, **kw: Any) -> tuple[Any, Any]:
    tkw = dict(kw)
    if kw.get("activation") == "gelu_fn":
        kw["activation"], tkw["activation"] = F.gelu, torch.nn.functional.gelu
    tm = getattr(torch.nn, cls)(*args, dtype=torch.float64, **tkw).eval()
    m = getattr(nn, cls)(*args, dtype=F64, **kw).eval()
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict(tm.state_dict())
    return m, tm


@pytest.mark.parametrize("kw", [{}, {"norm_first": True, "activation": "gelu"},
                                {"batch_first": True, "activation": "gelu_fn"}])
def test_encoder_decoder_layers_against_torch(backend: str, rng: np.random.Generator,
                                              kw: dict) -> None:
    torch = torch_or_skip()
    bf = kw.get("batch_first", False)
    m, tm = _layer_pair(torch, "TransformerEncoderLayer", 8, 2, 16, **kw)
    x = rng.standard_normal((2, 4, 8) if bf else (4, 2, 8))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    fmask = nn.Transformer.generate_square_subsequent_mask(4, dtype=F64)
    _close(fmask, mask)
    kpm = np.where([[False, False, True, False], [False, True, False, False]], -np.inf, 0.0)
    (fx,), (tx,) = _both(torch, [x])
    fo = m(fx, src_mask=fmask, src_key_padding_mask=fastgrad.tensor(kpm))
    to = tm(tx, src_mask=mask, src_key_padding_mask=torch.tensor(kpm))
    _backward_and_compare(fo, to, [fx], [tx], torch, rng)
    d, td = _layer_pair(torch, "TransformerDecoderLayer", 8, 2, 16, **kw)
    y = rng.standard_normal((2, 3, 8) if bf else (3, 2, 8))
    (fy, fx), (ty, tx) = _both(torch, [y, x])
    fo = d(fy, fx, tgt_mask=nn.Transformer.generate_square_subsequent_mask(3, dtype=F64),
           memory_key_padding_mask=fastgrad.tensor(kpm))
    to = td(ty, tx, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(
        3, dtype=torch.float64), memory_key_padding_mask=torch.tensor(kpm))
    _backward_and_compare(fo, to, [fy, fx], [ty, tx], torch, rng)
    tp = dict(td.named_parameters())
    for name, p in d.named_parameters():
        _close(p.grad, tp[name].grad)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor:UserWarning")
def test_transformer_against_torch(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    kw = {"d_model": 8, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 1,
          "dim_feedforward": 12}
    m, tm = _layer_pair(torch, "Transformer", **kw)
    params = dict(m.named_parameters())
    assert params["encoder.layers.0.linear1.weight"] is not params["encoder.layers.1.linear1.weight"]
    (fs, ft), (ts, tt) = _both(torch, [rng.standard_normal((4, 2, 8)),
                                       rng.standard_normal((3, 2, 8))])
    fo = m(fs, ft, tgt_mask=m.generate_square_subsequent_mask(3, dtype=F64))
    to = tm(ts, tt, tgt_mask=tm.generate_square_subsequent_mask(3, dtype=torch.float64))
    _backward_and_compare(fo, to, [fs, ft], [ts, tt], torch, rng)
    tp = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        _close(p.grad, tp[name].grad)
    with pytest.raises(RuntimeError, match="batch"):
        m(fs, ft[:, :1])
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 12, dtype=F64), 2,
                                norm=None).eval()
    assert enc(fs).shape == (4, 2, 8)


def test_backends_agree(rng: np.random.Generator) -> None:
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("no C++ backend")
    x = rng.standard_normal((3, 2, 8))
    res = {}
    for b in ("python", "cpp"):
        fastgrad.set_backend(b)
        try:
            fastgrad.manual_seed(5)
            m = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, dtype=F64)
            xt = fastgrad.tensor(x, requires_grad=True)
            y = m(xt, is_causal=True)
            y.sum().backward()
            res[b] = [y.detach().numpy(), xt.grad.numpy()]
        finally:
            fastgrad.set_backend("cpp")
    for a, c in zip(res["cpp"], res["python"]):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-10)


def test_mha_gradcheck_and_errors(backend: str, rng: np.random.Generator) -> None:
    m = nn.MultiheadAttention(4, 2, dtype=F64)
    x = fastgrad.tensor(rng.standard_normal((3, 1, 4)), requires_grad=True)
    assert fastgrad.gradcheck(lambda x: m(x, x, x)[0], (x,))
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(5, 2)
    with pytest.raises(ValueError, match="embedding dimension"):
        m(fastgrad.randn(3, 1, 5, dtype=F64), x, x)
    with pytest.raises(ValueError, match="attn_mask"):
        m(x, x, x, attn_mask=fastgrad.ones(2, 3).bool())
    with pytest.raises(ValueError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=fastgrad.ones(1, 2).bool())
    with pytest.raises(TypeError, match="attn_mask"):
        m(x, x, x, attn_mask=fastgrad.tensor([[1, 0, 0]] * 3))


ACTS = [("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Mish", {}),
        ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 3.0}),
        ("Hardtanh", {"min_val": -0.5, "max_val": 1.2}), ("Hardswish", {}), ("Softsign", {})]


@pytest.mark.parametrize(("cls", "kw"), ACTS)
def test_activations_against_torch(backend: str, rng: np.random.Generator, cls: str,
                                   kw: dict) -> None:
    torch = torch_or_skip()
    a = rng.standard_normal((3, 5)) * 3
    a = np.where(np.abs(np.abs(a) - 3) < 0.05, 2.5, a)  # away from Hardswish's kinks
    a = np.where(np.abs(a - 1.2) < 0.05, 1.0, a)
    a = np.where(np.abs(a + 0.5) < 0.05, -0.7, a)
    a[0, :2] = [40.0, -40.0]
    (fx,), (tx,) = _both(torch, [a])
    _backward_and_compare(getattr(nn, cls)(**kw)(fx), getattr(torch.nn, cls)(**kw)(tx),
                          [fx], [tx], torch, rng)
    g = fastgrad.tensor(rng.standard_normal(4) * 0.8 + 0.1, requires_grad=True)
    assert fastgrad.gradcheck(getattr(nn, cls)(**kw), (g,))


# --- the blocked attention primitive -----------------------------------------------------------
def _composite_sdpa(q: Any, k: Any, v: Any, mask: Any, causal: bool, scale: float) -> Any:
    w = (q * scale) @ k.transpose(-2, -1)
    if mask is not None:
        w = w + mask
    if causal:
        lq, s = q.shape[-2], k.shape[-2]
        w = w + fastgrad.tensor(np.triu(np.full((lq, s), -np.inf), 1), dtype=q.dtype)
    return w.softmax(-1) @ v


@pytest.mark.parametrize(("lq", "s", "case"), [(5, 7, "plain"), (70, 300, "causal"),
                                               (70, 300, "mask"), (3, 2, "mask_bcast")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocked_attention_matches_composite(backend: str, rng: np.random.Generator, lq: int,
                                             s: int, case: str, dtype: str) -> None:
    """Sizes across the kernel's blocks (64 queries, 256 keys); forward and gradients."""
    arrs = [rng.standard_normal((1, 2, lq, 4)), rng.standard_normal((1, 2, s, 4)),
            rng.standard_normal((1, 2, s, 3))]
    mask = None
    if case == "mask":
        mask = rng.standard_normal((1, 2, lq, s))
    elif case == "mask_bcast":
        mask = rng.standard_normal((lq, 1))
    tol = 2e-5 if dtype == "float32" else 1e-11
    res = []
    u = rng.standard_normal((1, 2, lq, 3))
    for fused in (True, False):
        ts = [fastgrad.tensor(a.astype(dtype), requires_grad=True) for a in arrs]
        m = None if mask is None else fastgrad.tensor(mask.astype(dtype))
        causal = case == "causal"
        if fused:
            y = F.scaled_dot_product_attention(*ts, attn_mask=m, is_causal=causal, scale=0.7)
        else:
            y = _composite_sdpa(*ts, m, causal, 0.7)
        (y * fastgrad.tensor(u.astype(dtype))).sum().backward()
        res.append([y.detach().numpy()] + [t.grad.numpy() for t in ts])
    for a, c in zip(*res):
        np.testing.assert_allclose(a, c, rtol=tol, atol=tol)


def test_blocked_attention_second_order_and_mask_grad(backend: str,
                                                      rng: np.random.Generator) -> None:
    ts = [fastgrad.tensor(rng.standard_normal((1, 1, 3, 2)), requires_grad=True)
          for _ in range(3)]
    f = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert fastgrad.gradgradcheck(f, ts)
    m = fastgrad.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    assert fastgrad.gradcheck(lambda m: F.scaled_dot_product_attention(*ts, attn_mask=m), (m,))


def test_blocked_attention_backends_agree(rng: np.random.Generator) -> None:
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("no C++ backend")
    arrs = [rng.standard_normal((2, 2, 9, 4)) for _ in range(3)]
    res = {}
    for name in ("cpp", "python"):
        fastgrad.set_backend(name)
        try:
            ts = [fastgrad.tensor(a, requires_grad=True) for a in arrs]
            y = F.scaled_dot_product_attention(*ts, is_causal=True)
            (y * y).sum().backward()
            res[name] = [y.detach().numpy()] + [t.grad.numpy() for t in ts]
        finally:
            fastgrad.set_backend("cpp")
    for a, c in zip(res["cpp"], res["python"]):
        np.testing.assert_allclose(a, c, rtol=1e-11, atol=1e-11)
