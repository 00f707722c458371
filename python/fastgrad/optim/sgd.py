"""SGD with momentum, dampening, Nesterov and weight decay: torch.optim.SGD's update, run by the
backend's fused in-place kernel ``sgd_step_`` over all parameters of a group."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastgrad.optim.optimizer import Optimizer, _new_buffer


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formulas:

        g = grad + weight_decay * p
        buf = g (first step) or momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov) or buf          (when momentum != 0)
        p = p - lr * g

    Example: ``opt = SGD(model.parameters(), lr=0.1, momentum=0.9)``; then ``opt.zero_grad()``,
    ``loss.backward()``, ``opt.step()``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        if differentiable:
            raise ValueError("SGD: differentiable=True is not supported")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                        "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, g: dict[str, Any]) -> None:
        if g["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {g['lr']}")
        if g["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {g['momentum']}")
        if g["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {g['weight_decay']}")
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, b: Any, params: list, g: dict[str, Any]) -> None:
        args = (float(g["lr"]), float(g["momentum"]), float(g["dampening"]), bool(g["nesterov"]),
                float(g["weight_decay"]), bool(g["maximize"]))
        if g["momentum"] == 0:
            b.sgd_step_([p._impl for p in params], [p._impl.grad for p in params], [], *args,
                        False)
            return
        old, new = [], []
        for p in params:
            st = self.state.get(p)
            buf = None if st is None else st.get("momentum_buffer")
            if buf is None:
                buf = _new_buffer(p)
                self.state.setdefault(p, {})["momentum_buffer"] = buf
                new.append((p, buf))
            else:
                old.append((p, buf))
        for pairs, first in ((old, False), (new, True)):
            if pairs:
                b.sgd_step_([p._impl for p, _ in pairs], [p._impl.grad for p, _ in pairs],
                            [buf._impl for _, buf in pairs], *args, first)
