"""Optimizer: parameter groups, per-parameter state, zero_grad and state_dict, as in
torch.optim.Optimizer. The update math is not here: each subclass's step() hands all parameters
of a group to one fused backend kernel (``sgd_step_``, ``adam_step_``) that updates them in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Callable

import numpy as np

from fastgrad.autograd import enable_grad
from fastgrad.nn.module import _clear_grad
from fastgrad.tensor import Tensor, _wrap

_REQUIRED = object()


class Optimizer:
    """Base class: ``param_groups`` (a list of dicts, each with "params" and its own
    hyperparameters), ``state`` (a dict from parameter to its state), ``step()``,
    ``zero_grad()``, ``state_dict()``, ``load_state_dict()``.

    Example: ``SGD([{"params": body.parameters()}, {"params": head.parameters(), "lr": 1e-3}],
    lr=1e-2, momentum=0.9)``.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a Tensor")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group of parameters with its own hyperparameters (missing ones: the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if params and isinstance(params[0], tuple):  # named parameters: (name, tensor) pairs
            group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not p.dtype.is_floating_point:
                raise TypeError(f"optimizer can only optimize floating-point tensors, got "
                                f"{p.dtype.name}")
        ids = {id(p) for p in params}
        if len(ids) != len(params):
            raise ValueError("optimizer: a parameter appears twice in one parameter group")
        for other in self.param_groups:
            if ids & {id(p) for p in other["params"]}:
                raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for k, v in self.defaults.items():
            if v is _REQUIRED and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {k}")
            group.setdefault(k, v)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Subclasses validate hyperparameters here."""

    def _params(self) -> Iterator[Tensor]:
        for g in self.param_groups:
            yield from g["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every parameter's ``.grad``: to None (default), or to zeros in place."""
        for p in self._params():
            _clear_grad(p, set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = self._closure(closure)
        for g in self.param_groups:
            params = g["params"]
            if not params:
                continue
            b = params[0]._b
            if all(p._b is b and p._impl.grad is not None for p in params):  # the usual case
                self._update(b, params, g)
                continue
            params = [p for p in params if p._impl.grad is not None]
            for b, ps in _by_backend(params).values():
                self._update(b, ps, g)
        return loss

    def _update(self, b: Any, params: list, g: dict[str, Any]) -> None:
        """Updates ``params`` (all on backend ``b``, all with gradients) in place."""
        raise NotImplementedError

    def _closure(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, the
        parameters numbered in group order (PyTorch's layout; ``fastgrad.save`` writes it)."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores hyperparameters and state saved by ``state_dict()`` (tensors are copied onto
        each parameter's backend and dtype)."""
        groups = self.param_groups
        saved = state_dict["param_groups"]
        if len(groups) != len(saved):
            raise ValueError(f"loaded state dict has {len(saved)} parameter groups, the optimizer "
                             f"has {len(groups)}")
        for i, (g, s) in enumerate(zip(groups, saved)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group ({i}) of {len(s['params'])} "
                    f"parameters that doesn't match the size of optimizer's group "
                    f"({len(g['params'])})"
                )
        id_map = {}
        for g, s in zip(groups, saved):
            for p, k in zip(g["params"], s["params"]):
                id_map[k] = p
        raw_state = state_dict["state"]
        new_state: dict[Tensor, dict[str, Any]] = {}
        for k, st in raw_state.items():
            key = int(k)
            if key not in id_map:
                raise ValueError(f"loaded state dict has state for parameter {key}, which no "
                                 "parameter group contains")
            p = id_map[key]
            new_state[p] = {name: _state_value(v, p, name) for name, v in st.items()}
        for g, s in zip(groups, saved):
            for k, v in s.items():
                if k != "params":
                    g[k] = tuple(v) if k == "betas" else v
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k not in ("params", "param_names"):
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"


def _state_value(v: Any, p: Tensor, name: str) -> Any:
    """A copy of a saved state value: tensors moved to ``p``'s backend (and dtype, when they
    have p's shape); numbers as they are."""
    if isinstance(v, (Tensor, np.ndarray)):
        a = np.asarray(v.detach() if isinstance(v, Tensor) else v)
        if a.ndim == 0 and name == "step":
            return int(a)
        if a.shape == p.shape:
            a = a.astype(p.dtype.np)
        return _wrap(p._b.from_numpy(np.array(a, order="C", copy=True)), p._b)
    return v


def _by_backend(params: list[Tensor]) -> dict[int, tuple[Any, list[Tensor]]]:
    """Parameters grouped by backend module (almost always a single group)."""
    out: dict[int, tuple[Any, list[Tensor]]] = {}
    for p in params:
        entry = out.get(id(p._b))
        if entry is None:
            out[id(p._b)] = (p._b, [p])
        else:
            entry[1].append(p)
    return out


def _new_buffer(p: Tensor) -> Tensor:
    """Zeros of p's shape and dtype on p's backend (a contiguous state buffer)."""
    return _wrap(p._b.full(list(p.shape), 0.0, p._impl.dtype), p._b)
