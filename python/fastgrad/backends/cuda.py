"""fastgrad.backends.cuda: no CUDA; ``matmul.allow_tf32`` and friends are accepted and ignored."""

from __future__ import annotations


class _MatmulFlags:
    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built() -> bool:
    return False
