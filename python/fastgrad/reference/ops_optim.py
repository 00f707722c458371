# Fused optimizer updates of the reference backend: sgd_step_ and adam_step_ update every
# parameter of a list in place (and their state buffers), with PyTorch's formulas and operation
# order, computed in the parameter's dtype. No autograd. Mirrors cpp/autograd/ops_optim.cpp
# (checks) and cpp/kernels/optim.cpp (math).
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fastgrad.reference.tape import DTYPE_NAMES, RTensor, is_floating


def _check(op: str, params: Sequence[RTensor], lists: dict[str, Sequence[RTensor]]) -> None:
    """The checks of cpp/autograd/ops_optim.cpp, with the same messages. ``lists`` includes
    "grads", which alone may be non-contiguous."""
    n = len(params)
    for name, lst in lists.items():
        if len(lst) != n:
            raise ValueError(f"{op}: got {n} params but {len(lst)} {name}")
    for i, p in enumerate(params):
        if not is_floating(p.dtype):
            raise TypeError(f"{op}: param {i} must be floating point, got {DTYPE_NAMES[p.dtype]}")
        if not p.is_contiguous or not p.data.flags.writeable:
            raise ValueError(f"{op}: param {i} of shape {p.shape} must be contiguous")
        for name, lst in lists.items():
            t = lst[i]
            if t.shape != p.shape:
                raise ValueError(f"{op}: {name}[{i}] has shape {t.shape}, param {i} has shape "
                                 f"{p.shape}")
            if t.dtype != p.dtype:
                raise TypeError(f"{op}: {name}[{i}] is {DTYPE_NAMES[t.dtype]}, param {i} is "
                                f"{DTYPE_NAMES[p.dtype]}")
            if name != "grads" and not t.is_contiguous:
                raise ValueError(f"{op}: {name}[{i}] of shape {t.shape} must be contiguous")


def sgd_step_(params: Sequence[RTensor], grads: Sequence[RTensor], bufs: Sequence[RTensor],
              lr: float, momentum: float, dampening: float, nesterov: bool,
              weight_decay: float, maximize: bool, first: bool) -> None:
    """For each i: g = grad (+ wd * p); with momentum, buf = g (first) or
    momentum * buf + (1 - dampening) * g, and g = buf (or g + momentum * buf, nesterov);
    p -= lr * g. Shapes: params[i], grads[i], bufs[i] alike; bufs empty when momentum == 0."""
    op = "sgd_step_"
    _check(op, params, {"grads": grads} | ({"bufs": bufs} if momentum != 0 else {}))
    for i, (pt, gt) in enumerate(zip(params, grads)):
        T = pt.data.dtype.type
        p, g = pt.data, gt.data
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + T(weight_decay) * p
        if momentum != 0:
            buf = bufs[i].data
            if first:
                np.copyto(buf, g)
            else:
                buf *= T(momentum)
                buf += T(1 - dampening) * g
            bufs[i].bump_version()
            g = g + T(momentum) * buf if nesterov else buf
        p += T(-lr) * g
        pt.bump_version()


def adam_step_(params: Sequence[RTensor], grads: Sequence[RTensor], exp_avgs: Sequence[RTensor],
               exp_avg_sqs: Sequence[RTensor], max_exp_avg_sqs: Sequence[RTensor],
               steps: Sequence[int], lr: float, beta1: float, beta2: float, eps: float,
               weight_decay: float, amsgrad: bool, maximize: bool, decoupled: bool) -> None:
    """Adam (decoupled=False) or AdamW (decoupled=True) for each i, at step count steps[i]
    (already incremented): PyTorch's formulas. max_exp_avg_sqs is empty unless amsgrad."""
    op = "adam_step_"
    lists = {"grads": grads, "exp_avgs": exp_avgs, "exp_avg_sqs": exp_avg_sqs}
    if amsgrad:
        lists["max_exp_avg_sqs"] = max_exp_avg_sqs
    _check(op, params, lists)
    if len(steps) != len(params):
        raise ValueError(f"{op}: got {len(params)} params but {len(steps)} steps")
    for i, (pt, gt) in enumerate(zip(params, grads)):
        T = pt.data.dtype.type
        p, g, m, v = pt.data, gt.data, exp_avgs[i].data, exp_avg_sqs[i].data
        step = int(steps[i])
        if maximize:
            g = -g
        if decoupled:
            p *= T(1 - lr * weight_decay)
        elif weight_decay != 0:
            g = g + T(weight_decay) * p
        w = T(1 - beta1)  # torch.lerp(m, g, w): its formula depends on |w| < 0.5
        if abs(1 - beta1) < 0.5:
            m += w * (g - m)
        else:
            m[...] = g - (g - m) * (T(1) - w)
        v *= T(beta2)
        v += T(1 - beta2) * g * g
        if amsgrad:
            np.maximum(max_exp_avg_sqs[i].data, v, out=max_exp_avg_sqs[i].data)
            v = max_exp_avg_sqs[i].data
            max_exp_avg_sqs[i].bump_version()
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        denom = np.sqrt(v) / T(bias_correction2_sqrt) + T(eps)
        p += T(-step_size) * m / denom
        for t in (pt, exp_avgs[i], exp_avg_sqs[i]):
            t.bump_version()
