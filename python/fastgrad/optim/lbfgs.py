"""L-BFGS: torch.optim.LBFGS's algorithm (two-loop recursion over the last ``history_size``
curvature pairs, optional strong-Wolfe line search with cubic interpolation), arguments, defaults
and state. The vector math runs in NumPy on flat copies of the gradients (one contiguous array
of all parameters, as PyTorch's flat views; flat arrays are never written in place except the
two-loop's own q), parameters are moved by the fused ``sgd_step_`` kernel and restored by the
backend's ``copy_``. Not a fused kernel: each iteration needs closure().
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from fastgrad.optim.optimizer import Optimizer
from fastgrad.tensor import Tensor, _wrap


def _abs_max(a: np.ndarray) -> float:
    """max |a| without a temporary array."""
    return float(max(a.max(), -a.min())) if a.size else 0.0


def _cubic_interpolate(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                       bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to ``bounds``
    (default: the interval between x1 and x2); the interval's midpoint when the cubic has no
    real minimiser (Nocedal & Wright, eq. 3.59)."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(pos, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(obj: Callable[[np.ndarray, float, np.ndarray], tuple[float, np.ndarray]],
                  x: np.ndarray, t: float, d: np.ndarray, f: float, g: np.ndarray, gtd: float,
                  c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
                  max_ls: int = 25) -> tuple[float, np.ndarray, float, int]:
    """A step length t along d satisfying the strong Wolfe conditions (bracketing, then zoom
    with cubic interpolation; Nocedal & Wright, algorithms 3.5 and 3.6).
    Returns (f(x + t d), its gradient, t, function evaluations)."""
    d_norm = _abs_max(d)
    f_new, g_new = obj(x, t, d)
    evals = 1
    gtd_new = float(np.dot(g_new, d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket, bf, bg, bgtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bf, bg, bgtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bf, bg, bgtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj(x, t, d)
        evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bf, bg, bgtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

    # zoom: shrink the bracket until a point satisfies the conditions
    insuf_progress = False
    low, high = (0, 1) if bf[0] <= bf[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bf[0], bgtd[0], bracket[1], bf[1], bgtd[1])
        bmax, bmin = max(bracket), min(bracket)
        eps = 0.1 * (bmax - bmin)
        if min(bmax - t, t - bmin) < eps:  # too close to an end: move away unless progressing
            if insuf_progress or t >= bmax or t <= bmin:
                t = bmax - eps if abs(t - bmax) < abs(t - bmin) else bmin + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj(x, t, d)
        evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bf[low]:
            bracket[high], bf[high], bg[high], bgtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bf[0] <= bf[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bf[high], bg[high], bgtd[high] = (bracket[low], bf[low], bg[low],
                                                                 bgtd[low])
            bracket[low], bf[low], bg[low], bgtd[low] = t, f_new, g_new, gtd_new
    return bf[low], bg[low], bracket[low], evals


class LBFGS(Optimizer):
    """Limited-memory BFGS (PyTorch's algorithm, after minFunc). Holds one parameter group;
    ``step(closure)`` calls ``closure()`` (which zeroes the gradients, computes the loss, calls
    backward and returns the loss) up to ``max_eval`` times and returns the first loss.

    Example::

        opt = LBFGS(model.parameters(), lr=1, line_search_fn="strong_wolfe")
        def closure():
            opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); return loss
        opt.step(closure)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError("only 'strong_wolfe' is supported")
        super().__init__(params, {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                                  "tolerance_grad": tolerance_grad,
                                  "tolerance_change": tolerance_change,
                                  "history_size": history_size, "line_search_fn": line_search_fn})
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._flat_params = self.param_groups[0]["params"]
        self._dtype = np.result_type(*[p.dtype.np for p in self._flat_params])

    # --- flat views ----------------------------------------------------------------------------
    def _gather_flat_grad(self) -> np.ndarray:
        parts = []
        for p in self._flat_params:
            g = p._impl.grad
            if g is None:
                parts.append(np.zeros(p.numel(), self._dtype))
            else:
                parts.append(np.asarray(p._b.to_numpy(g), self._dtype).reshape(-1))
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def _add_grad(self, step_size: float, update: np.ndarray) -> None:
        """p += step_size * update[p's segment] for every parameter: one fused kernel call."""
        b = self._flat_params[0]._b
        segs, offset = [], 0
        for p in self._flat_params:
            n = p.numel()
            seg = np.ascontiguousarray(update[offset:offset + n].reshape(p.shape), p.dtype.np)
            segs.append(b.from_numpy(seg))
            offset += n
        b.sgd_step_([p._impl for p in self._flat_params], segs, [], -float(step_size), 0.0, 0.0,
                    False, 0.0, False, False)

    def _axpy(self, y: np.ndarray, a: float, x: np.ndarray) -> None:
        """y += a * x in place, in one pass (the backend's fused sgd_step_ kernel on views)."""
        b = self._flat_params[0]._b
        b.sgd_step_([b.from_numpy(y)], [b.from_numpy(x)], [], -float(a), 0.0, 0.0, False, 0.0,
                    False, False)

    def _clone_param(self) -> np.ndarray:
        return np.concatenate([np.asarray(p.detach(), self._dtype).reshape(-1)
                               for p in self._flat_params])

    def _set_param(self, flat: np.ndarray) -> None:
        offset = 0
        for p in self._flat_params:
            n = p.numel()
            src = np.ascontiguousarray(flat[offset:offset + n].reshape(p.shape), p.dtype.np)
            p._b.copy_(p._impl, p._b.from_numpy(src))
            offset += n

    def _directional_evaluate(self, closure: Callable[[], Any], x: np.ndarray, t: float,
                              d: np.ndarray) -> tuple[float, np.ndarray]:
        self._add_grad(t, d)
        loss = float(self._closure(closure))
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    def _as_tensor(self, a: np.ndarray) -> Tensor:
        b = self._flat_params[0]._b
        return _wrap(b.from_numpy(a), b)

    # --- step ----------------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """One optimisation run of up to ``max_iter`` iterations; returns closure()'s first loss."""
        if closure is None:
            raise RuntimeError("LBFGS.step requires a closure that reevaluates the model and "
                               "returns the loss")
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = int(group["max_iter"]), int(group["max_eval"])
        tolerance_grad = float(group["tolerance_grad"])
        tolerance_change = float(group["tolerance_change"])
        history_size, line_search_fn = int(group["history_size"]), group["line_search_fn"]

        state = self.state.setdefault(self._flat_params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = self._closure(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if _abs_max(flat_grad) <= tolerance_grad:
            return orig_loss

        def arr(name: str) -> np.ndarray | None:
            v = state.get(name)
            return None if v is None else np.asarray(v)

        d, t = arr("d"), state.get("t")
        t = None if t is None else float(t)
        old_dirs = [np.asarray(v) for v in state.get("old_dirs", [])]
        old_stps = [np.asarray(v) for v in state.get("old_stps", [])]
        ro = [float(v) for v in state.get("ro", [])]
        h_diag = float(state.get("H_diag", 1.0))
        prev_flat_grad, prev_loss = arr("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * d.dtype.type(t)
                ys = float(np.dot(y, s))
                if ys > 1e-10:  # keep the pair only when the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(np.dot(y, y))
                # two-loop recursion: d = -H g, the updates one fused pass each (_axpy)
                al = [0.0] * len(old_dirs)
                q = np.negative(flat_grad)
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(np.dot(old_stps[i], q)) * ro[i]
                    self._axpy(q, -al[i], old_dirs[i])
                q *= q.dtype.type(h_diag)
                r = q
                for i in range(len(old_dirs)):
                    be_i = float(np.dot(old_dirs[i], r)) * ro[i]
                    self._axpy(r, al[i] - be_i, old_stps[i])
                d = r
            prev_flat_grad = flat_grad  # never written in place: no copy needed
            prev_loss = loss

            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(np.dot(flat_grad, d))
            if gtd > -tolerance_change:  # not a descent direction
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj(x: np.ndarray, step: float, dd: np.ndarray) -> tuple[float, np.ndarray]:
                    return self._directional_evaluate(closure, x, step, dd)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(obj, x_init, t, d, loss,
                                                                  flat_grad, gtd)
                self._add_grad(t, d)
                opt_cond = _abs_max(flat_grad) <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = float(self._closure(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = _abs_max(flat_grad) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if abs(t) * _abs_max(d) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = None if d is None else self._as_tensor(d)
        state["t"] = t
        state["old_dirs"] = [self._as_tensor(v) for v in old_dirs]
        state["old_stps"] = [self._as_tensor(v) for v in old_stps]
        state["ro"] = ro
        state["H_diag"] = h_diag
        state["prev_flat_grad"] = None if prev_flat_grad is None else self._as_tensor(prev_flat_grad)
        state["prev_loss"] = prev_loss
        return orig_loss
