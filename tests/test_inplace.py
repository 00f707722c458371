"""In-place safety on both backends: version counters (shared by views) make a backward that needs
a tensor modified in place since it was saved raise, naming the op and the versions; in-place ops
on leaves that require grad raise outside no_grad."""

from __future__ import annotations

from typing import Callable

import fastgrad
import numpy as np
import pytest
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
    for fn in INPLACE.values():
        with pytest.raises(RuntimeError, match="a leaf tensor that requires grad is being used in "
                                               "an in-place operation"):
            fn(w)
    assert w.tolist() == [1.0, 2.0] and w._version == 0
    with fastgrad.no_grad():
        w.add_(1.0)
        w[1] = 7.0
    assert w.tolist() == [2.0, 7.0] and w._version == 2


def test_recorded_inplace_ops_on_non_leaves(backend: str) -> None:
    x = fastgrad.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = fastgrad.tensor([0.5, 0.5, 0.5], requires_grad=True)
    y = x * 2.0
    y.add_(1.0)
    y.mul_(3.0)
    y.sub_(w)
    y.relu_()  # (2x + 1) * 3 - w = [8.5, -9.5, 20.5]
    assert y.grad_fn.name() == "ReluBackward" and y._version == 4 and not y.is_leaf
    assert y.tolist() == [8.5, 0.0, 20.5]
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 0.0, 6.0] and w.grad.tolist() == [-1.0, 0.0, -1.0]


def test_recorded_copy_fill_and_setitem(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = fastgrad.tensor([4.0], requires_grad=True)
    y = x * x
    y[1] = w  # basic index, value requiring grad
    z = x * 1.0
    z[[0, 2]] = 7.0  # advanced index, constant value
    (y * fastgrad.tensor([1.0, 10.0, 100.0]) + z).sum().backward()
    assert y.tolist() == [1.0, 4.0, 9.0] and z.tolist() == [7.0, 2.0, 7.0]
    assert x.grad.tolist() == [2.0, 1.0, 600.0] and w.grad.tolist() == [10.0]
    u = x * 1.0
    u.copy_(w)  # broadcast from a leaf: x gets zero gradient through u
    v = x * 1.0
    v.fill_(5.0)
    assert u.tolist() == [4.0] * 3 and v.tolist() == [5.0] * 3 and v.requires_grad
    x.grad = w.grad = None
    (u.sum() + v.sum()).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0] and w.grad.tolist() == [3.0]
    with pytest.raises(RuntimeError, match="setitem: an index that repeats positions"):
        u[[0, 0]] = w


def test_recorded_inplace_on_a_saved_output_raises_at_backward(backend: str) -> None:
    x = fastgrad.tensor([0.0, 1.0], requires_grad=True)
    y = x.sigmoid()  # SigmoidBackward saves its output y
    y.mul_(2.0)  # allowed (recorded); y's memory now differs from what sigmoid saved
    with pytest.raises(RuntimeError, match=stale(0, "SigmoidBackward", r"\(2,\)", 1, 0)):
        y.sum().backward()


def test_recorded_inplace_on_views_is_refused(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    v = y[0:1]
    for t in (v, y):
        with pytest.raises(RuntimeError, match=r"mul_: an in-place operation recorded by autograd "
                                               r"on a view, or on a tensor that has views"):
            t.mul_(3.0)
    assert y._version == 0
    with fastgrad.no_grad():
        v.mul_(3.0)  # not recorded: allowed, and y sees it
    assert y.tolist() == [6.0, 4.0]


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
