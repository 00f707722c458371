# The pure-Python/NumPy reference backend: the same functions as the C++ extension fastgrad._core
# (see the contract in python/fastgrad/_backend.py), over RTensor handles. This file only
# re-exports; the graph is in tape.py, the engine in engine.py, the ops in ops_<family>.py.
from __future__ import annotations

from fastgrad.reference.engine import backward, function_apply, grad
from fastgrad.reference.ops_elementwise import (
    abs,
    add,
    clamp,
    clone,
    cos,
    div,
    eq,
    exp,
    from_numpy,
    full,
    ge,
    gt,
    le,
    log,
    logical_not,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    relu,
    relu_backward,
    scalar,
    sigmoid,
    sigmoid_backward,
    sign,
    sin,
    sqrt,
    sub,
    tanh,
    tanh_backward,
    to_dtype,
    to_numpy,
    where,
)
from fastgrad.reference.ops_index import put_add, take
from fastgrad.reference.ops_inplace import copy_, fill_, put_
from fastgrad.reference.ops_loss import cross_entropy_rows, cross_entropy_rows_backward
from fastgrad.reference.ops_matmul import matmul
from fastgrad.reference.ops_optim import adam_step_, sgd_step_
from fastgrad.reference.ops_reduce import (
    amax,
    amin,
    argmax,
    argmin,
    log_softmax,
    softmax,
    sum,
    sum_to,
)
from fastgrad.reference.ops_shape import (
    cat,
    contiguous,
    expand,
    permute,
    reshape,
    slice,
    slice_backward,
)
from fastgrad.reference.tape import (
    detach,
    get_num_threads,
    is_anomaly_enabled,
    is_grad_enabled,
    is_keep_outputs_enabled,
    rebase_history,
    set_anomaly_enabled,
    set_keep_outputs_enabled,
    set_grad_enabled,
    set_num_threads,
)

__all__ = [
    "from_numpy", "to_numpy", "scalar", "full",
    "detach", "clone", "contiguous", "rebase_history",
    "neg", "exp", "log", "sqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid", "relu",
    "relu_backward", "sigmoid_backward", "tanh_backward",
    "add", "sub", "mul", "div", "pow", "maximum", "minimum",
    "lt", "le", "gt", "ge", "eq", "ne", "logical_not", "where",
    "clamp", "to_dtype",
    "sum", "amax", "amin", "argmax", "argmin", "softmax", "log_softmax",
    "sum_to", "reshape", "permute", "expand",
    "slice", "slice_backward", "cat",
    "take", "put_add", "matmul", "cross_entropy_rows", "cross_entropy_rows_backward",
    "copy_", "fill_", "put_",
    "backward", "grad",
    "is_grad_enabled", "set_grad_enabled", "is_anomaly_enabled", "set_anomaly_enabled",
    "is_keep_outputs_enabled", "set_keep_outputs_enabled",
    "function_apply",
    "set_num_threads", "get_num_threads",
    "sgd_step_", "adam_step_",
]
