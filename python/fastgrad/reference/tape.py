# The reference backend's graph: RTensor (a NumPy array plus autograd metadata), Node, saved
# tensors, grad mode, the leaf sink AccumulateGrad, and the boundary checks the ops share.
# Mirrors cpp/tensor/tensor.h and cpp/autograd/node.{h,cpp}. Not here: the engine (engine.py),
# the ops and their derivative rules (ops_*.py).
from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

# dtype codes 0..3, as in cpp/tensor/dtype.h and python/fastgrad/_dtype.py.
NP_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))
DTYPE_NAMES = ("float32", "float64", "int64", "bool")
FLOAT32, FLOAT64, INT64, BOOL = 0, 1, 2, 3

Shape = tuple  # a tuple of Python ints

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or to read saved tensors after they "
    "were freed) in {}. Saved tensors are freed after backward; pass retain_graph=True to the "
    "first backward if you need to backward twice."
)


_CODES = {d: code for code, d in enumerate(NP_DTYPES)}


def dtype_code(nd: np.dtype) -> int | None:
    """The code of a NumPy dtype (native byte order only), or None if fastgrad has no such dtype."""
    return _CODES.get(nd)


def is_floating(code: int) -> bool:
    return code in (FLOAT32, FLOAT64)


# --- grad mode (thread-local, like cpp/autograd/grad_mode.h) -------------------------------------
_mode = threading.local()


def is_grad_enabled() -> bool:
    """Whether ops record nodes on this thread (default True)."""
    return getattr(_mode, "enabled", True)


def set_grad_enabled(flag: bool) -> None:
    """Turns recording on or off for this thread."""
    _mode.enabled = bool(flag)


def is_anomaly_enabled() -> bool:
    """Whether anomaly mode is on for this thread (see fastgrad.autograd.anomaly)."""
    return getattr(_mode, "anomaly", False)


def set_anomaly_enabled(flag: bool) -> None:
    _mode.anomaly = bool(flag)


_trace_fn: Callable[[], str] | None = None


def set_creation_trace_fn(fn: Callable[[], str]) -> None:
    """Anomaly mode: ``fn()`` gives the Python line that created a node (registered from above by
    fastgrad.autograd.anomaly, so this backend imports nothing of the user API)."""
    global _trace_fn
    _trace_fn = fn


def is_keep_outputs_enabled() -> bool:
    """Whether new nodes keep a detached alias of their outputs (fastgrad.viz.record)."""
    return getattr(_mode, "keep_outputs", False)


def set_keep_outputs_enabled(flag: bool) -> None:
    _mode.keep_outputs = bool(flag)


class GradMode:
    """``with GradMode(flag):`` sets grad mode and restores the previous one on exit."""

    def __init__(self, flag: bool) -> None:
        self.flag = bool(flag)
        self.prev = True

    def __enter__(self) -> None:
        self.prev = is_grad_enabled()
        set_grad_enabled(self.flag)

    def __exit__(self, *exc: object) -> None:
        set_grad_enabled(self.prev)


# --- thread count (stored only: NumPy does the work) -------------------------------------------
def _initial_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    return os.cpu_count() or 1


_num_threads = [_initial_threads()]


def set_num_threads(n: int) -> None:
    """Records the thread count (one process-wide value, as the C++ backend's)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive count, got {n}")
    _num_threads[0] = n


def get_num_threads() -> int:
    return _num_threads[0]


# --- RTensor -------------------------------------------------------------------------------------
def _checked_hook(fn: Callable) -> Callable:
    """Wraps a user hook: its result must be None or a handle of the gradient's shape."""

    def hook(g: RTensor) -> RTensor | None:
        r = fn(g)
        if r is None:
            return None
        if not isinstance(r, RTensor):
            raise TypeError(f"hook: expected a tensor or None, got {type(r).__name__}")
        if r.shape != g.shape:
            raise ValueError(
                f"hook: returned a gradient of shape {r.shape} for a tensor of shape {g.shape}"
            )
        return r

    return hook


class RTensor:
    """A tensor handle of the reference backend: ``data`` is the NumPy array (shared, not copied).

    ``_version`` is a list [count, has_views] shared by every view of the same memory (see Note
    [Version counter] and Storage::has_views in cpp/tensor/tensor.h). A tensor requires grad if it
    is a leaf with the flag set or if it has a grad_fn.
    """

    __slots__ = (
        "__weakref__",
        "_grad",
        "_grad_accumulator",
        "_hooks",
        "_post_acc_hooks",
        "_requires_grad",
        "_version",
        "data",
        "dtype",
        "grad_fn",
        "output_nr",
        "retains_grad",
    )

    def __init__(self, data: np.ndarray, version: list | None = None) -> None:
        code = dtype_code(data.dtype)
        if code is None:
            raise TypeError(f"unsupported dtype {data.dtype}; fastgrad has float32, float64, "
                            "int64 and bool")
        self.data = data
        self.dtype = code
        self._version = [0, False] if version is None else version
        self._requires_grad = False
        self.grad_fn: Node | None = None
        self.output_nr = 0
        self._grad: RTensor | None = None
        self.retains_grad = False
        self._hooks: list[Callable] = []
        self._post_acc_hooks: list[Callable] = []
        self._grad_accumulator: weakref.ref | None = None

    @property
    def key(self) -> int:
        """Identity of the tensor (the C++ handle's key is its TensorImpl's address)."""
        return id(self)

    # Data.
    @property
    def shape(self) -> Shape:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def numel(self) -> int:
        return int(self.data.size)

    @property
    def version(self) -> int:
        return self._version[0]

    def bump_version(self) -> None:
        self._version[0] += 1

    @property
    def has_views(self) -> bool:
        return self._version[1]

    @property
    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

    def item(self) -> Any:
        if self.numel != 1:
            raise ValueError(f"item: a tensor with {self.numel} elements cannot be converted to a "
                             f"Python scalar (shape {self.shape})")
        return self.data.reshape(-1)[0].item()

    # Autograd metadata.
    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = bool(flag)
        if not self.is_leaf and not flag:
            raise RuntimeError("you can only change requires_grad flags of leaf tensors")
        if flag and not is_floating(self.dtype):
            raise TypeError("only tensors of floating point dtype can require gradients, got "
                            f"{DTYPE_NAMES[self.dtype]}")
        if self.is_leaf:
            self._requires_grad = flag

    @property
    def grad(self) -> RTensor | None:
        return self._grad

    @grad.setter
    def grad(self, g: RTensor | None) -> None:
        if g is not None:
            if not isinstance(g, RTensor):
                raise TypeError(f"grad: expected a tensor or None, got {type(g).__name__}")
            if g.shape != self.shape:
                raise ValueError(f"grad: assigned grad of shape {g.shape} to a tensor of shape "
                                 f"{self.shape}")
            if g.dtype != self.dtype:
                raise TypeError(f"grad: assigned grad of dtype {DTYPE_NAMES[g.dtype]} to a tensor "
                                f"of dtype {DTYPE_NAMES[self.dtype]}")
        self._grad = g

    def retain_grad(self) -> None:
        """Keep this non-leaf's gradient in ``.grad`` after backward (a no-op on leaves)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        if self.is_leaf or self.retains_grad:
            return
        self.retains_grad = True
        self.grad_fn.retained.append((self.output_nr, weakref.ref(self)))

    def register_hook(self, fn: Callable) -> None:
        """fn(grad) -> new grad or None; runs before accumulation (leaf) or before grad_fn."""
        if not self._requires_grad:
            raise RuntimeError(
                "register_hook: cannot register a hook on a tensor that does not require grad"
            )
        if self.is_leaf:
            self._hooks.append(_checked_hook(fn))
        else:
            self.grad_fn.pre_hooks.append((self.output_nr, _checked_hook(fn)))

    def __repr__(self) -> str:
        fn = f", grad_fn=<{self.grad_fn.name()}>" if self.grad_fn is not None else ""
        return f"RTensor({self.data!r}{fn})"


def wrap(a: Any, code: int) -> RTensor:
    """A fresh handle over the result of a NumPy computation, forced to dtype ``code``.

    Ufuncs on 0-d arrays return NumPy scalars; np.asarray turns them back into 0-d arrays.
    """
    return RTensor(np.asarray(a, dtype=NP_DTYPES[code]))


def detach(x: RTensor) -> RTensor:
    """Same memory (and version counter), no autograd metadata."""
    return RTensor(x.data, x._version)


# --- boundary checks shared by the ops -----------------------------------------------------------
def check_same_dtype(op: str, a: RTensor, b: RTensor) -> None:
    if a.dtype != b.dtype:
        raise TypeError(
            f"{op}: dtypes {DTYPE_NAMES[a.dtype]} and {DTYPE_NAMES[b.dtype]} differ"
        )


def check_float(op: str, x: RTensor) -> None:
    if not is_floating(x.dtype):
        raise TypeError(f"{op}: expected a floating-point tensor, got {DTYPE_NAMES[x.dtype]}")


def check_numeric(op: str, x: RTensor) -> None:
    if x.dtype == BOOL:
        raise TypeError(f"{op}: not supported for dtype bool")


def broadcast_shapes(op: str, a: Shape, b: Shape) -> Shape:
    """NumPy's broadcast of two shapes; ValueError naming the op and both shapes."""
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    out = []
    for da, db in zip(pa, pb):
        if da != db and da != 1 and db != 1:
            raise ValueError(f"{op}: shapes {tuple(a)} and {tuple(b)} cannot be broadcast together")
        out.append(db if da == 1 else da)
    return tuple(out)


def as_shape(op: str, shape: Sequence[int]) -> Shape:
    """A shape argument as a tuple of Python ints."""
    try:
        return tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{op}: expected a sequence of ints for the shape, got {shape!r}") from None


def norm_dim(op: str, dim: int, ndim: int) -> int:
    """A dim in [-ndim, ndim) made non-negative; a 0-d tensor accepts 0 and -1 (as PyTorch)."""
    n = max(ndim, 1)
    dim = int(dim)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} out of range for a tensor of {ndim} dims")
    return dim % n


def norm_dims(op: str, dims: Sequence[int], ndim: int) -> tuple[int, ...]:
    """Reduction dims: empty means all; a 0-d tensor reduces over nothing."""
    if len(dims) == 0:
        return tuple(range(ndim))
    out = []
    for d in dims:
        nd = norm_dim(op, d, ndim)
        if nd in out:
            raise ValueError(f"{op}: dim {nd} appears more than once in {list(dims)}")
        out.append(nd)
    return tuple(sorted(out)) if ndim > 0 else ()


# --- graph ---------------------------------------------------------------------------------------
_seq = [0]


class SavedTensor:
    """See Note [Saved tensors] in cpp/autograd/node.h: an input is saved as itself; an output as a
    detached alias plus a weak reference to its node (a strong one would be a cycle)."""

    __slots__ = ("is_output", "output_nr", "output_of", "saved_version", "tensor")

    def __init__(self, tensor: RTensor | None, output_of: weakref.ref | None, output_nr: int,
                 is_output: bool) -> None:
        self.tensor = tensor
        self.output_of = output_of
        self.output_nr = output_nr
        self.is_output = is_output
        self.saved_version = tensor.version if tensor is not None else 0


class Node:
    """One backward function. ``next_edges[i]`` is ``(node or None, input_nr)`` for input i."""

    __slots__ = (
        "__weakref__",
        "_saved",
        "creation_trace",
        "input_meta",
        "kept_outputs",
        "next_edges",
        "output_meta",
        "outputs",
        "pre_hooks",
        "released",
        "retained",
        "seq_nr",
    )

    def __init__(self) -> None:
        self.next_edges: list[tuple[Node | None, int]] = []
        self.input_meta: list[tuple[Shape, int]] = []
        self.output_meta: list[tuple[Shape, int]] = []
        # Hooks on the gradient of output nr (register_hook on a non-leaf), and outputs whose
        # gradient is kept in .grad (retain_grad).
        self.pre_hooks: list[tuple[int, Callable]] = []
        self.retained: list[tuple[int, weakref.ref]] = []
        self.seq_nr = _seq[0]
        _seq[0] += 1
        self.released = False
        self._saved: list[SavedTensor] = []
        self.creation_trace = ""  # where the forward op was called (anomaly mode only)
        self.outputs: list[weakref.ref] = []  # the forward outputs, weakly (for fastgrad.viz)
        self.kept_outputs: list[RTensor] = []  # detached aliases, under fastgrad.viz.record()

    # grads[i] is the gradient of forward output i (never None: the engine fills zeros). Returns
    # one gradient per forward input, in the input's or the output's broadcast shape (the engine
    # reduces with sum_to); None means "no gradient".
    def apply(self, grads: list[RTensor]) -> Sequence[RTensor | None]:
        raise NotImplementedError(f"{self.name()}: apply")

    def name(self) -> str:
        return type(self).__name__

    def release_saved(self) -> None:
        self._saved = []
        self.released = True

    def output(self, i: int) -> RTensor | None:
        """Forward output i if it is still alive (or kept), else None (for fastgrad.viz)."""
        t = self.outputs[i]() if i < len(self.outputs) else None
        return t if t is not None or i >= len(self.kept_outputs) else self.kept_outputs[i]

    def register_prehook(self, nr: int, fn: Callable) -> None:
        """fn(grad of output nr) -> None or a replacement, before the node runs."""
        if not 0 <= nr < self.num_outputs():
            raise ValueError(f"register_prehook: {self.name()} has {self.num_outputs()} outputs, "
                             f"not {nr + 1}")
        self.pre_hooks.append((nr, _checked_hook(fn)))

    def needs_input_grad(self, i: int) -> bool:
        return i < len(self.next_edges) and self.next_edges[i][0] is not None

    def num_outputs(self) -> int:
        return len(self.output_meta)

    @property
    def next_functions(self) -> tuple:
        return tuple((fn, nr) if fn is not None else (None, 0) for fn, nr in self.next_edges)

    def save(self, t: RTensor | None, is_output: bool = False) -> None:
        if t is not None and is_output:
            self._saved.append(SavedTensor(detach(t), weakref.ref(self), t.output_nr, True))
        else:
            self._saved.append(SavedTensor(t, None, 0, False))

    def saved(self, i: int) -> RTensor | None:
        if self.released:
            raise RuntimeError(FREED_MESSAGE.format(self.name()))
        s = self._saved[i]
        # See Note [Version counter] in cpp/tensor/tensor.h.
        if s.tensor is not None and s.tensor.version != s.saved_version:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"in-place operation: saved tensor {i} of {self.name()} (shape {s.tensor.shape}) "
                f"is at version {s.tensor.version}; expected version {s.saved_version} instead. "
                "Use the out-of-place op, or clone() the tensor before modifying it."
            )
        if not s.is_output or s.tensor is None:
            return s.tensor
        # An output: re-attach its node as grad_fn so create_graph differentiates through it.
        fn = s.output_of()
        if fn is None or not is_grad_enabled():
            return s.tensor
        t = detach(s.tensor)
        t.grad_fn = fn
        t.output_nr = s.output_nr
        t._requires_grad = True
        return t

    def __repr__(self) -> str:
        return f"<{self.name()}>"


Rule = Callable[["FnNode", list], Sequence["RTensor | None"]]


class FnNode(Node):
    """A node whose backward is a plain function ``rule(node, grads)``. Tensors the rule needs are
    saved with ``save``; other parameters live in ``args``."""

    __slots__ = ("args", "name_", "rule")

    def __init__(self, name: str, rule: Rule, args: tuple = ()) -> None:
        super().__init__()
        self.name_ = name
        self.rule = rule
        self.args = args

    def apply(self, grads: list[RTensor]) -> Sequence[RTensor | None]:
        return self.rule(self, grads)

    def name(self) -> str:
        return self.name_


class AccumulateGrad(Node):
    """The sink of a leaf that requires grad: runs the leaf's hooks, then accumulates into .grad."""

    __slots__ = ("variable",)

    def __init__(self, variable: RTensor) -> None:
        super().__init__()
        self.variable = variable
        self.input_meta.append((variable.shape, variable.dtype))
        self.output_meta.append((variable.shape, variable.dtype))

    def name(self) -> str:
        return "AccumulateGrad"

    def release_saved(self) -> None:
        # Nothing is saved here. Not marking the sink released matters: a leaf's accumulator is
        # shared by every live graph using the leaf, and a later backward through another graph
        # must still reach it.
        pass

    # apply: the engine's accumulate_leaf (engine.py), which needs ops this module sits below.


def any_requires_grad(inputs: Sequence[RTensor | None]) -> bool:
    """True when grad mode is on and any input requires grad."""
    if not is_grad_enabled():
        return False
    return any(t is not None and t._requires_grad for t in inputs)


def gradient_edge(t: RTensor) -> tuple[Node | None, int]:
    """The edge a gradient for ``t`` flows into: its grad_fn, its leaf accumulator, or none."""
    if t.grad_fn is not None:
        return (t.grad_fn, t.output_nr)
    if not t._requires_grad:
        return (None, 0)
    acc = t._grad_accumulator() if t._grad_accumulator is not None else None
    if acc is None:
        acc = AccumulateGrad(t)
        t._grad_accumulator = weakref.ref(acc)
    return (acc, 0)


def set_history(node: Node, inputs: Sequence[RTensor | None], outputs: Sequence[RTensor]) -> None:
    """Connects ``node`` to ``inputs`` (edges and metadata) and makes it the grad_fn of outputs."""
    for t in inputs:
        if t is not None and t._requires_grad:
            node.next_edges.append(gradient_edge(t))
        else:
            node.next_edges.append((None, 0))
        node.input_meta.append((t.shape, t.dtype) if t is not None else ((), FLOAT32))
    if is_anomaly_enabled() and _trace_fn is not None:
        node.creation_trace = _trace_fn()
    for nr, o in enumerate(outputs):
        node.output_meta.append((o.shape, o.dtype))
        o.grad_fn = node
        node.outputs.append(weakref.ref(o))
        if is_keep_outputs_enabled():
            node.kept_outputs.append(detach(o))
        o.output_nr = nr
        o._requires_grad = True


def rebase_history(dst: RTensor, src: RTensor) -> None:
    """A differentiable in-place op wrote ``src`` (computed out of place) into ``dst``'s memory:
    ``dst`` takes over src's history (grad_fn and output number)."""
    if src.grad_fn is None:
        raise RuntimeError("rebase_history: the source has no history")
    dst.grad_fn = src.grad_fn
    dst.output_nr = src.output_nr
    dst._requires_grad = True
    dst.grad_fn.outputs[src.output_nr] = weakref.ref(dst)


def make_node(name: str, rule: Rule, inputs: Sequence[RTensor | None], outputs: Sequence[RTensor],
              args: tuple = ()) -> FnNode | None:
    """A FnNode wired to inputs/outputs when grad is needed, else None."""
    if not any_requires_grad(inputs):
        return None
    node = FnNode(name, rule, args)
    set_history(node, inputs, outputs)
    return node
