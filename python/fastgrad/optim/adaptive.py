"""RMSprop, Adagrad, Adadelta, Adamax, NAdam and RAdam: torch.optim's update formulas, arguments,
defaults and state keys; each step() runs one fused in-place backend kernel (``rmsprop_step_``,
``adagrad_step_``, ...) over all parameters of a group. Not here: LBFGS (lbfgs.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from fastgrad.optim.optimizer import Optimizer, _new_buffer
from fastgrad.tensor import Tensor, _wrap


def _unsupported(name: str, **flags: bool) -> None:
    bad = [k for k, v in flags.items() if v]
    if bad:
        raise ValueError(f"{name}: {', '.join(bad)}=True is not supported")


def _check(g: dict[str, Any], *names: str) -> None:
    """PyTorch's messages for negative hyperparameters and betas outside [0, 1)."""
    labels = {"lr": "learning rate", "eps": "epsilon value", "weight_decay": "weight_decay value",
              "momentum": "momentum value", "alpha": "alpha value", "lr_decay": "lr_decay value",
              "momentum_decay": "momentum_decay value",
              "initial_accumulator_value": "initial_accumulator_value value"}
    for n in names:
        if n == "betas":
            for i, b in enumerate(g["betas"]):
                if not 0.0 <= b < 1.0:
                    raise ValueError(f"Invalid beta parameter at index {i}: {b}")
        elif n == "rho":
            if not 0.0 <= g["rho"] <= 1.0:
                raise ValueError(f"Invalid rho value: {g['rho']}")
        elif g[n] < 0.0:
            raise ValueError(f"Invalid {labels[n]}: {g[n]}")


def _states(opt: Optimizer, params: list[Tensor], buffers: tuple[str, ...],
            extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each parameter's state, created on first use (``step`` 0, zero ``buffers``); buffers
    missing from an older state (momentum turned on later) are added."""
    out = []
    for p in params:
        st = opt.state.get(p)
        if not st:
            st = {"step": 0}
            if extra:
                st.update(extra)
            opt.state[p] = st
        for name in buffers:
            if name not in st:
                st[name] = _new_buffer(p)
        out.append(st)
    return out


def _impls(states: list[dict[str, Any]], name: str) -> list[Any]:
    return [s[name]._impl for s in states]


def _step(states: list[dict[str, Any]]) -> list[int]:
    for s in states:
        s["step"] = _as_int(s["step"]) + 1
    return [s["step"] for s in states]


def _as_int(v: Any) -> int:
    return int(np.asarray(v.detach() if isinstance(v, Tensor) else v))


def _as_float(v: Any) -> float:
    return float(np.asarray(v.detach() if isinstance(v, Tensor) else v))


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's formulas:

        g = grad (+ weight_decay * p);  v = alpha * v + (1 - alpha) * g * g
        centered: a = lerp(a, g, 1 - alpha), d = sqrt(v - a * a) + eps; else d = sqrt(v) + eps
        momentum > 0: b = momentum * b + g / d, p -= lr * b;  else p -= lr * g / d

    State: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg``
    (centered). Example: ``opt = RMSprop(model.parameters(), lr=1e-2, momentum=0.9)``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _unsupported("RMSprop", capturable=capturable, differentiable=differentiable)
        super().__init__(params, {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                                  "centered": centered, "weight_decay": weight_decay,
                                  "maximize": maximize, "foreach": foreach})

    def _check_group(self, g: dict[str, Any]) -> None:
        _check(g, "lr", "eps", "momentum", "weight_decay", "alpha")

    def _update(self, b: Any, params: list, g: dict[str, Any]) -> None:
        mom, centered = float(g["momentum"]), bool(g["centered"])
        names = ("square_avg",) + (("momentum_buffer",) if mom > 0 else ()) + \
            (("grad_avg",) if centered else ())
        states = _states(self, params, names)
        _step(states)
        b.rmsprop_step_(
            [p._impl for p in params], [p._impl.grad for p in params],
            _impls(states, "square_avg"), _impls(states, "momentum_buffer") if mom > 0 else [],
            _impls(states, "grad_avg") if centered else [], float(g["lr"]), float(g["alpha"]),
            float(g["eps"]), float(g["weight_decay"]), mom, centered, bool(g["maximize"]))


class Adagrad(Optimizer):
    """Adagrad, PyTorch's formulas: g = grad (+ weight_decay * p); s += g * g;
    p -= lr / (1 + (step - 1) * lr_decay) * g / (sqrt(s) + eps).

    State (created for every parameter at construction, as PyTorch does): ``step``, ``sum``
    (filled with ``initial_accumulator_value``). Example: ``Adagrad(model.parameters(), lr=0.1)``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _unsupported("Adagrad", differentiable=differentiable)
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "maximize": maximize, "foreach": foreach})
        for group in self.param_groups:
            self._init_state(group)

    def _init_state(self, group: dict[str, Any]) -> None:
        v = float(group["initial_accumulator_value"])
        for p in group["params"]:
            if p not in self.state:
                self.state[p] = {"step": 0,
                                 "sum": _wrap(p._b.full(list(p.shape), v, p._impl.dtype), p._b)}

    def _check_group(self, g: dict[str, Any]) -> None:
        _check(g, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _update(self, b: Any, params: list, g: dict[str, Any]) -> None:
        self._init_state(g)  # a group added after construction
        states = _states(self, params, ("sum",))
        steps = _step(states)
        b.adagrad_step_([p._impl for p in params], [p._impl.grad for p in params],
                        _impls(states, "sum"), steps, float(g["lr"]), float(g["lr_decay"]),
                        float(g["weight_decay"]), float(g["eps"]), bool(g["maximize"]))


class Adadelta(Optimizer):
    """Adadelta, PyTorch's formulas: g = grad (+ weight_decay * p);
    v = rho * v + (1 - rho) * g * g;  u = sqrt(acc + eps) / sqrt(v + eps) * g;
    acc = rho * acc + (1 - rho) * u * u;  p -= lr * u.

    State: ``step``, ``square_avg``, ``acc_delta``. Example: ``Adadelta(model.parameters())``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _unsupported("Adadelta", capturable=capturable, differentiable=differentiable)
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                                  "maximize": maximize, "foreach": foreach})

    def _check_group(self, g: dict[str, Any]) -> None:
        _check(g, "lr", "rho", "eps", "weight_decay")

    def _update(self, b: Any, params: list, g: dict[str, Any]) -> None:
        states = _states(self, params, ("square_avg", "acc_delta"))
        _step(states)
        b.adadelta_step_([p._impl for p in params], [p._impl.grad for p in params],
                         _impls(states, "square_avg"), _impls(states, "acc_delta"),
                         float(g["lr"]), float(g["rho"]), float(g["eps"]),
                         float(g["weight_decay"]), bool(g["maximize"]))


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm), PyTorch's formulas: g = grad (+ weight_decay * p);
    m = lerp(m, g, 1 - beta1);  u = max(beta2 * u, |g| + eps);  p -= lr / (1 - beta1**t) * m / u.

    State: ``step``, ``exp_avg``, ``exp_inf``. Example: ``Adamax(model.parameters(), lr=2e-3)``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        _unsupported("Adamax", capturable=capturable, differentiable=differentiable)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize,
                                  "foreach": foreach})

    def _check_group(self, g: dict[str, Any]) -> None:
        _check(g, "lr", "eps", "betas", "weight_decay")

    def _update(self, b: Any, params: list, g: dict[str, Any]) -> None:
        states = _states(self, params, ("exp_avg", "exp_inf"))
        steps = _step(states)
        beta1, beta2 = g["betas"]
        b.adamax_step_([p._impl for p in params], [p._impl.grad for p in params],
                       _impls(states, "exp_avg"), _impls(states, "exp_inf"), steps,
                       float(g["lr"]), float(beta1), float(beta2), float(g["eps"]),
                       float(g["weight_decay"]), bool(g["maximize"]))


class NAdam(Optimizer):
    """NAdam (Adam with Nesterov momentum), PyTorch's formulas (t = step count from 1):

        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay));  mu_product *= mu_t
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        d = sqrt(v / (1 - beta2**t)) + eps
        p -= lr * (1 - mu_t) / (1 - mu_product) * g / d
             + lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * m / d

    ``decoupled_weight_decay``: p *= 1 - lr * weight_decay instead of g += weight_decay * p.
    State: ``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``.
    Example: ``NAdam(model.parameters(), lr=2e-3)``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _unsupported("NAdam", capturable=capturable, differentiable=differentiable)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay, "momentum_decay": momentum_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize, "foreach": foreach})

    def _check_group(self, g: dict[str, Any]) -> None:
        _check(g, "lr", "eps", "betas", "weight_decay", "momentum_decay")

    def _update(self, b: Any, params: list, g: dict[str, Any]) -> None:
        states = _states(self, params, ("exp_avg", "exp_avg_sq"), {"mu_product": 1.0})
        steps = _step(states)
        beta1, beta2 = g["betas"]
        mu = b.nadam_step_([p._impl for p in params], [p._impl.grad for p in params],
                           _impls(states, "exp_avg"), _impls(states, "exp_avg_sq"),
                           [_as_float(s["mu_product"]) for s in states], steps, float(g["lr"]),
                           float(beta1), float(beta2), float(g["eps"]),
                           float(g["weight_decay"]), float(g["momentum_decay"]),
                           bool(g["decoupled_weight_decay"]), bool(g["maximize"]))
        for s, m in zip(states, mu):
            s["mu_product"] = float(m)


class RAdam(Optimizer):
    """RAdam (rectified Adam), PyTorch's formulas (t = step count from 1):

        m, v as Adam;  rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        rho_t > 5: p -= lr * m / (1 - beta1**t) * sqrt(1 - beta2**t) / (sqrt(v) + eps) * r_t
        else:      p -= lr * m / (1 - beta1**t)

    ``decoupled_weight_decay``: p *= 1 - lr * weight_decay instead of g += weight_decay * p.
    State: ``step``, ``exp_avg``, ``exp_avg_sq``. Example: ``RAdam(model.parameters())``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _unsupported("RAdam", capturable=capturable, differentiable=differentiable)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize, "foreach": foreach})

    def _check_group(self, g: dict[str, Any]) -> None:
        _check(g, "lr", "eps", "betas", "weight_decay")

    def _update(self, b: Any, params: list, g: dict[str, Any]) -> None:
        states = _states(self, params, ("exp_avg", "exp_avg_sq"))
        steps = _step(states)
        beta1, beta2 = g["betas"]
        b.radam_step_([p._impl for p in params], [p._impl.grad for p in params],
                      _impls(states, "exp_avg"), _impls(states, "exp_avg_sq"), steps,
                      float(g["lr"]), float(beta1), float(beta2), float(g["eps"]),
                      float(g["weight_decay"]), bool(g["decoupled_weight_decay"]),
                      bool(g["maximize"]))
