"""MultiheadAttention and the Transformer layers (encoder/decoder layer, stacks, Transformer), with
torch.nn's arguments, parameter names and state_dict keys. Composites of Tensor ops (batched
GEMMs, softmax; scaled_dot_product_attention takes the blocked attention kernel where it can),
normalized by nn.LayerNorm.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fastgrad import _creation
from fastgrad._device import check_device
from fastgrad._dtype import as_dtype, bool_, float32
from fastgrad._ops import cat
from fastgrad.nn import functional as F
from fastgrad.nn import init
from fastgrad.nn.layers import Dropout, Linear, ModuleList
from fastgrad.nn.module import Module, Parameter
from fastgrad.nn.normalization import LayerNorm
from fastgrad.tensor import Tensor, _wrap


def _const(a: np.ndarray, like: Tensor) -> Tensor:
    return _wrap(like._b.from_numpy(np.ascontiguousarray(a)), like._b)


# --- layer norm (private; see the module docstring) ----------------------------------------------
# --- attention -----------------------------------------------------------------------------------
def _additive(op: str, mask: Any, like: Tensor, name: str) -> Tensor:
    """A bool mask (True: masked out, MultiheadAttention's convention) or a float one (added)."""
    if not isinstance(mask, Tensor):
        mask = _const(np.asarray(mask), like)
    if mask.dtype is bool_:
        return _const(np.where(np.asarray(mask.numpy()), -np.inf, 0.0).astype(like.dtype.np),
                      like)
    if not mask.is_floating_point():
        raise TypeError(f"{op}: only bool and floating types of {name} are supported, got "
                        f"{mask.dtype.name}")
    return mask if mask.dtype is like.dtype else mask.astype(like.dtype)


class NonDynamicallyQuantizableLinear(Linear):
    """The Linear of MultiheadAttention.out_proj (PyTorch's class name, no other difference)."""


class MultiheadAttention(Module):
    """Attention over num_heads heads of embed_dim // num_heads: softmax(q k^T / sqrt(d)) v.

    Shapes: query (L, N, E) (batch_first: (N, L, E); unbatched (L, E)), key (S, N, kdim), value
    (S, N, vdim); key_padding_mask (N, S) (True: ignore the key); attn_mask (L, S) or
    (N * num_heads, L, S) (bool True: not allowed, or float added). Returns (output (L, N, E),
    weights (N, L, S) averaged over heads or (N, num_heads, L, S), or None). Parameters as
    PyTorch: in_proj_weight (3E, E) (or q/k/v_proj_weight when kdim/vdim differ), in_proj_bias,
    out_proj. Example: ``out, w = nn.MultiheadAttention(16, 4)(x, x, x)``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        check_device(device, "MultiheadAttention")
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than "
                             f"0, got embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = float(dropout), batch_first
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = add_zero_attn
        d = as_dtype(dtype or float32)
        e = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(_creation.empty(3 * e, e, dtype=d))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(_creation.empty(e, e, dtype=d))
            self.k_proj_weight = Parameter(_creation.empty(e, self.kdim, dtype=d))
            self.v_proj_weight = Parameter(_creation.empty(e, self.vdim, dtype=d))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(_creation.empty(3 * e, dtype=d))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(e, e, bias=bias, dtype=d)
        if add_bias_kv:
            self.bias_k = Parameter(_creation.empty(1, 1, e, dtype=d))
            self.bias_v = Parameter(_creation.empty(1, 1, e, dtype=d))
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        e, b = self.embed_dim, self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:  # self-attention: one GEMM
                qkv = F.linear(query, w, b)
                return qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        op = "MultiheadAttention"
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{op}: query, key and value must all be 3-D (batched) or 2-D "
                             f"(unbatched), got {tuple(query.shape)}, {tuple(key.shape)}, "
                             f"{tuple(value.shape)}")
        if not batched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            same_kv = key is value
            same_qk = query is key
            query = query.transpose(0, 1)
            key = query if same_qk else key.transpose(0, 1)
            value = key if same_kv else value.transpose(0, 1)
        # now (L, N, E)
        tgt_len, bsz, e = query.shape
        src_len = key.shape[0]
        if e != self.embed_dim:
            raise ValueError(f"{op}: was expecting embedding dimension of {self.embed_dim}, but "
                             f"got {e} (query of shape {tuple(query.shape)})")
        if key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"{op}: key of shape {tuple(key.shape)} and value of shape "
                             f"{tuple(value.shape)} must end with kdim={self.kdim} and "
                             f"vdim={self.vdim}")
        if key.shape[:2] != value.shape[:2] or key.shape[1] != bsz:
            raise ValueError(f"{op}: key {tuple(key.shape)} and value {tuple(value.shape)} must "
                             f"agree in length and batch with query {tuple(query.shape)}")
        h, hd = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)
        mask = None
        if attn_mask is not None:
            mask = _additive(op, attn_mask, q, "attn_mask")
            if mask.ndim == 2:
                if tuple(mask.shape) != (tgt_len, src_len):
                    raise ValueError(f"{op}: the shape of the 2D attn_mask is "
                                     f"{tuple(mask.shape)}, but should be {(tgt_len, src_len)}.")
                mask = mask.reshape(1, 1, tgt_len, src_len)
            elif mask.ndim == 3:
                if tuple(mask.shape) != (bsz * h, tgt_len, src_len):
                    raise ValueError(f"{op}: the shape of the 3D attn_mask is "
                                     f"{tuple(mask.shape)}, but should be "
                                     f"{(bsz * h, tgt_len, src_len)}.")
                mask = mask.reshape(bsz, h, tgt_len, src_len)
            else:
                raise ValueError(f"{op}: attn_mask's dimension {mask.ndim} is not supported")
        elif is_causal:
            causal = np.triu(np.full((tgt_len, src_len), -np.inf, dtype=q.dtype.np), 1)
            mask = _const(causal.reshape(1, 1, tgt_len, src_len), q)
        kpm = None
        if key_padding_mask is not None:
            kpm = _additive(op, key_padding_mask, q, "key_padding_mask")
            if tuple(kpm.shape) != (bsz, src_len):
                raise ValueError(f"{op}: expecting key_padding_mask shape of {(bsz, src_len)}, "
                                 f"but got {tuple(kpm.shape)}")
        if self.bias_k is not None:
            k = cat([k, self.bias_k.expand(1, bsz, e)], 0)
            v = cat([v, self.bias_v.expand(1, bsz, e)], 0)
            src_len += 1
            mask, kpm = _pad_masks(mask, kpm, q)
        # (S, N, E) -> (N, H, S, hd)
        q = q.reshape(tgt_len, bsz, h, hd).permute(1, 2, 0, 3)
        k = k.reshape(src_len, bsz, h, hd).permute(1, 2, 0, 3)
        v = v.reshape(src_len, bsz, h, hd).permute(1, 2, 0, 3)
        if self.add_zero_attn:
            zeros = _const(np.zeros((bsz, h, 1, hd), dtype=q.dtype.np), q)
            k, v = cat([k, zeros], 2), cat([v, zeros], 2)
            src_len += 1
            mask, kpm = _pad_masks(mask, kpm, q)
        if kpm is not None:
            kpm = kpm.reshape(bsz, 1, 1, src_len)
            mask = kpm if mask is None else mask + kpm
        drop = self.dropout if self.training else 0.0
        if not need_weights and drop == 0.0:  # the blocked kernel: no (L, S) matrix kept
            w = None
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            w = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)      # (N, H, L, S)
            if mask is not None:
                w = w + mask
            w = w.softmax(-1)
            ctx = (F.dropout(w, drop, True) if drop > 0 else w) @ v
        out = ctx.permute(2, 0, 1, 3).reshape(tgt_len * bsz, e)        # (L*N, E)
        out = self.out_proj(out).reshape(tgt_len, bsz, e)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        weights = None
        if need_weights and w is not None:
            weights = w.mean(1) if average_attn_weights else w
            if not batched:
                weights = weights.squeeze(0)
        return out, weights


def _pad_masks(mask: Tensor | None, kpm: Tensor | None, like: Tensor
               ) -> tuple[Tensor | None, Tensor | None]:
    """Both masks with a zero column appended on the key axis (for bias_k/v or a zero key)."""
    def pad(m: Tensor | None) -> Tensor | None:
        if m is None:
            return None
        z = _const(np.zeros(m.shape[:-1] + (1,), dtype=like.dtype.np), like)
        return cat([m.broadcast_to(m.shape), z], -1)
    return pad(mask), pad(kpm)


# --- Transformer layers ------------------------------------------------------------------------
def _activation(activation: Any) -> Callable[[Tensor], Tensor]:
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"activation must be 'relu', 'gelu' or a callable, got "
                        f"{type(activation).__name__}")
    return activation


def _clone_module(m: Module) -> Module:
    """A deep copy of m with fresh parameters and buffers holding copies of the values."""
    from fastgrad.autograd.grad_mode import no_grad

    memo: dict[int, Any] = {}
    with no_grad():
        for p in m.parameters():
            memo[id(p)] = Parameter(p.detach().clone(), requires_grad=p.requires_grad)
        for b in m.buffers():
            memo[id(b)] = b.detach().clone()
    return copy.deepcopy(m, memo)


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with dropout, a residual and LayerNorm
    (after, or before with ``norm_first``). Shapes: src (S, N, E) (batch_first: (N, S, E)).

    Example: ``nn.TransformerEncoderLayer(d_model=16, nhead=4, batch_first=True)(x)``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x


class TransformerDecoderLayer(Module):
    """Self-attention, attention over ``memory`` and a feed-forward block, each with dropout, a
    residual and LayerNorm. Shapes: tgt (T, N, E), memory (S, N, E) (batch_first: N first).

    Example: ``nn.TransformerDecoderLayer(16, 4)(tgt, memory)``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any,
                   is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (each with its own parameters), then ``norm``.

    Example: ``nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4), num_layers=2)(src)``.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = ModuleList([_clone_module(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                        is_causal=bool(is_causal))
        return self.norm(out) if self.norm is not None else out


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer``, then ``norm``.

    Example: ``nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 4), 2)(tgt, memory)``.
    """

    def __init__(self, decoder_layer: Module, num_layers: int,
                 norm: Module | None = None) -> None:
        super().__init__()
        self.layers = ModuleList([_clone_module(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return self.norm(out) if self.norm is not None else out


class Transformer(Module):
    """Encoder-decoder Transformer ("Attention Is All You Need") with PyTorch's defaults.

    forward(src (S, N, E), tgt (T, N, E), masks...) -> (T, N, E) (batch_first: N first).
    Example: ``nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1,
    num_decoder_layers=1, dim_feedforward=32)(src, tgt)``.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: Any = F.relu, custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batched = src.ndim == 3
        bdim = 0 if self.batch_first else 1
        if batched and src.shape[bdim] != tgt.shape[bdim]:
            raise RuntimeError("Transformer: the batch number of src and tgt must be equal, got "
                               f"{tuple(src.shape)} and {tuple(tgt.shape)}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("Transformer: the feature number of src and tgt must be equal to "
                               f"d_model ({self.d_model}), got {tuple(src.shape)} and "
                               f"{tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """(sz, sz) float mask: -inf above the diagonal, 0 elsewhere (position i sees j <= i)."""
        d = as_dtype(dtype or float32)
        return _creation.tensor(np.triu(np.full((sz, sz), -np.inf), 1), dtype=d)


__all__ = ["MultiheadAttention", "Transformer", "TransformerDecoder", "TransformerDecoderLayer",
           "TransformerEncoder", "TransformerEncoderLayer"]
