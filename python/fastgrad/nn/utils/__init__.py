"""fastgrad.nn.utils: helpers around modules (``rnn``: packed sequences).

Minimal package from the sequence-layers branch; the clip_grad helpers arrive from another branch.
"""

from __future__ import annotations

from fastgrad.nn.utils import rnn

__all__ = ["rnn"]
