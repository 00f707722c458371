"""fastgrad.nn.utils.rnn: PackedSequence and the pad / pack helpers of torch.nn.utils.rnn.

Each conversion is one differentiable gather (``take``) of rows, so gradients flow from packed data
back to the padded input and the other way. Not here: the recurrent layers (nn/rnn.py).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastgrad.tensor import Tensor, _wrap

_PackedSequenceBase = namedtuple("_PackedSequenceBase",
                                 ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


def _const(a: np.ndarray, like: Tensor) -> Tensor:
    return _wrap(like._b.from_numpy(np.ascontiguousarray(a)), like._b)


def _np_int(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    a = np.asarray(x.detach().numpy() if isinstance(x, Tensor) else x)
    return a.astype(np.int64)


class PackedSequence(_PackedSequenceBase):
    """Sequences of different lengths packed time step by time step (longest first).

    ``data`` (sum of lengths, *), ``batch_sizes`` (max length,) int64: how many sequences are
    still running at each step; ``sorted_indices``/``unsorted_indices``: the permutation from
    the caller's batch order to decreasing length and back (None when the input was sorted).
    Build it with ``pack_padded_sequence`` or ``pack_sequence``, never by hand.
    """

    __slots__ = ()

    def __new__(cls, data: Tensor, batch_sizes: Tensor | None = None,  # noqa: PYI034
                sorted_indices: Tensor | None = None,
                unsorted_indices: Tensor | None = None) -> PackedSequence:
        if batch_sizes is None:
            raise ValueError("PackedSequence: batch_sizes is required")
        if unsorted_indices is None and sorted_indices is not None:
            s = _np_int(sorted_indices)
            inv = np.empty_like(s)
            inv[s] = np.arange(s.size)
            unsorted_indices = _const(inv, data)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """A PackedSequence whose data is ``data.to(...)`` (dtype only; the device is the CPU)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def float(self) -> PackedSequence:
        return self.to(self.data.float().dtype)

    def double(self) -> PackedSequence:
        return self.to(self.data.double().dtype)


def _rows(t: Tensor) -> tuple[Tensor, int, tuple[int, ...]]:
    """t (N, *rest) as a contiguous (N, R) matrix, R and rest."""
    rest = tuple(t.shape[1:])
    r = int(np.prod(rest)) if rest else 1
    return t.reshape(t.shape[0], r).contiguous(), r, rest


def _gather(mat: Tensor, rows: np.ndarray) -> Tensor:
    """mat (N, R) rows picked by the int array rows -> rows.shape + (R,), differentiable."""
    r = mat.shape[1]
    pos = rows[..., None] * r + np.arange(r, dtype=np.int64)
    return _wrap(mat._b.take(mat._impl, mat._b.from_numpy(np.ascontiguousarray(pos))), mat._b)


def _with_pad_row(mat: Tensor, padding_value: float) -> Tensor:
    from fastgrad._ops import cat

    pad = _const(np.full((1, mat.shape[1]), padding_value, dtype=mat.dtype.np), mat)
    return cat([mat, pad], 0)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stacks tensors of shapes (L_i, *) into (max L, B, *) (or (B, max L, *) with batch_first),
    padding with ``padding_value`` on the right (or left).

    Example: ``pad_sequence([fastgrad.ones(3), fastgrad.ones(1)]).shape == (3, 2)``.
    """
    from fastgrad._ops import cat

    seqs = list(sequences)
    if not seqs:
        raise ValueError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    rest = {tuple(s.shape[1:]) for s in seqs}
    if any(s.ndim == 0 for s in seqs) or len(rest) > 1:
        raise ValueError("pad_sequence: sequences must have shapes (L_i, *) with equal trailing "
                         f"dims, got {[tuple(s.shape) for s in seqs]}")
    lengths = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    flat = cat([s.reshape(s.shape[0], -1) if s.ndim != 2 else s for s in seqs], 0) \
        if seqs[0].ndim > 1 else cat([s.reshape(-1, 1) for s in seqs], 0)
    mat = _with_pad_row(flat.contiguous(), padding_value)
    total, b, tmax = int(lengths.sum()), len(seqs), int(lengths.max())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    t = np.arange(tmax)[:, None]
    shift = (tmax - lengths)[None, :] if padding_side == "left" else 0
    k = t - shift                                                   # (T, B) step in sequence
    rows = np.where((k >= 0) & (k < lengths[None, :]), starts[None, :] + k, total)
    out = _gather(mat, rows).reshape(tmax, b, *seqs[0].shape[1:])
    return out.transpose(0, 1) if batch_first else out


def _sort_order(lengths: np.ndarray, enforce_sorted: bool) -> np.ndarray | None:
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                               "pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement if you do not need ONNX exportability.")
        return None
    return np.argsort(-lengths, kind="stable").astype(np.int64)


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Packs a padded batch (T, B, *) (or (B, T, *)) of sequences with the given lengths.

    With ``enforce_sorted=False`` the lengths may come in any order (they are sorted here and the
    permutation kept). Example: ``pack_padded_sequence(x, [3, 1]).batch_sizes.tolist() == [2, 1,
    1]``.
    """
    if not isinstance(input, Tensor) or input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must be a tensor (T, B, *), got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    x = input.transpose(0, 1) if batch_first else input
    lens = _np_int(lengths).reshape(-1)
    t, b = x.shape[0], x.shape[1]
    if lens.size != b:
        raise ValueError(f"pack_padded_sequence: expected {b} lengths (the batch size of input "
                         f"{tuple(input.shape)}), got {lens.size}")
    if (lens <= 0).any():
        raise RuntimeError("pack_padded_sequence: length of all samples has to be greater than 0,"
                           f" but found an element in 'lengths' that is <= 0: {lens.tolist()}")
    if lens.max() > t:
        raise ValueError(f"pack_padded_sequence: a length {int(lens.max())} exceeds the "
                         f"sequence dim {t} of input {tuple(input.shape)}")
    order = _sort_order(lens, enforce_sorted)
    perm = np.arange(b) if order is None else order
    sl = lens[perm]
    batch_sizes = np.array([(sl > s).sum() for s in range(int(sl[0]))], dtype=np.int64)
    rows = np.concatenate([s * b + perm[:n] for s, n in enumerate(batch_sizes)])
    mat, _, rest = _rows(x.reshape(t * b, *x.shape[2:]))
    data = _gather(mat, rows).reshape(rows.size, *rest)
    si = None if order is None else _const(order, input)
    return PackedSequence(data, _const(batch_sizes, input), si, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None
                        ) -> tuple[Tensor, Tensor]:
    """Inverse of pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths (B,) int64), in
    the batch order the sequences were packed from."""
    data, bs = sequence.data, _np_int(sequence.batch_sizes)
    b, tmax = int(bs[0]), int(bs.size)
    if total_length is not None:
        if total_length < tmax:
            raise ValueError("pad_packed_sequence: expected total_length to be at least the "
                             f"length of the longest sequence ({tmax}), but got "
                             f"total_length={total_length}")
        tmax = int(total_length)
    starts = np.concatenate([[0], np.cumsum(bs)[:-1]])
    unsorted = _np_int(sequence.unsorted_indices)
    j = np.arange(b) if unsorted is None else unsorted          # sorted slot of each batch entry
    n = int(bs.sum())
    rows = np.full((tmax, b), n, dtype=np.int64)
    for s in range(bs.size):
        live = j < bs[s]
        rows[s, live] = starts[s] + j[live]
    mat, _, rest = _rows(data)
    out = _gather(_with_pad_row(mat, padding_value), rows).reshape(tmax, b, *rest)
    sorted_lens = np.array([(bs > k).sum() for k in range(b)], dtype=np.int64)
    lengths = sorted_lens[j]
    if batch_first:
        out = out.transpose(0, 1)
    return out, _const(lengths, data)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Packs a list of tensors (L_i, *): ``pack_padded_sequence(pad_sequence(seqs), lengths)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths: Any,
                   batch_first: bool = False) -> list[Tensor]:
    """The list of sequences (L_i, *) inside a padded batch."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :int(n)] for i, n in enumerate(_np_int(lengths).reshape(-1))]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences (L_i, *) inside a PackedSequence."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "pad_sequence", "unpack_sequence", "unpad_sequence"]
