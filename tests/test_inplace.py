"""In-place safety on both backends: version counters (shared by views) make a backward that needs
a tensor modified in place since it was saved raise, naming the op and the versions; in-place ops
on leaves that require grad raise outside no_grad."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import fastgrad
from fastgrad.autograd import Function


def stale(i: int, op: str, shape: str, now: int, saved: int) -> str:
    return (rf"^one of the variables needed for gradient computation has been modified by an "
            rf"in-place operation: saved tensor {i} of {op} \(shape {shape}\) is at version {now}; "
            rf"expected version {saved} instead\. Use the out-of-place op, or clone\(\) the tensor")


INPLACE: dict[str, Callable[[fastgrad.Tensor], object]] = {
    "add_": lambda t: t.add_(1.0),
    "mul_": lambda t: t.mul_(2.0),
    "relu_": lambda t: t.relu_(),
    "setitem": lambda t: t.__setitem__(0, 5.0),
    "fancy_setitem": lambda t: t.__setitem__([0, 2], 5.0),
    "fill_": lambda t: t.fill_(3.0),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_modified_saved_input_raises(backend: str, name: str) -> None:
    x = fastgrad.tensor([1.0, -2.0, 3.0])
    w = fastgrad.tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = (w * x).sum()  # MulBackward saves (w, x)
    v0 = x._version
    INPLACE[name](x)
    assert x._version == v0 + 1
    with pytest.raises(RuntimeError, match=stale(1, "MulBackward", r"\(3,\)", v0 + 1, v0)):
        y.backward()
    assert w.grad is None  # nothing was accumulated from the stale graph


def test_modified_saved_output_raises(backend: str) -> None:
    w = fastgrad.tensor([0.5, 1.0], requires_grad=True)
    y = w.exp()  # ExpBackward saves its output
    with fastgrad.no_grad():
        y.mul_(2.0)
        y.add_(1.0)
    with pytest.raises(RuntimeError, match=stale(0, "ExpBackward", r"\(2,\)", 2, 0)):
        y.sum().backward()


def test_views_share_the_version_counter(backend: str) -> None:
    base = fastgrad.zeros(4)
    view = base[1:3]
    w = fastgrad.ones(2, requires_grad=True)
    y = (w * view).sum()
    base[0] = 1.0  # a different element, same memory: still refused (as in PyTorch)
    assert view._version == base._version == 1
    with pytest.raises(RuntimeError, match=stale(1, "MulBackward", r"\(2,\)", 1, 0)):
        y.backward()


def test_optimizer_step_between_forward_and_backward_raises(backend: str) -> None:
    lin = fastgrad.nn.Linear(3, 2)
    opt = fastgrad.optim.SGD(lin.parameters(), lr=0.1)
    x = fastgrad.ones(4, 3, requires_grad=True)
    loss = lin(x).tanh().sum()
    loss.backward(retain_graph=True)
    opt.step()  # updates the weight that the matmul saved to compute x's gradient
    with pytest.raises(RuntimeError, match="has been modified by an in-place operation"):
        loss.backward()


def test_unsaved_or_unmodified_tensors_are_fine(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0])
    w = fastgrad.tensor([3.0, 4.0], requires_grad=True)
    y = (w + x).sum() + (w * x.clone()).sum()  # add saves nothing; mul saves the clone
    x.mul_(10.0)
    y.backward()
    assert w.grad.tolist() == [2.0, 3.0]


def test_inplace_on_leaf_requiring_grad(backend: str) -> None:
    w = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    for name, fn in INPLACE.items():
        with pytest.raises(RuntimeError, match="a leaf tensor that requires grad is being used in "
                                               "an in-place operation"):
            fn(w)
    assert w.tolist() == [1.0, 2.0] and w._version == 0
    with fastgrad.no_grad():
        w.add_(1.0)
        w[1] = 7.0
    assert w.tolist() == [2.0, 7.0] and w._version == 2


def test_inplace_on_non_leaf_requiring_grad_is_refused(backend: str) -> None:
    w = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    y = w * 2.0
    with pytest.raises(RuntimeError, match="mul_: in-place operations on tensors that require grad "
                                           "are not supported outside no_grad"):
        y.mul_(3.0)


class Scale(Function):
    @staticmethod
    def forward(ctx, x, s):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(s)
        return x * s

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (s,) = ctx.saved_tensors
        return g * s, None


def test_custom_function_saved_tensors_are_checked(backend: str) -> None:
    x = fastgrad.ones(3, requires_grad=True)
    s = fastgrad.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    y = Scale.apply(x, s).sum()
    s.add_(1.0)
    with pytest.raises(RuntimeError, match=stale(0, "ScaleBackward", r"\(3,\)", 1, 0)):
        y.backward()
