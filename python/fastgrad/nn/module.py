"""Module and Parameter: the containers a training loop is written against.

A Module registers the Parameters and sub-Modules assigned to its attributes (``self.fc =
Linear(2, 3)``), walks them (``parameters()``, ``named_modules()``, ...) and saves or restores
their values (``state_dict()`` / ``load_state_dict()``). No math here: layers are in layers.py.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from fastgrad._creation import empty
from fastgrad._hooks import RemovableHandle
from fastgrad.nn.hooks import call_with_hooks
from fastgrad.tensor import Tensor, _binary, _NoGrad, _wrap

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictShapeError(RuntimeError, ValueError):
    """load_state_dict: a value's shape differs from the parameter's (a RuntimeError as in
    PyTorch, and a ValueError as every shape mismatch in fastgrad)."""


class Parameter(Tensor):
    """A Tensor that a Module registers as one of its parameters; requires grad by default.

    Shares memory with ``data``. Example::

        w = nn.Parameter(fastgrad.randn(3, 4))   # w.requires_grad is True, w.is_leaf is True
        module.w = w                             # now in module.parameters()
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:  # noqa: PYI034
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected a Tensor, got {type(data).__name__}")
        p = Tensor.__new__(cls)
        p._impl = data._b.detach(data._impl)  # same memory, a fresh leaf
        p._b = data._b
        p._impl.requires_grad = bool(requires_grad)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__; Tensor.__init__ would copy the data

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    # Tensor._binary takes a right operand as a tensor only when `type(o) is Tensor`; a
    # Parameter there would be copied out of the graph. So a Parameter passes itself on as a plain
    # Tensor over the same handle: for `param op x` and `param op param` through the methods
    # below, and for `tensor op param` because Python tries a subclass's reflected method first.
    __hash__ = Tensor.__hash__


def _plain(o: Any) -> Any:
    """A Parameter as a plain Tensor over the same handle (same graph leaf); anything else as is."""
    return _wrap(o._impl, o._b) if isinstance(o, Parameter) else o


def _binary_method(op: str, reverse: bool, floating: bool) -> Callable[[Tensor, Any], Tensor]:
    def method(self: Tensor, o: Any) -> Tensor:
        return _binary(op, _plain(self), _plain(o), reverse=reverse, floating=floating)

    return method


for _op, _floating, _names in (
    ("add", False, ("__add__", "add")), ("sub", False, ("__sub__", "sub")),
    ("mul", False, ("__mul__", "mul")), ("div", True, ("__truediv__", "div")),
    ("pow", True, ("__pow__", "pow")), ("lt", False, ("__lt__",)), ("le", False, ("__le__",)),
    ("gt", False, ("__gt__",)), ("ge", False, ("__ge__",)), ("eq", False, ("__eq__",)),
    ("ne", False, ("__ne__",)),
):
    for _name in _names:
        setattr(Parameter, _name, _binary_method(_op, False, _floating))
for _op, _floating, _name in (("add", False, "__radd__"), ("sub", False, "__rsub__"),
                              ("mul", False, "__rmul__"), ("div", True, "__rtruediv__"),
                              ("pow", True, "__rpow__")):
    setattr(Parameter, _name, _binary_method(_op, True, _floating))


def _as_value_like(value: Any, like: Tensor) -> Tensor:
    """``value`` (a Tensor of any backend, or an array) as a tensor on ``like``'s backend."""
    if isinstance(value, Tensor) and value._b is like._b:
        return value
    a = np.asarray(value.detach() if isinstance(value, Tensor) else value)
    return _wrap(like._b.from_numpy(np.array(a, dtype=like.dtype.np, order="C")), like._b)


class Module:
    """Base class of every layer and model: subclass it, assign layers in ``__init__``, write
    ``forward``. Calling the module calls ``forward``.

    Example::

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)

            def forward(self, x):                  # x (N, 64) -> logits (N, 10)
                return self.fc2(self.fc1(x).relu())
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Module must define forward")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks"):
            return call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # --- hooks (see nn/hooks.py) ---------------------------------------------------------------
    def _add_hook(self, kind: str, hook: Callable, op: str) -> Any:
        self._check_init("hooks")
        if not callable(hook):
            raise TypeError(f"{op}: expected a callable, got {type(hook).__name__}")
        hooks = self.__dict__[kind]
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable) -> Any:
        """``hook(module, args)`` before forward; a returned value (tuple or single) replaces args."""
        return self._add_hook("_forward_pre_hooks", hook, "register_forward_pre_hook")

    def register_forward_hook(self, hook: Callable) -> Any:
        """``hook(module, args, output)`` after forward; a returned value replaces the output."""
        return self._add_hook("_forward_hooks", hook, "register_forward_hook")

    def register_full_backward_hook(self, hook: Callable) -> Any:
        """``hook(module, grad_input, grad_output)`` once the gradients w.r.t. the module's tensor
        inputs are computed (None for inputs that need none); returned values replace grad_input.
        """
        return self._add_hook("_backward_hooks", hook, "register_full_backward_hook")

    # --- registration ------------------------------------------------------------------------
    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {what} before Module.__init__() call "
                f"(call super().__init__() first in {type(self).__name__}.__init__)"
            )

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._discard(name)
            d["_parameters"][name] = value
        elif isinstance(value, Module):
            self._check_init("modules")
            self._discard(name)
            d["_modules"][name] = value
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(a fastgrad.nn.Parameter or None is expected)")
            d["_parameters"][name] = None
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                "(a fastgrad.nn.Module or None is expected)")
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                "(a Tensor or None is expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name: str) -> None:
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            d[key].pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                del d[key][name]
                return
        object.__delattr__(self, name)

    def _register(self, op: str, kind: str, name: str, value: Any, cls: type) -> None:
        """Stores ``value`` (an instance of ``cls`` or None) in self._<kind>[name], replacing
        whatever attribute had that name."""
        self._check_init(kind)
        if value is not None and not isinstance(value, cls):
            raise TypeError(f"{op}: {name!r} must be a {cls.__name__} or None, "
                            f"got {type(value).__name__}")
        self._discard(name)
        self.__dict__["_" + kind][name] = value

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Adds ``param`` (or None, a declared but absent parameter) under ``name``."""
        self._register("register_parameter", "parameters", name, param, Parameter)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Adds a tensor that is state but not a parameter (saved in state_dict when persistent)."""
        self._register("register_buffer", "buffers", name, tensor, Tensor)
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Adds a child module under ``name``."""
        self._register("add_module", "modules", name, module, Module)

    register_module = add_module

    # --- traversal ---------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for this module and every descendant, depth first, each once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name,
                                       remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, key: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, v in m.__dict__[key].items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mprefix + ("." if mprefix else "") + name, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """("fc1.weight", Parameter) pairs; a parameter shared by two modules appears once."""
        yield from self._named_members("_parameters", prefix, recurse,
                                       remove_duplicate)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter of this module and its descendants (what an optimizer takes)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Calls ``fn`` on every descendant, then on this module (e.g. a custom initialisation)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # --- modes and gradients -----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (Dropout active) for this module and its descendants."""
        if not isinstance(mode, bool):
            raise ValueError("train: mode is expected to be a bool")  # noqa: TRY004 (PyTorch)
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every parameter's ``.grad``: to None (default), or to zeros in place."""
        for p in self.parameters():
            _clear_grad(p, set_to_none)

    # --- state -------------------------------------------------------------------------------
    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers by dotted name (``"0.weight"``); the tensors share
        memory with the module's (detached unless ``keep_vars``)."""
        out = OrderedDict() if destination is None else destination
        for mprefix, m in self.named_modules(prefix=prefix.rstrip(".")):
            dot = mprefix + ("." if mprefix else "")
            for name, p in m._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            skip = m.__dict__.get("_non_persistent", set())
            for name, b in m._buffers.items():
                if b is not None and name not in skip:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copies values (Tensors of either backend or arrays; cast to each parameter's dtype)
        into the parameters and buffers. Raises RuntimeError naming every missing or unexpected
        key (when ``strict``) and every shape mismatch (a StateDictShapeError, also a ValueError).
        Returns ``(missing_keys, unexpected_keys)``."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors, shape_errors = [], []
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            vshape = tuple(v.shape) if hasattr(v, "shape") else np.shape(v)
            if vshape != t.shape:
                shape_errors.append(f"size mismatch for {k}: copying a param with shape {vshape} "
                                    f"from checkpoint, the shape in current model is {t.shape}")
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: "
                              + ", ".join(repr(k) for k in unexpected) + ".")
            if missing:
                errors.append("Missing key(s) in state_dict: "
                              + ", ".join(repr(k) for k in missing) + ".")
        errors += shape_errors
        if errors:
            msg = (f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                   + "\n\t".join(errors))
            raise (StateDictShapeError if shape_errors else RuntimeError)(msg)
        for k, t in own.items():
            if k in state_dict:
                v = _as_value_like(state_dict[k], t)
                with _NoGrad(t._b):
                    t.copy_(v.detach())
        return IncompatibleKeys(missing, unexpected)

    # --- printing ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (extra + "\n" if extra else "\n")
        return head + "".join("  " + line + "\n" for line in lines) + ")"

    def __dir__(self) -> list[str]:
        keys = set(super().__dir__())
        for key in ("_parameters", "_buffers", "_modules"):
            keys.update(self.__dict__.get(key, {}))
        return sorted(keys)

    # --- device and dtype (fastgrad/_device.py): CPU only; casts change parameters in place ----
    def _cast(self, d: Any, floating_only: bool = True) -> Module:
        """Every parameter (the same Parameter objects, so optimizers keep them) and buffer,
        and every parameter's grad, converted to dtype ``d``."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is None or p.dtype is d or (floating_only and not p.dtype.is_floating_point):
                    continue
                g = p.grad
                new = _wrap(p._b.detach(p._impl), p._b).astype(d)
                rg = p.requires_grad
                p._impl = p._b.detach(new._impl)
                p._impl.requires_grad = rg
                if g is not None:
                    p.grad = g.astype(d)
            for name, b in m._buffers.items():
                if b is not None and b.dtype is not d and (
                        b.dtype.is_floating_point or not floating_only):
                    m._buffers[name] = b.detach().astype(d)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """PyTorch's ``Module.to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``:
        floating-point parameters and buffers take the dtype (in place); a device other than the
        CPU raises. Example: ``model.to(fastgrad.device("cpu"))``."""
        from fastgrad._device import parse_to

        d, _copy = parse_to("Module.to", args, kwargs, Tensor)
        if d is None:
            return self
        if not d.is_floating_point:
            raise TypeError(f"Module.to: only accepts floating point dtypes, but got desired "
                            f"dtype={d.name}")
        return self._cast(d)

    def cpu(self) -> Module:
        """This module (fastgrad runs on CPUs only)."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Raises: fastgrad runs on CPUs only."""
        from fastgrad._device import cuda_error

        raise cuda_error(device)

    def float(self) -> Module:
        """Floating-point parameters and buffers to float32."""
        from fastgrad._dtype import float32

        return self._cast(float32)

    def double(self) -> Module:
        """Floating-point parameters and buffers to float64."""
        from fastgrad._dtype import float64

        return self._cast(float64)

    def half(self) -> Module:
        """Raises: fastgrad has no float16 (float32 and float64 only)."""
        raise TypeError("Module.half: fastgrad has no float16; use float() or double()")

    def bfloat16(self) -> Module:
        """Raises: fastgrad has no bfloat16 (float32 and float64 only)."""
        raise TypeError("Module.bfloat16: fastgrad has no bfloat16; use float() or double()")

    def type(self, dst_type: Any) -> Module:
        """Every parameter and buffer to ``dst_type`` (any fastgrad dtype)."""
        from fastgrad._dtype import as_dtype

        return self._cast(as_dtype(dst_type), floating_only=False)


def _clear_grad(p: Tensor, set_to_none: bool) -> None:
    if set_to_none:
        if type(p) is Parameter or type(p) is Tensor:  # their grad setter only sets the handle's
            p._impl.grad = None
        else:
            p.grad = None
        return
    g = p.grad
    if g is None:
        return
    if g.is_contiguous():
        g._b.fill_(g._impl, 0.0)
    else:  # a broadcast view from backward is read-only: replace it
        p.grad = _wrap(p._b.full(list(p.shape), 0.0, p._impl.dtype), p._b)
