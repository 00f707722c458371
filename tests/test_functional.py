"""fastgrad.autograd.functional (vjp, jvp, jacobian, hessian, hvp, vhp) on both backends: against
PyTorch's torch.autograd.functional when installed, plus structure, create_graph and errors.
Seed examples 11-13 are in test_seeds.py."""

from __future__ import annotations

from typing import Any

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad.autograd import functional as AF


def f_two_in_two_out(x: Any, w: Any) -> tuple:
    """x (3,), w (2, 3) -> ((2,), (3,)): works on fastgrad and torch tensors alike."""
    h = (w @ x).tanh()
    return h * h.sum(), (x * x).sin() + w.sum(0)


def scalar_fn(x: Any, w: Any) -> Any:
    return ((w @ x).tanh() ** 2).sum() + (x * x * x).sum()


def _inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal(3), rng.standard_normal((2, 3))


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy()


def _close(ours: Any, theirs: Any) -> None:
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _close(a, b)
        return
    assert isinstance(ours, fastgrad.Tensor), type(ours)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-10, atol=1e-12)


def test_jacobian_against_torch(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    a, b = _inputs(rng)
    ours = AF.jacobian(f_two_in_two_out, (fastgrad.tensor(a), fastgrad.tensor(b)))
    theirs = torch.autograd.functional.jacobian(f_two_in_two_out,
                                                (torch.tensor(a), torch.tensor(b)))
    _close(ours, theirs)
    assert ours[0][1].shape == (2, 2, 3)  # out_0 (2,) x in_1 (2, 3)
    # A single input and a single output drop the tuple levels.
    one = AF.jacobian(lambda x: f_two_in_two_out(x, fastgrad.tensor(b))[0], fastgrad.tensor(a))
    _close(one, theirs[0][0])


def test_hessian_and_hvp_against_torch(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    a, b = _inputs(rng)
    va, vb = _inputs(rng)
    ours_in = (fastgrad.tensor(a), fastgrad.tensor(b))
    theirs_in = (torch.tensor(a), torch.tensor(b))
    H = AF.hessian(scalar_fn, ours_in)
    _close(H, torch.autograd.functional.hessian(scalar_fn, theirs_in))
    assert H[0][1].shape == (3, 2, 3)
    v_ours = (fastgrad.tensor(va), fastgrad.tensor(vb))
    v_theirs = (torch.tensor(va), torch.tensor(vb))
    for name in ("hvp", "vhp"):
        out, hv = getattr(AF, name)(scalar_fn, ours_in, v_ours)
        t_out, t_hv = getattr(torch.autograd.functional, name)(scalar_fn, theirs_in, v_theirs)
        _close(out, t_out)
        _close(hv, t_hv)
    single = AF.hessian(lambda x: scalar_fn(x, ours_in[1]), ours_in[0])
    _close(single, torch.autograd.functional.hessian(lambda x: scalar_fn(x, theirs_in[1]),
                                                     theirs_in[0]))


def test_vjp_and_jvp_against_torch(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    a, b = _inputs(rng)
    u0, u1 = rng.standard_normal(2), rng.standard_normal(3)
    va, vb = _inputs(rng)
    ours_in = (fastgrad.tensor(a), fastgrad.tensor(b))
    theirs_in = (torch.tensor(a), torch.tensor(b))
    ours = AF.vjp(f_two_in_two_out, ours_in, (fastgrad.tensor(u0), fastgrad.tensor(u1)))
    theirs = torch.autograd.functional.vjp(f_two_in_two_out, theirs_in,
                                           (torch.tensor(u0), torch.tensor(u1)))
    _close(ours, theirs)
    ours = AF.jvp(f_two_in_two_out, ours_in, (fastgrad.tensor(va), fastgrad.tensor(vb)))
    theirs = torch.autograd.functional.jvp(f_two_in_two_out, theirs_in,
                                           (torch.tensor(va), torch.tensor(vb)))
    _close(ours, theirs)


def test_jvp_is_jacobian_times_v(backend: str, rng: np.random.Generator) -> None:
    a = rng.standard_normal(4)
    v = rng.standard_normal(4)
    M = fastgrad.tensor(rng.standard_normal((3, 4)))

    def f(x: fastgrad.Tensor) -> fastgrad.Tensor:
        return (M @ x).relu() * x[:3] + x.exp()[1:]

    J = AF.jacobian(f, fastgrad.tensor(a))
    _, jv = AF.jvp(f, fastgrad.tensor(a), fastgrad.tensor(v))
    np.testing.assert_allclose(jv.numpy(), J.numpy() @ v, rtol=1e-12)


def test_inputs_untouched_and_results_detached(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], dtype=fastgrad.float64, requires_grad=True)
    out, g = AF.vjp(lambda t: (t * t).sum(), x)
    assert g.tolist() == [2.0, 4.0]
    assert x.grad is None and out.grad_fn is None and g.grad_fn is None


def test_create_graph_gives_differentiable_results(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], dtype=fastgrad.float64, requires_grad=True)
    J = AF.jacobian(lambda t: t ** 3, x, create_graph=True)  # diag(3 t^2)
    assert J.requires_grad
    J.sum().backward()  # d/dx sum(diag(3x^2)) = 6x
    assert x.grad.tolist() == [6.0, 12.0]
    x.grad = None
    _, hv = AF.hvp(lambda t: (t ** 4).sum(), x, fastgrad.ones(2, dtype=fastgrad.float64),
                   create_graph=True)  # 12 x^2
    hv.sum().backward()  # 24 x
    assert x.grad.tolist() == [24.0, 48.0]


def test_unused_input_zeros_or_strict_error(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], dtype=fastgrad.float64)
    y = fastgrad.tensor([3.0], dtype=fastgrad.float64)
    J = AF.jacobian(lambda a, b: a * 2.0, (x, y))
    assert J[1].tolist() == [[0.0], [0.0]] and J[0].tolist() == [[2.0, 0.0], [0.0, 2.0]]
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.vjp(lambda a, b: (a * 2.0).sum(), (x, y), strict=True)
    H = AF.hessian(lambda a: a.sum(), x)  # linear: the gradient is constant
    assert H.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_errors_name_the_op_and_shapes(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], dtype=fastgrad.float64)
    with pytest.raises(ValueError,
                       match=r"vjp: v can be omitted only for one-element outputs.*\(2,\)"):
        AF.vjp(lambda t: t * 2.0, x)
    with pytest.raises(ValueError,
                       match=r"jvp: v\[0\] has shape \(3,\) but inputs\[0\] has shape \(2,\)"):
        AF.jvp(lambda t: t * 2.0, x, fastgrad.zeros(3, dtype=fastgrad.float64))
    with pytest.raises(ValueError, match=r"hessian: func must return a single one-element Tensor"):
        AF.hessian(lambda t: t * 2.0, x)
    with pytest.raises(TypeError, match=r"jacobian: inputs\[0\] must be a Tensor, got list"):
        AF.jacobian(lambda t: t, [[1.0]])
