"""Public gradcheck / gradgradcheck on both backends: they pass on right rules, and on a wrong rule
they raise naming the worst element (first order, and second order through create_graph)."""

from __future__ import annotations

import fastgrad
import numpy as np
import pytest
from fastgrad.autograd import Function, GradcheckError


def f64(a: object, requires_grad: bool = True) -> fastgrad.Tensor:
    return fastgrad.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


class Square(Function):
    """x**2 with a custom backward (the subclasses below)."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        return x * x


class WrongSquare(Square):
    """x**2 whose backward is off by 1 % at x.flat[2] only."""

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        scale = np.ones(x.shape)
        scale.reshape(-1)[2] = 1.01
        return g * 2.0 * x * fastgrad.tensor(scale)


class FlatSquare(Square):
    """x**2 whose first derivative is right but is not differentiable (x detached)."""

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return g * 2.0 * x.detach()


def test_public_names() -> None:
    assert fastgrad.gradcheck is fastgrad.autograd.gradcheck
    assert fastgrad.gradgradcheck is fastgrad.autograd.gradgradcheck


def test_gradcheck_passes_on_right_rules(backend: str, rng: np.random.Generator) -> None:
    x = f64(rng.standard_normal((2, 3)))
    w = f64(rng.standard_normal((3, 2)))
    assert fastgrad.gradcheck(lambda a, b: ((a @ b).tanh() * a.sum()).exp(), (x, w))
    assert fastgrad.gradgradcheck(lambda a, b: ((a @ b).tanh() * a.sum()).exp(), (x, w))


def test_gradcheck_names_the_worst_element(backend: str) -> None:
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(GradcheckError) as e:
        fastgrad.gradcheck(WrongSquare.apply, (x,))
    msg = str(e.value)
    assert msg.startswith("gradcheck: Jacobian mismatch for output 0 (shape (2, 2)) element (1, 0) "
                          "w.r.t. input 0 (shape (2, 2)) element (1, 0): analytical 6.06 vs "
                          "numerical 6")
    assert "1 of 16 elements differ" in msg
    assert fastgrad.gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False


def test_gradgradcheck_catches_a_non_differentiable_rule(backend: str) -> None:
    x = f64([1.0, -2.0, 3.0])
    assert fastgrad.gradcheck(FlatSquare.apply, (x,))  # first order is right
    with pytest.raises(GradcheckError, match=r"^gradgradcheck: Jacobian mismatch for output 0 "
                                             r"\(shape \(3,\)\) element \(\d,\) w\.r\.t\. input 0"):
        fastgrad.gradgradcheck(FlatSquare.apply, (x,))
    assert fastgrad.gradgradcheck(lambda t: t * t, (x,))


def test_gradcheck_input_errors(backend: str) -> None:
    with pytest.raises(ValueError, match="gradcheck: no input requires grad"):
        fastgrad.gradcheck(lambda t: t, (f64([1.0], requires_grad=False),))
    with pytest.raises(TypeError, match="gradcheck: input 0 must be float64, got float32"):
        fastgrad.gradcheck(lambda t: t, (fastgrad.ones(2, requires_grad=True),))
    with pytest.raises(ValueError, match=r"gradgradcheck: got 2 grad_outputs for 1 outputs"):
        fastgrad.gradgradcheck(lambda t: t * t, (f64([1.0]),), grad_outputs=[f64([1.0])] * 2)
