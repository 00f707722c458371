"""Backend selection: the C++ extension (``cpp``) or the pure-Python/NumPy reference (``python``).

Both backends are modules with the same functions over their own tensor handles ("impls"); the
Tensor class in tensor.py wraps a handle and never looks inside it. The contract:

Handle attributes: ``shape`` (tuple), ``dtype`` (int code: 0 float32, 1 float64, 2 int64, 3 bool),
``ndim``, ``numel``, ``requires_grad`` (settable on leaves), ``grad`` (handle or None, settable),
``output_nr``, ``grad_fn`` (node or None; a node has ``name()``, ``next_functions``, ``output(i)``, ``variable`` (an
AccumulateGrad's leaf) and ``register_prehook(nr, fn)``), ``is_leaf``,
``retains_grad``, ``retain_grad()``, ``register_hook(fn)`` (fn: handle -> handle or None),
``version`` (in-place counter), ``has_views`` (a view op aliased its memory), ``is_contiguous``,
``item()``, ``key`` (identity: equal for every handle of one tensor; one C++ tensor may come back
in several handle objects, so compare keys, never id() of handles).

Functions (the op table, ``_optable.PRIMITIVES`` and ``RUNTIME``, lists them all; all ops record a node when grad mode is on and an input requires grad; binary ops take
equal dtypes and broadcast like NumPy):
    from_numpy(a) to_numpy(x) scalar(value, dtype) full(shape, value, dtype)
    detach clone contiguous rebase_history(dst, src)   (dst takes over src's grad_fn)
    neg exp log sqrt abs sign sin cos tanh sigmoid relu log1p expm1 erf softplus
    relu_backward(g, y) sigmoid_backward(g, y) tanh_backward(g, y)
    add sub mul div pow maximum minimum lt le gt ge eq ne logical_not where(c, a, b)
    clamp(x, lo, hi) to_dtype(x, dtype)
    sum(x, dims, keepdim) amax amin argmax(x, dim, keepdim) argmin softmax(x, dim) log_softmax
    sum_to(x, shape) reshape(x, shape) permute(x, dims) expand(x, shape)
    slice(x, dim, start, stop, step) slice_backward(g, shape, dim, start, stop, step) cat(xs, dim)
    take(x, pos) put_add(src, pos, shape) matmul(a, b)
    cross_entropy_rows(x, t) cross_entropy_rows_backward(g, x, lse, t)   (fused softmax + NLL)
    copy_(dst, src) fill_(dst, value) put_(dst, pos, src)              (in place, no autograd)
    backward(roots, grads, retain_graph, create_graph)
    grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused) -> list
    is_grad_enabled() set_grad_enabled(flag)
    is_anomaly_enabled() set_anomaly_enabled(flag)      (detect_anomaly: thread-local, like grad mode)
    set_creation_trace_fn(fn)        (anomaly mode: fn() -> the Python line creating a node)
    is_keep_outputs_enabled() set_keep_outputs_enabled(flag)          (fastgrad.viz.record)
    function_apply(name, backward_fn, inputs, outputs)   (custom autograd.Function nodes)
    set_num_threads(n) get_num_threads()
Errors: ValueError for shapes, TypeError for dtypes, IndexError for indices, RuntimeError for
autograd misuse; each message names the op and the shapes.
"""

from __future__ import annotations

import os
from types import ModuleType

_BACKENDS: dict[str, ModuleType] = {}
_core_error: str | None = None

try:
    from fastgrad import _core  # type: ignore[attr-defined]

    _BACKENDS["cpp"] = _core
except ImportError as e:  # the extension did not build or is not installed
    _core_error = str(e)

# Note [Fork safety] (issue 14, item 7): libgomp's thread pool does not survive fork, so a forked child
# (multiprocessing, DataLoader workers) whose first parallel region would use the parent's pool
# hangs. The child runs one thread, as PyTorch's do; results are bitwise identical at any count.
if "cpp" in _BACKENDS and hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _BACKENDS["cpp"].set_num_threads(1))

from fastgrad import reference as _reference

_BACKENDS["python"] = _reference

# No silent fallback: without the extension, only an explicit FASTGRAD_BACKEND=python imports.
_default = os.environ.get("FASTGRAD_BACKEND", "cpp")
if _default not in ("cpp", "python"):
    raise ValueError(f"FASTGRAD_BACKEND must be 'cpp' or 'python', not {_default!r}")
if _default == "cpp" and "cpp" not in _BACKENDS:
    raise ImportError(
        f"fastgrad's C++ extension failed to import ({_core_error}); reinstall with `pip install .` "
        "or set FASTGRAD_BACKEND=python to use the pure-Python backend only"
    )

current: ModuleType = _BACKENDS[_default]
current_name: str = _default


def available() -> list[str]:
    """Names of the backends that can be used in this process."""
    return list(_BACKENDS)


def set_backend(name: str) -> None:
    """Select the backend for tensors created from now on: ``"cpp"`` or ``"python"``."""
    global current, current_name
    if name not in ("cpp", "python"):
        raise ValueError(f"set_backend: unknown backend {name!r}; use 'cpp' or 'python'")
    if name not in _BACKENDS:
        raise RuntimeError(f"set_backend: the C++ backend is not available: {_core_error}")
    current = _BACKENDS[name]
    current_name = name


def get_backend() -> str:
    """The name of the backend new tensors are created on."""
    return current_name
