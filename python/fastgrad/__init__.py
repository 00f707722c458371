"""fastgrad: reverse-mode automatic differentiation for CPUs with a PyTorch-shaped Tensor API.

The graph, the backward engine and the kernels are C++ (``fastgrad._core``); a pure-Python/NumPy
backend (``fastgrad.reference``) implements the same ops. Switch with ``fastgrad.set_backend``
or the ``FASTGRAD_BACKEND`` environment variable.
"""

from __future__ import annotations

import os as _os

# Before the extension (and with it the OpenMP runtime) loads: idle OpenMP threads sleep instead
# of spinning. On machines whose second vCPU is often busy (or shared with other thread pools,
# NumPy's BLAS or PyTorch's, in the same process), spinning threads made two-thread runs 2-10x
# slower than one thread (bench/run.py); sleeping costs microseconds per parallel region, and
# fastgrad opens one only for work large enough to pay for that. A value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from fastgrad import (
    _backend,
    _ops,
    _tensor_ops,
    accelerator,
    autograd,  # noqa: F401
    backends,
    cuda,
    linalg,  # noqa: F401
    nn,
    optim,
    serialization,
    utils,
    viz,
)
from fastgrad._backend import get_backend, set_backend
from fastgrad._config import show_config
from fastgrad._creation import (
    arange,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from fastgrad._device import (
    device,
    get_default_device,
    get_default_dtype,
    set_default_device,
    set_default_dtype,
)
from fastgrad._dtype import bool_ as bool
from fastgrad._dtype import dtype, float32, float64, int64
from fastgrad._generator import Generator
from fastgrad._indexing import getitem as _getitem  # noqa: F401 (installs t[idx])
from fastgrad._ops import (
    argmax,
    argmin,
    broadcast_to,
    cat,
    clamp,
    concatenate,
    flatten,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    permute,
    pow,
    reshape,
    softmax,
    split,
    squeeze,
    stack,
    std,
    sum,
    transpose,
    unsqueeze,
    var,
)
from fastgrad._serialization import load, save
from fastgrad._version import __version__ as __version__
from fastgrad.autograd import (
    Function,
    checkpoint,
    checkpoint_sequential,
    enable_grad,
    grad,
    gradcheck,
    gradgradcheck,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from fastgrad.tensor import Tensor, matmul, maximum, minimum, result_type, where

# fastgrad.exp, fastgrad.log1p, ...: the op table's module functions (rows with function=True),
# then fastgrad.mm, fastgrad.gather, ...: module forms of the composite Tensor methods.
for _name in _ops.TABLE_FUNCTIONS:
    globals()[_name] = getattr(_ops, _name)
globals().update(_tensor_ops.functions)
numel = _tensor_ops.numel

float = float32
double = float64
long = int64



def set_num_threads(n: int) -> None:
    """Threads used by the C++ kernels (OpenMP); results are identical for any count."""
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive count, got {n}")
    for b in _backend._BACKENDS.values():
        b.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the C++ kernels use."""
    return int(_backend.current.get_num_threads())


__all__ = [
    "Function",
    "Tensor",
    "abs",
    "accelerator",
    "arange",
    "argmax",
    "argmin",
    "backends",
    "bool",
    "broadcast_to",
    "cat",
    "checkpoint",
    "checkpoint_sequential",
    "clamp",
    "concatenate",
    "cos",
    "cuda",
    "device",
    "double",
    "dtype",
    "empty",
    "empty_like",
    "enable_grad",
    "exp",
    "eye",
    "flatten",
    "float",
    "float32",
    "float64",
    "from_numpy",
    "full",
    "full_like",
    "get_backend",
    "get_default_device",
    "get_default_dtype",
    "get_num_threads",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "int64",
    "is_grad_enabled",
    "linspace",
    "load",
    "log",
    "log_softmax",
    "logsumexp",
    "long",
    "manual_seed",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "optim",
    "permute",
    "pow",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "relu",
    "reshape",
    "result_type",
    "save",
    "set_backend",
    "set_default_device",
    "set_default_dtype",
    "set_grad_enabled",
    "set_num_threads",
    "show_config",
    "sigmoid",
    "sin",
    "softmax",
    "split",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "sum",
    "tanh",
    "tensor",
    "transpose",
    "unsqueeze",
    "var",
    "viz",
    "where",
    "zeros",
    "zeros_like",
]
__all__ += [n for n in (*_ops.TABLE_FUNCTIONS, *_tensor_ops.FUNCTIONS, "numel", "linalg")
            if n not in __all__]
__all__ += ["Generator", "serialization", "utils"]

# --- h9-interop: DLPack (Tensor.__dlpack__, fastgrad.from_dlpack, fastgrad.utils.dlpack) and
# fastgrad.onnx.export (the onnx package is imported only on export) ---
from fastgrad import onnx
from fastgrad._dlpack import from_dlpack

__all__ += ["from_dlpack", "onnx"]
