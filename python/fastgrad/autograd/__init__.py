"""fastgrad.autograd: grad, backward, custom Functions, grad mode, gradcheck, anomaly mode and the
functional transforms (fastgrad.autograd.functional)."""

from __future__ import annotations

from fastgrad.autograd import functional, graph
from fastgrad.autograd.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from fastgrad.autograd.api import backward, grad
from fastgrad.autograd.checkpoint import checkpoint, checkpoint_sequential
from fastgrad.autograd.function import Function, FunctionCtx
from fastgrad.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from fastgrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from fastgrad.autograd.graph import Variable  # h8-dist: Variable._execution_engine.queue_callback

__all__ = [
    "Function",
    "FunctionCtx",
    "GradcheckError",
    "Variable",
    "backward",
    "checkpoint",
    "checkpoint_sequential",
    "detect_anomaly",
    "enable_grad",
    "functional",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "graph",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "no_grad",
    "set_detect_anomaly",
    "set_grad_enabled",
]
