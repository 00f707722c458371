"""fastgrad.optim: SGD (momentum, dampening, nesterov, weight_decay), Adam and AdamW, with
PyTorch's update formulas and defaults; each step is one fused in-place backend kernel per group.
"""

from __future__ import annotations

from fastgrad.optim.adam import Adam, AdamW
from fastgrad.optim.optimizer import Optimizer
from fastgrad.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]
