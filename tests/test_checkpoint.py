"""fastgrad.checkpoint on both backends: gradients identical to the unchecked run (also with
dropout: the generator is replayed), intermediates not kept after forward, edge cases. The memory
figure is bench/bench_checkpoint.py."""

from __future__ import annotations

import gc

import fastgrad
import numpy as np
import pytest
from fastgrad import nn


def mlp(depth: int = 6, width: int = 8, p: float = 0.0) -> nn.Sequential:
    layers: list = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()] + ([nn.Dropout(p)] if p else [])
    return nn.Sequential(*layers)


def grads(model: nn.Module, run, x: fastgrad.Tensor) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    model.zero_grad()
    x.grad = None
    fastgrad.manual_seed(7)  # the same dropout masks for both runs
    (run(x) ** 2).sum().backward()
    out = [p.grad.numpy().copy() for p in model.parameters()]
    return out + ([x.grad.numpy().copy()] if x.requires_grad else [])


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("p", [0.0, 0.5])
def test_gradients_identical(backend: str, requires_grad: bool, p: float) -> None:
    model = mlp(p=p)
    x = fastgrad.randn(5, 8).requires_grad_(requires_grad)
    plain = grads(model, model, x)
    seq = grads(model, lambda t: fastgrad.checkpoint_sequential(model, 3, t), x)
    whole = grads(model, lambda t: fastgrad.checkpoint(model, t), x)
    assert len(plain) == 12 + requires_grad
    for a, b, c in zip(plain, seq, whole):
        assert np.abs(a).sum() > 0
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_graph_and_intermediates_not_kept(backend: str) -> None:
    model = mlp(depth=8, width=16)
    x = fastgrad.randn(4, 16, requires_grad=True)
    y = fastgrad.checkpoint(model, x)
    assert y.grad_fn.name() == "CheckpointBackward"
    nexts = [fn.name() for fn, _ in y.grad_fn.next_functions if fn is not None]
    assert nexts == ["AccumulateGrad", "AccumulateGrad"]  # the anchor and x: nothing of model
    if backend == "cpp":
        live = fastgrad._backend.current.live_counts
        gc.collect()
        before = live()
        keep_plain = model(x)
        plain_delta = [a - b for a, b in zip(live(), before)]
        del keep_plain
        gc.collect()
        before = live()
        keep_ckpt = fastgrad.checkpoint(model, x)
        ckpt_delta = [a - b for a, b in zip(live(), before)]
        # nodes: several per layer vs the checkpoint node and its anchor's accumulator
        assert plain_delta[1] >= 24 and ckpt_delta[1] == 2, (plain_delta, ckpt_delta)
        assert ckpt_delta[0] <= 3 and plain_delta[0] >= 16, (plain_delta, ckpt_delta)  # tensors
        del keep_ckpt


def test_tuple_outputs_non_tensor_args_and_kwargs(backend: str) -> None:
    w = fastgrad.tensor([1.0, 2.0], requires_grad=True)

    def f(a: fastgrad.Tensor, scale: float, *, shift: float) -> tuple:
        return (a * w * scale + shift).exp(), (a * a).sum()

    a = fastgrad.tensor([0.5, -1.0], requires_grad=True)
    y, z = fastgrad.checkpoint(f, a, 2.0, shift=1.0)
    (y.sum() + z).backward()
    ga, gw = a.grad.numpy().copy(), w.grad.numpy().copy()
    a.grad = w.grad = None
    y, z = f(a, 2.0, shift=1.0)
    (y.sum() + z).backward()
    np.testing.assert_allclose(ga, a.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(gw, w.grad.numpy(), rtol=1e-6)


def test_no_grad_and_errors(backend: str) -> None:
    model = mlp(depth=2)
    x = fastgrad.randn(3, 8)
    with fastgrad.no_grad():
        y = fastgrad.checkpoint(model, x)
    assert y.grad_fn is None and not y.requires_grad
    with pytest.raises(NotImplementedError, match="only the reentrant kind"):
        fastgrad.checkpoint(model, x, use_reentrant=False)
    with pytest.raises(ValueError, match=r"segments must be in \[1, 4\], got 5"):
        fastgrad.checkpoint_sequential(model, 5, x)
    x.requires_grad_(True)
    y = fastgrad.checkpoint(model, x)
    with fastgrad.no_grad():
        x.mul_(2.0)  # the recomputation would see other values: refused
    with pytest.raises(RuntimeError, match="saved tensor 0 of CheckpointBackward .* is at version 1"):
        y.sum().backward()


def test_grad_and_create_graph_are_refused(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    for run in (lambda y: fastgrad.grad(y, x), lambda y: y.backward(create_graph=True)):
        y = fastgrad.checkpoint(lambda t: (t * t).sum(), x)
        with pytest.raises(RuntimeError, match=r"checkpoint: its backward runs an inner "
                                               r"loss\.backward\(\), which works only inside a "
                                               r"plain \.backward\(\)"):
            run(y)
