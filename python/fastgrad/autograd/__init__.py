"""fastgrad.autograd: grad, backward, custom Functions, grad mode, gradcheck, functional transforms."""

from __future__ import annotations

from fastgrad.autograd import functional
from fastgrad.autograd.api import backward, grad
from fastgrad.autograd.function import Function, FunctionCtx
from fastgrad.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from fastgrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = [
    "Function",
    "FunctionCtx",
    "GradcheckError",
    "backward",
    "enable_grad",
    "functional",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
