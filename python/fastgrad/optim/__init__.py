"""fastgrad.optim: SGD (momentum, dampening, nesterov, weight_decay), Adam, AdamW, RMSprop,
Adagrad, Adadelta, Adamax, NAdam, RAdam and LBFGS, with PyTorch's update formulas and defaults;
each step (LBFGS aside) is one fused in-place backend kernel per group. ``lr_scheduler``: PyTorch's
learning-rate schedulers.
"""

from __future__ import annotations

from fastgrad.optim import lr_scheduler
from fastgrad.optim.adam import Adam, AdamW
from fastgrad.optim.adaptive import Adadelta, Adagrad, Adamax, NAdam, RAdam, RMSprop
from fastgrad.optim.lbfgs import LBFGS
from fastgrad.optim.optimizer import Optimizer
from fastgrad.optim.sgd import SGD

__all__ = ["LBFGS", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "NAdam", "Optimizer",
           "RAdam", "RMSprop", "lr_scheduler"]
