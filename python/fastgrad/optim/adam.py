"""Adam and AdamW: torch.optim.Adam / AdamW's update (amsgrad and maximize included), run by the
backend's fused in-place kernel ``adam_step_`` over all parameters of a group."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastgrad.optim.optimizer import Optimizer, _new_buffer


class Adam(Optimizer):
    """Adam, PyTorch's formulas (t = the parameter's step count, from 1):

        g = grad + weight_decay * p        (AdamW / decoupled: p = p * (1 - lr * weight_decay))
        m = m + (1 - beta1) * (g - m);     v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Example: ``opt = Adam(model.parameters(), lr=1e-3)``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        if differentiable or capturable:
            raise ValueError(f"{type(self).__name__}: differentiable and capturable are not "
                             "supported")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                        "amsgrad": amsgrad, "maximize": maximize,
                        "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, g: dict[str, Any]) -> None:
        b1, b2 = g["betas"]
        if g["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {g['lr']}")
        if g["eps"] < 0.0:
            raise ValueError(f"Invalid epsilon value: {g['eps']}")
        if not 0.0 <= b1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {b1}")
        if not 0.0 <= b2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {b2}")
        if g["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {g['weight_decay']}")

    def _update(self, b: Any, params: list, g: dict[str, Any]) -> None:
        amsgrad = bool(g["amsgrad"])
        states = []
        for p in params:
            st = self.state.get(p)
            if not st:
                st = {"step": 0, "exp_avg": _new_buffer(p), "exp_avg_sq": _new_buffer(p)}
                self.state[p] = st
            if amsgrad and "max_exp_avg_sq" not in st:
                st["max_exp_avg_sq"] = _new_buffer(p)
            st["step"] = int(st["step"]) + 1
            states.append(st)
        beta1, beta2 = g["betas"]
        b.adam_step_(
            [p._impl for p in params], [p._impl.grad for p in params],
            [s["exp_avg"]._impl for s in states], [s["exp_avg_sq"]._impl for s in states],
            [s["max_exp_avg_sq"]._impl for s in states] if amsgrad else [],
            [s["step"] for s in states], float(g["lr"]), float(beta1), float(beta2),
            float(g["eps"]), float(g["weight_decay"]), amsgrad, bool(g["maximize"]),
            bool(g["decoupled_weight_decay"]),
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (p = p * (1 - lr * weight_decay) before the Adam step);
    PyTorch's defaults (weight_decay=0.01). Example: ``AdamW(model.parameters(), lr=1e-3)``."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)
