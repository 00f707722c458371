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


# --- RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam; gradient clipping ------------------------
# Mirrors cpp/autograd/ops_optim.cpp and cpp/kernels/optim_more.cpp, clip.cpp.

def _lerp_(m: np.ndarray, g: np.ndarray, w: float) -> None:
    """m = torch.lerp(m, g, w) in place (its formula depends on |w| < 0.5)."""
    T = m.dtype.type
    if abs(w) < 0.5:
        m += T(w) * (g - m)
    else:
        m[...] = g - (g - m) * (T(1) - T(w))


def _grad(pt: RTensor, gt: RTensor, maximize: bool, weight_decay: float) -> np.ndarray:
    g = -gt.data if maximize else gt.data
    if weight_decay != 0:
        g = g + pt.data.dtype.type(weight_decay) * pt.data
    return g


def _check_steps(op: str, params: Sequence[RTensor], steps: Sequence[int]) -> None:
    if len(steps) != len(params):
        raise ValueError(f"{op}: got {len(params)} params but {len(steps)} steps")
    for t in steps:
        if int(t) < 1:
            raise ValueError(f"{op}: step counts start at 1, got {int(t)}")


def _bump(*lists: Sequence[RTensor]) -> None:
    for lst in lists:
        for t in lst:
            t.bump_version()


def rmsprop_step_(params: Sequence[RTensor], grads: Sequence[RTensor],
                  square_avgs: Sequence[RTensor], momentum_buffers: Sequence[RTensor],
                  grad_avgs: Sequence[RTensor], lr: float, alpha: float, eps: float,
                  weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    """RMSprop for each i, PyTorch's formulas: v = alpha v + (1 - alpha) g^2; centered:
    a = lerp(a, g, 1 - alpha), d = sqrt(v - a^2) + eps, else d = sqrt(v) + eps; momentum:
    b = momentum b + g / d, p -= lr b; else p -= lr g / d. momentum_buffers empty unless
    momentum > 0, grad_avgs empty unless centered."""
    lists = {"grads": grads, "square_avgs": square_avgs}
    if momentum > 0:
        lists["momentum_buffers"] = momentum_buffers
    if centered:
        lists["grad_avgs"] = grad_avgs
    _check("rmsprop_step_", params, lists)
    for i, (pt, gt) in enumerate(zip(params, grads)):
        T = pt.data.dtype.type
        p, v = pt.data, square_avgs[i].data
        g = _grad(pt, gt, maximize, weight_decay)
        v *= T(alpha)
        v += T(1 - alpha) * g * g
        if centered:
            a = grad_avgs[i].data
            _lerp_(a, g, 1 - alpha)
            avg = np.sqrt(v + T(-1) * a * a)
        else:
            avg = np.sqrt(v)
        avg += T(eps)
        if momentum > 0:
            b = momentum_buffers[i].data
            b *= T(momentum)
            b += g / avg
            p += T(-lr) * b
        else:
            p += T(-lr) * g / avg
    _bump(params, square_avgs, momentum_buffers if momentum > 0 else (),
          grad_avgs if centered else ())


def adagrad_step_(params: Sequence[RTensor], grads: Sequence[RTensor],
                  state_sums: Sequence[RTensor], steps: Sequence[int], lr: float,
                  lr_decay: float, weight_decay: float, eps: float, maximize: bool) -> None:
    """Adagrad: s += g^2; p -= lr / (1 + (step - 1) lr_decay) * g / (sqrt(s) + eps)."""
    _check("adagrad_step_", params, {"grads": grads, "state_sums": state_sums})
    _check_steps("adagrad_step_", params, steps)
    for i, (pt, gt) in enumerate(zip(params, grads)):
        T = pt.data.dtype.type
        g = _grad(pt, gt, maximize, weight_decay)
        s = state_sums[i].data
        s += g * g
        clr = lr / (1 + (int(steps[i]) - 1) * lr_decay)
        pt.data[...] += T(-clr) * g / (np.sqrt(s) + T(eps))
    _bump(params, state_sums)


def adadelta_step_(params: Sequence[RTensor], grads: Sequence[RTensor],
                   square_avgs: Sequence[RTensor], acc_deltas: Sequence[RTensor], lr: float,
                   rho: float, eps: float, weight_decay: float, maximize: bool) -> None:
    """Adadelta: v = rho v + (1 - rho) g^2; u = sqrt(acc + eps) / sqrt(v + eps) * g;
    acc = rho acc + (1 - rho) u^2; p -= lr u."""
    _check("adadelta_step_", params,
           {"grads": grads, "square_avgs": square_avgs, "acc_deltas": acc_deltas})
    for i, (pt, gt) in enumerate(zip(params, grads)):
        T = pt.data.dtype.type
        g = _grad(pt, gt, maximize, weight_decay)
        v, acc = square_avgs[i].data, acc_deltas[i].data
        v *= T(rho)
        v += T(1 - rho) * g * g
        delta = np.sqrt(acc + T(eps)) / np.sqrt(v + T(eps)) * g
        acc *= T(rho)
        acc += T(1 - rho) * delta * delta
        pt.data[...] += T(-lr) * delta
    _bump(params, square_avgs, acc_deltas)


def adamax_step_(params: Sequence[RTensor], grads: Sequence[RTensor],
                 exp_avgs: Sequence[RTensor], exp_infs: Sequence[RTensor], steps: Sequence[int],
                 lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                 maximize: bool) -> None:
    """Adamax: m = lerp(m, g, 1 - beta1); u = max(beta2 u, |g| + eps);
    p -= lr / (1 - beta1^step) * m / u."""
    _check("adamax_step_", params, {"grads": grads, "exp_avgs": exp_avgs, "exp_infs": exp_infs})
    _check_steps("adamax_step_", params, steps)
    for i, (pt, gt) in enumerate(zip(params, grads)):
        T = pt.data.dtype.type
        g = _grad(pt, gt, maximize, weight_decay)
        m, u = exp_avgs[i].data, exp_infs[i].data
        _lerp_(m, g, 1 - beta1)
        u *= T(beta2)
        np.maximum(u, np.abs(g) + T(eps), out=u)
        clr = lr / (1 - beta1 ** int(steps[i]))
        pt.data[...] += T(-clr) * m / u
    _bump(params, exp_avgs, exp_infs)


def _adam_moments(pt: RTensor, gt: RTensor, m: np.ndarray, v: np.ndarray, lr: float,
                  beta1: float, beta2: float, weight_decay: float, decoupled: bool,
                  maximize: bool) -> np.ndarray:
    """The shared start of NAdam and RAdam: weight decay, m and v updated; returns g."""
    T = pt.data.dtype.type
    g = -gt.data if maximize else gt.data
    if weight_decay != 0:
        if decoupled:
            pt.data[...] *= T(1 - lr * weight_decay)
        else:
            g = g + T(weight_decay) * pt.data
    _lerp_(m, g, 1 - beta1)
    v *= T(beta2)
    v += T(1 - beta2) * g * g
    return g


def nadam_step_(params: Sequence[RTensor], grads: Sequence[RTensor],
                exp_avgs: Sequence[RTensor], exp_avg_sqs: Sequence[RTensor],
                mu_products: Sequence[float], steps: Sequence[int], lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, momentum_decay: float,
                decoupled: bool, maximize: bool) -> list[float]:
    """NAdam, PyTorch's formulas; takes each parameter's mu_product before the step and returns
    it after: mu = beta1 (1 - 0.5 * 0.96^(step momentum_decay)); d = sqrt(v / bc2) + eps;
    p += -lr (1 - mu) / (1 - mu_product) g / d - lr mu_next / (1 - mu_product mu_next) m / d."""
    op = "nadam_step_"
    _check(op, params, {"grads": grads, "exp_avgs": exp_avgs, "exp_avg_sqs": exp_avg_sqs})
    _check_steps(op, params, steps)
    if len(mu_products) != len(params):
        raise ValueError(f"{op}: got {len(params)} params but {len(mu_products)} mu_products")
    out = []
    for i, (pt, gt) in enumerate(zip(params, grads)):
        T = pt.data.dtype.type
        t = float(steps[i])
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = float(mu_products[i]) * mu
        out.append(mu_product)
        m, v = exp_avgs[i].data, exp_avg_sqs[i].data
        g = _adam_moments(pt, gt, m, v, lr, beta1, beta2, weight_decay, decoupled, maximize)
        denom = np.sqrt(v / T(1 - beta2**t)) + T(eps)
        p = pt.data
        p += T(-lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom
        p += T((-lr * mu_next) / (1.0 - mu_product * mu_next)) * m / denom
    _bump(params, exp_avgs, exp_avg_sqs)
    return out


def radam_step_(params: Sequence[RTensor], grads: Sequence[RTensor],
                exp_avgs: Sequence[RTensor], exp_avg_sqs: Sequence[RTensor],
                steps: Sequence[int], lr: float, beta1: float, beta2: float, eps: float,
                weight_decay: float, decoupled: bool, maximize: bool) -> None:
    """RAdam, PyTorch's formulas: mh = m / (1 - beta1^t); with rho_t > 5,
    p -= mh lr sqrt(1 - beta2^t) / (sqrt(v) + eps) * rect, else p -= mh lr."""
    op = "radam_step_"
    _check(op, params, {"grads": grads, "exp_avgs": exp_avgs, "exp_avg_sqs": exp_avg_sqs})
    _check_steps(op, params, steps)
    rho_inf = 2 / (1 - beta2) - 1
    for i, (pt, gt) in enumerate(zip(params, grads)):
        T = pt.data.dtype.type
        t = float(steps[i])
        m, v = exp_avgs[i].data, exp_avg_sqs[i].data
        _adam_moments(pt, gt, m, v, lr, beta1, beta2, weight_decay, decoupled, maximize)
        bc1, bc2 = 1 - beta1**t, 1 - beta2**t
        rho_t = rho_inf - 2 * t * beta2**t / bc2
        mh = m / T(bc1) * T(lr)
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            pt.data[...] -= mh * (T(math.sqrt(bc2)) / (np.sqrt(v) + T(eps))) * T(rect)
        else:
            pt.data[...] -= mh
    _bump(params, exp_avgs, exp_avg_sqs)


def foreach_norm(tensors: Sequence[RTensor], ord: float) -> list[float]:
    """The norm of each floating tensor, accumulated in float64 and rounded to its dtype:
    (sum |x|^ord)^(1/ord); ord inf / -inf: max / min |x|; 0: the count of non-zeros."""
    out = []
    for i, t in enumerate(tensors):
        if not is_floating(t.dtype):
            raise TypeError(f"foreach_norm: tensor {i} must be floating point, got "
                            f"{DTYPE_NAMES[t.dtype]}")
        a = np.abs(np.asarray(t.data, dtype=np.float64)).ravel()
        if ord == 2:
            r = math.sqrt(float(np.dot(a, a)))
        elif ord == 1:
            r = float(a.sum())
        elif ord == 0:
            r = float(np.count_nonzero(a))
        elif math.isinf(ord):
            r = (float(a.max()) if ord > 0 else float(a.min())) if a.size else \
                (0.0 if ord > 0 else math.inf)
        else:
            r = float((a**ord).sum()) ** (1.0 / ord)
        out.append(float(t.data.dtype.type(r)))
    return out


def foreach_mul_(tensors: Sequence[RTensor], factor: float) -> None:
    """tensors[i] *= factor in place (each contiguous and floating)."""
    for i, t in enumerate(tensors):
        if not is_floating(t.dtype):
            raise TypeError(f"foreach_mul_: tensor {i} must be floating point, got "
                            f"{DTYPE_NAMES[t.dtype]}")
        if not t.is_contiguous or not t.data.flags.writeable:
            raise ValueError(f"foreach_mul_: tensor {i} of shape {t.shape} must be contiguous")
        t.data *= t.data.dtype.type(factor)
        t.bump_version()
