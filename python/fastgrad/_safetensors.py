"""The safetensors format (a flat dict of named tensors), written and read without the package.

Layout: 8-byte little-endian header length N, N bytes of JSON ({name: {"dtype", "shape",
"data_offsets"}, "__metadata__": {str: str}}), then the raw little-endian data. Not a container
for nested objects: only a flat dict of tensors (a state dict) is stored.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, BinaryIO, Union

import numpy as np

from fastgrad._creation import from_numpy
from fastgrad.tensor import Tensor

PathLike = Union[str, "os.PathLike[str]", BinaryIO]

_TO_NP = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"),
          "BOOL": np.dtype("?")}
_FROM_NP = {v.str: k for k, v in _TO_NP.items()}
_UNSUPPORTED = {"F16": "float16", "BF16": "bfloat16", "I32": "int32", "I16": "int16",
                "I8": "int8", "U8": "uint8", "U16": "uint16", "U32": "uint32", "U64": "uint64",
                "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "C64": "complex64"}
_MAX_HEADER = 100_000_000


def save_safetensors(obj: Any, f: PathLike, metadata: dict[str, str] | None = None) -> None:
    """Writes a flat dict {name: Tensor} (a state dict) as safetensors; readable by
    ``safetensors.torch.load_file``. Tensors are written contiguous, each with its own data."""
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, Tensor)
                                            for k, v in obj.items()):
        raise TypeError(
            "fastgrad.save(format='safetensors'): safetensors stores a flat dict of "
            "{str: Tensor} only (a model's state_dict()); save nested objects such as an "
            "optimizer's state_dict() as .pt or .npz")
    header: dict[str, Any] = {"__metadata__": dict(metadata or {"format": "pt"})}
    chunks: list[bytes] = []
    pos = 0
    for k in sorted(obj):  # sorted by name like the safetensors package
        a = np.ascontiguousarray(obj[k].detach()._b.to_numpy(obj[k].detach()._impl))
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        code = _FROM_NP.get(a.dtype.str)
        if code is None:
            raise TypeError(f"fastgrad.save(format='safetensors'): {k!r} has unsupported dtype "
                            f"{a.dtype}")
        b = a.tobytes()
        header[k] = {"dtype": code, "shape": list(a.shape), "data_offsets": [pos, pos + len(b)]}
        chunks.append(b)
        pos += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    data = struct.pack("<Q", len(h)) + h + b"".join(chunks)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(data)
    else:
        f.write(data)


def looks_like_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= _MAX_HEADER and head[8:9] == b"{"


def load_safetensors(f: PathLike) -> dict[str, Tensor]:
    """Reads a safetensors file into a dict {name: Tensor} (float32, float64, int64, bool; other
    dtypes raise naming the dtype)."""
    where = os.fspath(f) if isinstance(f, (str, os.PathLike)) else "the file"
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            data = fh.read()
    else:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"fastgrad.load: {where} is not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(_MAX_HEADER, len(data) - 8):
        raise ValueError(f"fastgrad.load: {where} is damaged: header length {n}")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"fastgrad.load: {where} is damaged: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"fastgrad.load: {where} is damaged: the header is not an object")  # noqa: TRY004
    body = memoryview(data)[8 + n:]
    out: dict[str, Tensor] = {}
    for k, info in header.items():
        if k == "__metadata__":
            continue
        try:
            code, shape, (lo, hi) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"fastgrad.load: {where} is damaged: entry {k!r}") from None
        if code in _UNSUPPORTED or code not in _TO_NP:
            raise TypeError(f"fastgrad.load: {where}: tensor {k!r} has dtype "
                            f"{_UNSUPPORTED.get(code, code)}; fastgrad supports float32, "
                            "float64, int64 and bool")
        dt = _TO_NP[code]
        if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)
                and isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= len(body)
                and hi - lo == int(np.prod(shape, dtype=np.int64)) * dt.itemsize):
            raise ValueError(f"fastgrad.load: {where} is damaged: tensor {k!r} has shape "
                             f"{shape} and data offsets {[lo, hi]} (data is {len(body)} bytes)")
        a = np.frombuffer(body[lo:hi], dt).astype(dt.newbyteorder("="))  # a writable copy
        out[k] = from_numpy(a.reshape(shape))
    return out


__all__ = ["load_safetensors", "save_safetensors"]
