"""fastgrad.backends: PyTorch's torch.backends flags for a CPU-only library. ``mps`` and
``cudnn`` report nothing available; their settable flags (``cudnn.benchmark``,
``cudnn.deterministic``, ...) are accepted and change nothing. (fastgrad's own compute backends,
C++ or Python, are chosen with ``fastgrad.set_backend``.)
"""

from __future__ import annotations

from fastgrad.backends import cuda, cudnn, mkldnn, mps, openmp

__all__ = ["cuda", "cudnn", "mkldnn", "mps", "openmp"]
