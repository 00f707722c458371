"""Hooks on both backends: Tensor.register_hook (inspect, replace, remove) and Module forward
pre-hooks, forward hooks and full backward hooks (grad_input / grad_output, replacing grad_input)."""

from __future__ import annotations

import fastgrad
import numpy as np
import pytest
from fastgrad import nn


def test_tensor_hook_inspects_replaces_and_removes(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h_leaf = x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 3.0
    h_mid = y.register_hook(lambda g: g * 10.0)  # replaces the gradient flowing into y's producer
    y.sum().backward()
    assert seen == [[30.0, 30.0]] and x.grad.tolist() == [30.0, 30.0]
    h_mid.remove()
    h_leaf.remove()
    x.grad = None
    (x * 3.0).sum().backward()
    assert seen == [[30.0, 30.0]] and x.grad.tolist() == [3.0, 3.0]
    x.register_hook(lambda g: 5)
    with pytest.raises(TypeError, match="hook: expected a Tensor or None, got int"):
        (x * 1.0).sum().backward()


def test_forward_pre_hook_and_forward_hook(backend: str) -> None:
    lin = nn.Linear(2, 1)
    with fastgrad.no_grad():
        lin.weight.copy_(fastgrad.tensor([[1.0, 2.0]]))
        lin.bias.fill_(0.5)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 2.0,))
    post = lin.register_forward_hook(lambda m, args, out: calls.append((m, args[0].tolist(),
                                                                         out.tolist())))
    out = lin(fastgrad.tensor([[1.0, 1.0]]))
    assert out.tolist() == [[6.5]]  # (2, 2) . (1, 2) + 0.5
    assert calls == [(lin, [[2.0, 2.0]], [[6.5]])]
    replace = lin.register_forward_hook(lambda m, args, out: out * 0.0)
    assert lin(fastgrad.tensor([[1.0, 1.0]])).tolist() == [[0.0]]
    for h in (pre, post, replace):
        h.remove()
    assert lin(fastgrad.tensor([[1.0, 1.0]])).tolist() == [[3.5]] and len(calls) == 2


def test_full_backward_hook_sees_and_replaces_gradients(backend: str) -> None:
    lin = nn.Linear(3, 2)
    x = fastgrad.randn(4, 3, requires_grad=True)
    up = fastgrad.randn(4, 2)
    got = []

    def hook(m, grad_input, grad_output):  # type: ignore[no-untyped-def]
        got.append((m, [g.numpy().copy() for g in grad_input],
                    [g.numpy().copy() for g in grad_output]))
        return (grad_input[0] * 2.0,)

    h = lin.register_full_backward_hook(hook)
    (lin(x) * up).sum().backward()
    w = lin.weight.detach().numpy()
    (m, (gi,), (go,)), = got
    assert m is lin
    np.testing.assert_allclose(go, up.numpy(), rtol=1e-6)
    np.testing.assert_allclose(gi, up.numpy() @ w, rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), 2 * up.numpy() @ w, rtol=1e-5)  # replaced
    np.testing.assert_allclose(lin.weight.grad.numpy(), up.numpy().T @ x.detach().numpy(),
                               rtol=1e-5)  # parameters are not affected
    h.remove()
    x.grad = None
    (lin(x) * up).sum().backward()
    assert len(got) == 1
    np.testing.assert_allclose(x.grad.numpy(), up.numpy() @ w, rtol=1e-5)


def test_backward_hook_when_inputs_need_no_grad(backend: str) -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1))
    seen = []
    for i in (0, 2):
        model[i].register_full_backward_hook(
            lambda m, gi, go, i=i: seen.append((i, [g is None for g in gi], go[0].shape)))
    model(fastgrad.randn(5, 3)).sum().backward()
    # Reverse order; the first layer's input needs no gradient: its grad_input is (None,).
    assert seen == [(2, [False], (5, 1)), (0, [True], (5, 3))]
    assert model[0].weight.grad is not None


def test_hook_errors(backend: str) -> None:
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="register_forward_hook: expected a callable, got int"):
        lin.register_forward_hook(3)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="backward hook of Linear: returned 2 gradients for 1 "
                                           "inputs"):
        lin(fastgrad.randn(1, 2, requires_grad=True)).sum().backward()
