"""detect_anomaly on both backends: the backward op that produces NaN/inf raises, naming the op and
the forward line that created it; without anomaly mode NaN flows silently (as in PyTorch)."""

from __future__ import annotations

import math

import fastgrad
import pytest
from fastgrad.autograd import Function, detect_anomaly, is_anomaly_enabled, set_detect_anomaly


def test_names_the_op_and_the_forward_line(backend: str) -> None:
    x = fastgrad.tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt()  # the forward line reported below
        loss = (y * 3.0).sum()
        with pytest.raises(RuntimeError) as e:
            loss.backward()
    msg = str(e.value)
    assert msg.startswith("detect_anomaly: function 'SqrtBackward' returned nan or inf values in "
                          "its output 0 (the gradient of input 0, shape (2,)). The forward call "
                          "that created it:\n")
    assert "y = x.sqrt()  # the forward line reported below" in msg
    assert f'File "{__file__}"' in msg and "in test_names_the_op_and_the_forward_line" in msg
    assert x.grad is None


def test_nan_from_zero_times_inf(backend: str) -> None:
    x = fastgrad.tensor(0.0, dtype=fastgrad.float64, requires_grad=True)
    with detect_anomaly():
        y = x.log() * 0.0  # forward: -inf * 0 = nan; backward of log: 0 * (1/0) = nan
        with pytest.raises(RuntimeError, match=r"(?s)function 'LogBackward' returned nan or "
                           r"inf .*shape \(\)\)\. The forward call .*x\.log\(\) \* 0\.0"):
            y.backward()


def test_without_anomaly_mode_nan_flows(backend: str) -> None:
    assert not is_anomaly_enabled()
    x = fastgrad.tensor([0.0], requires_grad=True)
    x.sqrt().sum().backward()
    assert math.isinf(x.grad.item())


def test_forward_outside_anomaly_mode_is_still_caught(backend: str) -> None:
    x = fastgrad.tensor([0.0], requires_grad=True)
    y = x.sqrt().sum()
    with detect_anomaly(), pytest.raises(
            RuntimeError, match=r"(?s)'SqrtBackward' .*its forward ran outside detect_anomaly\(\)"):
        y.backward()


def test_finite_backward_is_unchanged(backend: str) -> None:
    x = fastgrad.tensor([1.0, 4.0], requires_grad=True)
    with detect_anomaly():
        (x.sqrt() * x).sum().backward()
    assert x.grad.tolist() == pytest.approx([1.5, 3.0])


class BadGrad(Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x * 2.0

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return g * float("nan")


def test_custom_function_and_mode_switches(backend: str) -> None:
    x = fastgrad.ones(2, requires_grad=True)
    set_detect_anomaly(True)
    try:
        assert is_anomaly_enabled()
        y = BadGrad.apply(x).sum()
        with pytest.raises(RuntimeError,
                           match=r"(?s)'BadGradBackward' returned nan .*BadGrad\.apply"):
            y.backward()
    finally:
        set_detect_anomaly(False)
    assert not is_anomaly_enabled()

    @detect_anomaly()
    def inside() -> bool:
        return is_anomaly_enabled()

    assert inside() and not is_anomaly_enabled()
