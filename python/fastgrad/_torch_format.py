"""PyTorch's checkpoint format (the zip torch.save writes since 1.6), written and read without torch.

Not pickle in general: the writer emits the few pickle opcodes a checkpoint needs, and the reader
is a restricted unpickler that builds tensors, containers and plain values only; any other global
a file asks for is refused before anything runs. Torch itself is never imported.
"""

from __future__ import annotations

import ctypes
import io
import os
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from typing import Any, BinaryIO, ClassVar, Union

import numpy as np

from fastgrad._creation import from_numpy
from fastgrad.nn.module import Module, Parameter
from fastgrad.tensor import Tensor

PathLike = Union[str, "os.PathLike[str]", BinaryIO]

# torch storage type name <-> NumPy dtype (the dtypes fastgrad has).
_STORAGE_TO_NP = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "LongStorage": np.dtype("<i8"),
    "BoolStorage": np.dtype("?"),
}
_NP_TO_STORAGE = {v.str.replace(">", "<"): k for k, v in _STORAGE_TO_NP.items()}
# Storage types torch has and fastgrad cannot hold: named in the error.
_UNSUPPORTED_STORAGE = {
    "HalfStorage": "float16", "BFloat16Storage": "bfloat16", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8", "QUInt8Storage": "quint8", "QInt32Storage": "qint32",
    "UntypedStorage": "untyped",
}
_ALIGN = 64


def _where(f: Any) -> str:
    return os.fspath(f) if isinstance(f, (str, os.PathLike)) else "the file"


# --- writing -----------------------------------------------------------------------------------
class _Storage:
    def __init__(self, key: str, dtype: np.dtype, low: int, high: int) -> None:
        self.key, self.dtype, self.low, self.high = key, dtype, low, high
        self.data = b""


class _PickleWriter:
    """Emits protocol-2 pickle opcodes for the values a checkpoint holds."""

    def __init__(self, storages: dict[int, tuple[_Storage, int, tuple[int, ...]]]) -> None:
        self.out = io.BytesIO()
        self.tensors = storages  # id(tensor) -> (storage, offset, strides)

    def w(self, b: bytes) -> None:
        self.out.write(b)

    def glob(self, module: str, name: str) -> None:
        self.w(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def empty_ordered_dict(self) -> None:
        self.glob("collections", "OrderedDict")
        self.w(b")R")

    def int_(self, x: int) -> None:
        if 0 <= x < 256:
            self.w(b"K" + bytes([x]))
        elif 0 <= x < 65536:
            self.w(b"M" + struct.pack("<H", x))
        elif -(2 ** 31) <= x < 2 ** 31:
            self.w(b"J" + struct.pack("<i", x))
        else:
            n = (x.bit_length() + 8) // 8
            self.w(b"\x8a" + bytes([n]) + x.to_bytes(n, "little", signed=True))

    def tuple_(self, items: Any, path: list[str]) -> None:
        items = list(items)
        if not items:
            self.w(b")")
            return
        if len(items) <= 3:
            for v in items:
                self.value(v, path)
            self.w({1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)])
            return
        self.w(b"(")
        for v in items:
            self.value(v, path)
        self.w(b"t")

    def tensor(self, t: Tensor) -> None:
        st, offset, strides = self.tensors[id(t)]
        param = isinstance(t, Parameter)
        if param:
            self.glob("torch._utils", "_rebuild_parameter")
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.w(b"(")
        # persistent id: ('storage', torch.<T>Storage, key, 'cpu', numel)
        self.w(b"(")
        self.str_("storage")
        self.glob("torch", _NP_TO_STORAGE[st.dtype.str.replace(">", "<")])
        self.str_(st.key)
        self.str_("cpu")
        self.int_((st.high - st.low) // st.dtype.itemsize)
        self.w(b"tQ")
        self.int_(offset)
        self.tuple_([int(s) for s in t.shape], [])
        self.tuple_(list(strides), [])
        self.w(b"\x88" if (t.requires_grad and not param) else b"\x89")
        self.empty_ordered_dict()
        self.w(b"tR")
        if param:
            self.w(b"\x88" if t.requires_grad else b"\x89")
            self.empty_ordered_dict()
            self.w(b"\x87R")

    def module(self, m: Module, path: list[str]) -> None:
        """A whole module, as torch.save pickles one: its class, then its __dict__ (tensors by
        persistent id). Loading it needs the class allowed (fastgrad.serialization.safe_globals)."""
        cls = type(m)
        self.glob(cls.__module__, cls.__qualname__)
        self.w(b")\x81")  # cls.__new__(cls)
        state = {k: v for k, v in vars(m).items()}
        self.w(b"}(")
        for k, v in state.items():
            self.str_(k)
            self.value(v, path + [k])
        self.w(b"ub")  # BUILD: the instance's __dict__

    def str_(self, s: str) -> None:
        b = s.encode("utf-8", "surrogatepass")
        self.w(b"X" + struct.pack("<I", len(b)) + b)

    def value(self, obj: Any, path: list[str]) -> None:
        if obj is None:
            self.w(b"N")
        elif obj is True or obj is False or isinstance(obj, np.bool_):
            self.w(b"\x88" if obj else b"\x89")
        elif isinstance(obj, (int, np.integer)):
            self.int_(int(obj))
        elif isinstance(obj, (float, np.floating)):
            self.w(b"G" + struct.pack(">d", float(obj)))
        elif isinstance(obj, str):
            self.str_(obj)
        elif isinstance(obj, Tensor):
            self.tensor(obj)
        elif isinstance(obj, dict):
            if isinstance(obj, OrderedDict):
                self.empty_ordered_dict()
            else:
                self.w(b"}")
            if obj:
                self.w(b"(")
                for k, v in obj.items():
                    if not (k is None or isinstance(k, (bool, int, float, str, tuple))):
                        raise TypeError(
                            f"fastgrad.save(format='torch'): dict keys must be strings, numbers "
                            f"or tuples, got {type(k).__name__} at {'.'.join(path) or 'the top'}")
                    self.value(k, path)
                    self.value(v, path + [str(k)])
                self.w(b"u")
        elif isinstance(obj, tuple):
            self.tuple_(obj, path)
        elif isinstance(obj, list):
            self.w(b"]")
            if obj:
                self.w(b"(")
                for i, v in enumerate(obj):
                    self.value(v, path + [str(i)])
                self.w(b"e")
        elif isinstance(obj, Module):
            self.module(obj, path)
        elif _is_global_function(obj):
            self.glob(obj.__module__, obj.__qualname__)
        else:
            raise TypeError(
                f"fastgrad.save(format='torch'): cannot save an object of type "
                f"{type(obj).__name__} at {'.'.join(path) or 'the top level'}: only tensors, "
                "numbers, strings, None and (nested) dicts, lists and tuples of them "
                "(NumPy arrays: convert with fastgrad.tensor, or save as .npz)")


def _is_global_function(obj: Any) -> bool:
    """A module-level function (nn.functional.relu as a Transformer's activation)."""
    return (isinstance(obj, types.FunctionType) and "<" not in obj.__qualname__
            and getattr(sys.modules.get(obj.__module__), obj.__qualname__, None) is obj)


def _collect(obj: Any, out: list[Tensor]) -> None:
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, Module):
        _collect(vars(obj), out)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _collect(k, out)
            _collect(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _collect(v, out)


def _plan_storages(tensors: list[Tensor]) -> dict[int, tuple[_Storage, int, tuple[int, ...]]]:
    """Tensors whose memory overlaps (views, tied weights) share one storage, as in torch."""
    arrays: list[tuple[Tensor, np.ndarray, int, int]] = []
    seen: set[int] = set()
    for t in tensors:
        if id(t) in seen:
            continue
        seen.add(id(t))
        a = t.detach()._b.to_numpy(t.detach()._impl)
        if a.dtype.str.replace(">", "<") not in _NP_TO_STORAGE:
            raise TypeError(f"fastgrad.save(format='torch'): dtype {a.dtype} is not supported")
        item = a.dtype.itemsize
        if a.size == 0 or any(s < 0 or s % item for s in a.strides):
            a = np.ascontiguousarray(a)
            arrays.append((t, a, -1, -1))  # a storage of its own
            continue
        low = a.__array_interface__["data"][0]
        high = low + sum((n - 1) * s for n, s in zip(a.shape, a.strides)) + item
        arrays.append((t, a, low, high))
    plan: dict[int, tuple[_Storage, int, tuple[int, ...]]] = {}
    storages: list[_Storage] = []

    def new_storage(dtype: np.dtype, low: int, high: int) -> _Storage:
        s = _Storage(str(len(storages)), dtype, low, high)
        storages.append(s)
        return s

    shared = sorted((x for x in arrays if x[2] >= 0), key=lambda x: x[2])
    groups: list[list[tuple[Tensor, np.ndarray, int, int]]] = []
    for x in shared:
        g = groups[-1] if groups else None
        if g and x[2] < max(y[3] for y in g) and x[1].dtype == g[0][1].dtype \
                and (x[2] - g[0][2]) % x[1].dtype.itemsize == 0:
            g.append(x)
        else:
            groups.append([x])
    for g in groups:
        dt = g[0][1].dtype
        low, high = g[0][2], max(y[3] for y in g)
        st = new_storage(dt, low, high)
        st.data = ctypes.string_at(low, high - low)
        for t, a, lo, _ in g:
            plan[id(t)] = (st, (lo - low) // dt.itemsize,
                           tuple(s // dt.itemsize for s in a.strides))
    for t, a, lo, _ in arrays:
        if lo >= 0:
            continue
        st = new_storage(a.dtype, 0, a.nbytes)
        st.data = a.tobytes()
        plan[id(t)] = (st, 0, tuple(s // a.dtype.itemsize for s in a.strides) if a.size
                       else tuple(int(np.prod(a.shape[i + 1:])) for i in range(a.ndim)))
    for st in storages:
        if sys.byteorder == "big":
            st.data = np.frombuffer(st.data, st.dtype.newbyteorder(">")).astype(
                st.dtype.newbyteorder("<")).tobytes()
    return plan


def _aligned_write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """A stored member whose data starts on a 64-byte boundary (padding in the extra field, as
    torch does), so torch can memory-map it."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    start = zf.fp.tell() + 30 + len(name.encode("utf-8"))  # type: ignore[union-attr]
    pad = (-(start + 4)) % _ALIGN
    info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # 'FB' padding record
    zf.writestr(info, data)


def save_torch(obj: Any, f: PathLike) -> None:
    """Writes ``obj`` in torch.save's zip format (readable by ``torch.load(f,
    weights_only=True)``)."""
    tensors: list[Tensor] = []
    _collect(obj, tensors)
    plan = _plan_storages(tensors)
    pw = _PickleWriter(plan)
    pw.w(b"\x80\x02")
    pw.value(obj, [])
    pw.w(b".")
    storages = sorted({id(p[0]): p[0] for p in plan.values()}.values(), key=lambda s: int(s.key))
    name = "archive"
    if isinstance(f, (str, os.PathLike)):
        base = os.path.splitext(os.path.basename(os.fspath(f)))[0]
        if base and all(c.isalnum() or c in "_-" for c in base):
            name = base
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        _aligned_write(zf, f"{name}/data.pkl", pw.out.getvalue())
        _aligned_write(zf, f"{name}/.format_version", b"1")
        _aligned_write(zf, f"{name}/.storage_alignment", b"64")
        _aligned_write(zf, f"{name}/byteorder", b"little")
        for st in storages:
            _aligned_write(zf, f"{name}/data/{st.key}", st.data)
        _aligned_write(zf, f"{name}/version", b"3\n")
        sid = "".join(str(b % 10) for b in os.urandom(40))
        _aligned_write(zf, f"{name}/.data/serialization_id", sid.encode())
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(buf.getvalue())
    else:
        f.write(buf.getvalue())


# --- reading -----------------------------------------------------------------------------------
class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name


class _LoadedStorage:
    def __init__(self, array: np.ndarray, name: str) -> None:
        self.array = array  # 1-D, writable, native byte order
        self.name = name


def _dtype_error(st: Any) -> None:
    if isinstance(st, _StorageType) and st.name in _UNSUPPORTED_STORAGE:
        raise TypeError(
            f"fastgrad.load: the file holds a tensor of dtype {_UNSUPPORTED_STORAGE[st.name]} "
            f"(torch.{st.name}); fastgrad supports float32, float64, int64 and bool: convert it "
            "in PyTorch first (e.g. t.float() or t.long())")


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any,
                       requires_grad: Any = False, backward_hooks: Any = None,
                       metadata: Any = None) -> Tensor:
    if not isinstance(storage, _LoadedStorage):
        raise pickle.UnpicklingError("fastgrad.load: _rebuild_tensor_v2 without a storage")
    size = tuple(size)
    stride = tuple(stride)
    if not (isinstance(storage_offset, int) and len(size) == len(stride)
            and all(isinstance(s, int) and s >= 0 for s in size + stride + (storage_offset,))):
        raise pickle.UnpicklingError(
            f"fastgrad.load: bad tensor layout: offset {storage_offset!r}, size {size!r}, "
            f"stride {stride!r}")
    a = storage.array
    n = a.shape[0]
    if all(size):
        last = storage_offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= n:
            raise pickle.UnpicklingError(
                f"fastgrad.load: tensor of size {size}, stride {stride}, offset {storage_offset} "
                f"reaches past its storage of {n} elements")
        item = a.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            a[storage_offset:], shape=size, strides=tuple(s * item for s in stride))
    else:
        view = np.zeros(size, a.dtype)
    t = from_numpy(view)  # shares the storage: views in the file stay views
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> Tensor:
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any = None) -> Parameter:
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError("fastgrad.load: _rebuild_parameter without a tensor")
    return Parameter(data, requires_grad=bool(requires_grad))


def _rebuild_parameter_with_state(data: Any, requires_grad: Any, backward_hooks: Any,
                                  state: Any) -> Parameter:
    return _rebuild_parameter(data, requires_grad)


def _codecs_encode(s: Any, encoding: str = "utf-8") -> bytes:
    if not isinstance(s, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("fastgrad.load: _codecs.encode is allowed for bytes only")
    return s.encode("latin1")


def _torch_size(*args: Any) -> tuple:
    return tuple(*args)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch", "Size"): _torch_size,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _codecs_encode,
}


# --- classes and functions a file may name (torch.serialization.add_safe_globals) ---------------
_SAFE_GLOBALS: list[Any] = []


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Allows ``fastgrad.load`` to rebuild these classes (modules saved whole with
    ``fastgrad.save(model, f)``) and functions; as torch.serialization.add_safe_globals."""
    for g in safe_globals:
        obj = g[0] if isinstance(g, tuple) else g
        if not (isinstance(obj, type) or callable(obj)):
            raise TypeError(f"add_safe_globals: expected classes or functions, got {obj!r}")
        _SAFE_GLOBALS.append(obj)


def get_safe_globals() -> list[Any]:
    return list(_SAFE_GLOBALS)


def clear_safe_globals() -> None:
    _SAFE_GLOBALS.clear()


class safe_globals:
    """``with safe_globals([MyModel, nn.Linear]): model = fastgrad.load(f)``: allowed inside the
    block only."""

    def __init__(self, safe_globals: list[Any]) -> None:
        self.items = list(safe_globals)

    def __enter__(self) -> None:
        self.n = len(_SAFE_GLOBALS)
        add_safe_globals(self.items)

    def __exit__(self, *exc: object) -> None:
        del _SAFE_GLOBALS[self.n:]


def _safe_global(module: str, name: str) -> Any:
    for g in _SAFE_GLOBALS:
        if getattr(g, "__module__", None) == module and getattr(g, "__qualname__", None) == name:
            return g
    return None


class _RestrictedUnpickler(pickle._Unpickler):  # the Python one: BUILD is checked below
    def __init__(self, file: Any, zf: zipfile.ZipFile, prefix: str, big: bool) -> None:
        super().__init__(file, encoding="utf-8")
        self.zf = zf
        self.prefix = prefix
        self.big = big
        self.storages: dict[str, _LoadedStorage] = {}

    def find_class(self, module: str, name: str) -> Any:
        fn = _ALLOWED.get((module, name))
        if fn is not None:
            return fn
        if module == "torch" and (name in _STORAGE_TO_NP or name in _UNSUPPORTED_STORAGE):
            return _StorageType(name)
        g = _safe_global(module, name)
        if g is not None:
            return g
        raise pickle.UnpicklingError(
            f"fastgrad.load: refused: the file asks for {module}.{name}, which is not a tensor, "
            "container or plain value; nothing in it was run (fastgrad loads weights only; a "
            "class you trust can be allowed with fastgrad.serialization.safe_globals([...]))")

    def load_build(self) -> None:
        """BUILD sets attributes from the file: allowed only on dicts (torch's state_dict()
        carries ``_metadata`` this way), never on tensors or anything else."""
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, Module) and type(inst) in _SAFE_GLOBALS and isinstance(state, dict):
            object.__setattr__(inst, "__dict__", {**vars(inst), **state})
            return
        if not (type(inst) is OrderedDict and isinstance(state, dict)
                and all(isinstance(k, str) for k in state)):
            raise pickle.UnpicklingError(
                f"fastgrad.load: refused: the file sets the state of a {type(inst).__name__}; "
                "only a dict's attributes may be set")
        inst.__dict__.update(state)

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"fastgrad.load: unknown persistent id {pid!r:.80}")
        _, st, key, _location, numel = pid
        if not isinstance(st, _StorageType):
            raise pickle.UnpicklingError("fastgrad.load: storage type is not a torch storage")
        _dtype_error(st)
        key = str(key)
        if key in self.storages:
            return self.storages[key]
        dt = _STORAGE_TO_NP[st.name]
        try:
            raw = self.zf.read(f"{self.prefix}data/{key}")
        except KeyError:
            raise ValueError(f"fastgrad.load: the file is damaged: storage {key} is missing") \
                from None
        if len(raw) % dt.itemsize or (isinstance(numel, int) and len(raw) < numel * dt.itemsize):
            raise ValueError(f"fastgrad.load: the file is damaged: storage {key} has "
                             f"{len(raw)} bytes for {numel} elements of {dt}")
        a = np.frombuffer(raw, dt.newbyteorder(">") if self.big else dt).astype(dt.newbyteorder("="))
        s = _LoadedStorage(a, st.name)
        self.storages[key] = s
        return s


def is_torch_zip(zf: zipfile.ZipFile) -> str | None:
    """The record prefix of a torch.save zip, or None."""
    for n in zf.namelist():
        if n.endswith("/data.pkl") and n.count("/") == 1:
            return n[: -len("/data.pkl")]
    if "data.pkl" in zf.namelist():
        return ""
    return None


def load_torch(f: PathLike, weights_only: bool | None = True) -> Any:
    """Reads a torch.save zip through the restricted unpickler (whatever ``weights_only`` says:
    fastgrad never runs code from a file)."""
    where = _where(f)
    with zipfile.ZipFile(f) as zf:
        prefix = is_torch_zip(zf)
        if prefix is None:
            raise ValueError(f"fastgrad.load: {where} is a zip but not a torch.save file")
        names = set(zf.namelist())
        p = f"{prefix}/" if prefix else ""
        big = False
        if f"{p}byteorder" in names:
            big = zf.read(f"{p}byteorder").strip() == b"big"
        data = zf.read(f"{p}data.pkl")
        return _RestrictedUnpickler(io.BytesIO(data), zf, p, big).load()


def refuse_legacy(where: str) -> None:
    raise ValueError(
        f"fastgrad.load: {where} is in PyTorch's legacy (pre-1.6, non-zip) format, which fastgrad "
        "does not read; re-save it with torch.save in a current PyTorch")


__all__ = ["load_torch", "save_torch"]
