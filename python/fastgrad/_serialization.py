"""fastgrad.save / fastgrad.load: tensors, state dicts and optimizer state in NumPy's .npz format.

Each tensor (or array) is one .npy member, named after its place in the object ("0.weight",
"state.0.exp_avg"), so plain ``np.load`` reads the file too. The structure around them (dicts,
lists, tuples, numbers, strings, None) is JSON in the member ``__fastgrad__``. Loading uses
``allow_pickle=False`` and parses JSON only: an untrusted file cannot run code.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from typing import Any, BinaryIO, Union

import numpy as np

from fastgrad._creation import tensor
from fastgrad.nn.module import Parameter
from fastgrad.tensor import Tensor

_META = "__fastgrad__"
_FORMAT = "fastgrad.save"
_VERSION = 1
PathLike = Union[str, "os.PathLike[str]", BinaryIO]


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def name(self, path: list[str]) -> str:
        base = ".".join(path) or "tensor"
        name, k = base, 1
        while name in self.arrays or name == _META:
            name, k = f"{base}#{k}", k + 1
        return name

    def encode(self, obj: Any, path: list[str]) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)):
            return {"__float__": repr(obj)} if isinstance(obj, float) and not np.isfinite(obj) \
                else obj
        if isinstance(obj, Tensor):
            name = self.name(path)
            self.arrays[name] = np.array(obj.detach(), order="C")
            return {"__tensor__": name, "requires_grad": bool(obj.requires_grad),
                    "parameter": isinstance(obj, Parameter)}
        if isinstance(obj, (np.ndarray, np.generic)):
            a = np.asarray(obj)
            if a.dtype.hasobject:
                raise TypeError(f"fastgrad.save: cannot save a NumPy array of dtype object at "
                                f"{'.'.join(path) or 'the top level'}")
            name = self.name(path)
            self.arrays[name] = np.array(a, order="C")
            return {"__ndarray__" if isinstance(obj, np.ndarray) else "__npscalar__": name}
        if isinstance(obj, dict):
            items = [[self.encode_key(k, path), self.encode(v, path + [str(k)])]
                     for k, v in obj.items()]
            return {"__dict__": items, "ordered": isinstance(obj, OrderedDict)}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]
        raise TypeError(
            f"fastgrad.save: cannot save an object of type {type(obj).__name__} at "
            f"{'.'.join(path) or 'the top level'}: only tensors, NumPy arrays, numbers, strings, "
            "None and (nested) dicts, lists and tuples of them"
        )

    def encode_key(self, k: Any, path: list[str]) -> Any:
        if k is None or isinstance(k, (bool, int, float, str)):
            return self.encode(k, path)
        if isinstance(k, tuple):
            return {"__tuple__": [self.encode_key(v, path) for v in k]}
        raise TypeError(f"fastgrad.save: dict keys must be strings, numbers or tuples, got "
                        f"{type(k).__name__} at {'.'.join(path) or 'the top level'}")


def save(obj: Any, f: PathLike, pickle_module: Any = None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True,
         _disable_byteorder_record: bool = False, *, format: str | None = None) -> None:
    """Writes ``obj`` (a Tensor, a state dict, an optimizer's state_dict(), or nested dicts,
    lists and tuples of tensors, arrays, numbers and strings) to ``f`` (a path, written as given,
    or a binary file object). Example: ``fastgrad.save(model.state_dict(), "model.pt")``.
    PyTorch's pickle arguments are accepted and ignored (no general pickling is done).

    The format is ``format`` ("torch", "npz" or "safetensors") if given, else follows the
    file's extension: .pt/.pth/.bin/.ckpt/.tar -> PyTorch's zip format (``torch.load(f,
    weights_only=True)`` reads it; no NumPy arrays), .safetensors -> safetensors (a flat dict of
    tensors only), anything else and file objects -> NumPy .npz."""
    fmt = _save_format(f, format)  # h9-interop: format dispatch
    if fmt != "npz":
        return _save_other(obj, f, fmt)
    w = _Writer()
    root = w.encode(obj, [])
    meta = json.dumps({"format": _FORMAT, "version": _VERSION, "root": root}, allow_nan=False)
    members = dict(w.arrays)
    members[_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:  # np.savez(path) would append ".npz" to the name
            np.savez(fh, **members)
    else:
        np.savez(f, **members)


class _Reader:
    def __init__(self, npz: Any, where: str) -> None:
        self.npz = npz
        self.where = where

    def array(self, name: str) -> np.ndarray:
        if name not in self.npz.files:
            raise ValueError(f"fastgrad.load: {self.where} is damaged: member {name!r} is missing")
        return self.npz[name]

    def tensor(self, a: np.ndarray, requires_grad: bool = False, parameter: bool = False) -> Tensor:
        t = tensor(a)  # a copy on the current backend, dtype kept
        if parameter:
            return Parameter(t, requires_grad=requires_grad)
        return t.requires_grad_(True) if requires_grad else t

    def decode(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if "__tensor__" in obj:
            return self.tensor(self.array(obj["__tensor__"]), bool(obj.get("requires_grad")),
                               bool(obj.get("parameter")))
        if "__ndarray__" in obj:
            return np.array(self.array(obj["__ndarray__"]))
        if "__npscalar__" in obj:
            return self.array(obj["__npscalar__"])[()]
        if "__float__" in obj:
            return float(obj["__float__"])
        if "__tuple__" in obj:
            return tuple(self.decode(v) for v in obj["__tuple__"])
        if "__dict__" in obj:
            d = OrderedDict() if obj.get("ordered") else {}
            for k, v in obj["__dict__"]:
                d[self.decode(k)] = self.decode(v)
            return d
        raise ValueError(f"fastgrad.load: {self.where} is damaged: unknown entry {obj!r:.80}")


def load(f: PathLike, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = True, mmap: bool | None = None,
         **pickle_load_args: Any) -> Any:
    """Reads an object written by ``fastgrad.save`` or ``torch.save`` (tensors come back on the
    current backend, with their dtypes and bit for bit). A plain NumPy .npz, or a .safetensors
    file, gives a dict of tensors. ``f`` is a path or a binary file object; the format is found
    from the content (a torch.save zip, a .npz zip, safetensors, a .npy).

    Never runs code from the file, whatever ``weights_only`` says: .npz and safetensors are
    parsed as data, and a torch.save file goes through an unpickler that builds only tensors,
    containers and plain values; a file asking for anything else raises
    ``pickle.UnpicklingError`` naming what it asked for. ``map_location`` as in PyTorch: None,
    "cpu", a CPU device, a dict whose targets are the CPU, or a callable ``fn(tensor, "cpu")``
    applied to each loaded tensor (its result replaces the tensor unless None); a non-CPU target
    raises. Example: ``model.load_state_dict(fastgrad.load("model.pt", map_location="cpu"))``."""
    from fastgrad._device import map_location_check

    fn = map_location_check(map_location)
    obj = _load_other(f, weights_only)  # h9-interop: format dispatch
    if obj is _NPZ:
        obj = _load(f)
    return obj if fn is None else _map_tensors(obj, fn)


def _map_tensors(obj: Any, fn: Any) -> Any:
    if isinstance(obj, Tensor):
        r = fn(obj, "cpu")
        return obj if r is None else r
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _map_tensors(v, fn)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_tensors(v, fn) for v in obj)
    return obj


def _load(f: PathLike) -> Any:
    where = os.fspath(f) if isinstance(f, (str, os.PathLike)) else "the file"
    try:
        npz = np.load(f, allow_pickle=False)
    except (ValueError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"fastgrad.load: {where} is not a .npz file written by fastgrad.save "
                         f"or numpy.savez ({e})") from None
    if not hasattr(npz, "files"):
        return _Reader({}, where).tensor(npz)  # a single .npy array
    with npz:
        r = _Reader(npz, where)
        if _META not in npz.files:
            return {name: r.tensor(npz[name]) for name in npz.files}
        try:
            meta = json.loads(bytes(npz[_META]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"fastgrad.load: {where} is damaged: {e}") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(f"fastgrad.load: {where} was not written by fastgrad.save")
        if meta.get("version", 0) > _VERSION:
            raise ValueError(f"fastgrad.load: {where} has format version {meta['version']}; "
                             f"this fastgrad reads up to {_VERSION}")
        return r.decode(meta.get("root"))


# --- h9-interop: format dispatch (PyTorch zip, safetensors) -------------------------------------
_NPZ = object()
_TORCH_EXT = (".pt", ".pth", ".bin", ".ckpt", ".tar")


def _save_format(f: PathLike, format: str | None) -> str:
    if format is not None:
        if format not in ("torch", "npz", "safetensors"):
            raise ValueError(f"fastgrad.save: format must be 'torch', 'npz' or 'safetensors', "
                             f"got {format!r}")
        return format
    if isinstance(f, (str, os.PathLike)):
        ext = os.path.splitext(os.fspath(f))[1].lower()
        if ext in _TORCH_EXT:
            return "torch"
        if ext == ".safetensors":
            return "safetensors"
        return "npz"
    return "torch"  # a file object: PyTorch's own format, as torch.save writes


def _save_other(obj: Any, f: PathLike, fmt: str) -> None:
    if fmt == "torch":
        from fastgrad._torch_format import save_torch
        save_torch(obj, f)
    else:
        from fastgrad._safetensors import save_safetensors
        save_safetensors(obj, f)


def _load_other(f: PathLike, weights_only: Any) -> Any:
    """The loaded object when ``f`` is a torch.save zip or safetensors, else ``_NPZ``."""
    import zipfile

    from fastgrad import _safetensors, _torch_format
    where = os.fspath(f) if isinstance(f, (str, os.PathLike)) else "the file"
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            head = fh.read(16)
    else:
        pos = f.tell()
        head = f.read(16)
        f.seek(pos)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(f) as zf:
                torch_zip = _torch_format.is_torch_zip(zf) is not None
        except zipfile.BadZipFile:
            return _NPZ
        finally:
            if not isinstance(f, (str, os.PathLike)):
                f.seek(pos)
        return _torch_format.load_torch(f, weights_only) if torch_zip else _NPZ
    if _safetensors.looks_like_safetensors(head):
        return _safetensors.load_safetensors(f)
    if head[:1] == b"\x80":  # a bare pickle: torch.save before 1.6
        _torch_format.refuse_legacy(where)
    return _NPZ


__all__ = ["load", "save"]
