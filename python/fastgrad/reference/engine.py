# The reference backend's backward engine and custom-Function nodes, mirroring
# cpp/autograd/engine.cpp step by step (the same named steps): dependency counts from an explicit
# stack, a ready stack, per-node gradient buffers summed and dropped once consumed, sum_to for
# broadcast gradients, saved tensors released after each node unless retain_graph. Nothing
# recurses. Not here: derivative rules.
from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np

from fastgrad.reference.ops_elementwise import add, clone, full, to_dtype
from fastgrad.reference.ops_inplace import copy_
from fastgrad.reference.ops_reduce import sum_to
from fastgrad.reference.tape import (
    FREED_MESSAGE,
    AccumulateGrad,
    GradMode,
    Node,
    RTensor,
    any_requires_grad,
    gradient_edge,
    is_anomaly_enabled,
    is_floating,
    is_grad_enabled,
    set_history,
)


class _NodeTask:
    __slots__ = ("buffer", "dependencies")

    def __init__(self) -> None:
        self.dependencies = 0
        self.buffer: list[RTensor | None] = []


def _accumulate(task: _NodeTask, nr: int, n_outputs: int, g: RTensor) -> None:
    # Out of place: a buffer may be a tensor someone else holds (a seed, a hook's result).
    buf = task.buffer
    if len(buf) < n_outputs:
        buf.extend([None] * (n_outputs - len(buf)))
    buf[nr] = g if buf[nr] is None else add(buf[nr], g)


def accumulate_leaf(node: AccumulateGrad, grads: list[RTensor]) -> list:
    """An AccumulateGrad node's work: hooks, then the gradient summed into the leaf's .grad."""
    g = grads[0]
    for h in node.variable._hooks:
        r = h(g)
        if r is not None:
            g = r
    v = node.variable
    if v._grad is None:
        # Note [Grad buffer ownership]: without create_graph, .grad is a buffer of its own
        # (later backwards add into it in place); with it, .grad is the graph-carrying tensor.
        if is_grad_enabled():
            v._grad = g
        else:
            v._grad = RTensor(np.array(g.data, order="C", copy=True))
    elif is_grad_enabled():
        v._grad = add(v._grad, g)
    else:
        copy_(v._grad, add(v._grad, g))
    for h in v._post_acc_hooks:  # Tensor.register_post_accumulate_grad_hook
        h(v)
    return []


def bump_version(t: RTensor) -> None:
    """Marks t's memory as written (fastgrad.distributed writes it through NumPy)."""
    t.bump_version()


def register_post_accumulate_grad_hook(t: RTensor, fn: Callable) -> None:
    """fn(leaf) after the leaf's .grad was accumulated in backward (its return value is ignored)."""
    if not (t._requires_grad and t.grad_fn is None):
        what = "a leaf that does not require grad" if t.grad_fn is None else "not a leaf"
        raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors that require grad "
                         f"accumulate a .grad (this tensor is {what})")
    t._post_acc_hooks.append(fn)


# The steps of run_backward, in order; each has a twin of the same name in
# cpp/autograd/engine.cpp.
def _count_dependencies(root_edges: list, tasks: dict) -> None:
    """1) tasks[node].dependencies = number of edges into node, by an explicit depth-first walk."""
    stack: list[Node] = []
    for fn, _ in root_edges:
        if fn not in tasks:
            tasks[fn] = _NodeTask()
            stack.append(fn)
    while stack:
        n = stack.pop()
        for fn, _ in n.next_edges:
            if fn is None:
                continue
            t = tasks.get(fn)
            if t is None:
                t = tasks[fn] = _NodeTask()
                stack.append(fn)
            t.dependencies += 1


def _seed_roots(roots: list[RTensor], grad_roots: list[RTensor | None], root_edges: list,
                tasks: dict) -> list[Node]:
    """2) Each root's gradient (ones for a one-element root given none) into its node's buffer;
    returns the ready stack: the roots that nothing else feeds."""
    for i, r in enumerate(roots):
        g = grad_roots[i]
        if g is None:
            if r.numel != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs; pass "
                                   f"gradient= for a tensor of shape {r.shape}")
            g = full(r.shape, 1.0, r.dtype)
        if g.shape != r.shape:
            raise ValueError(f"backward: gradient of shape {g.shape} does not match the tensor's "
                             f"shape {r.shape}")
        fn, nr = root_edges[i]
        _accumulate(tasks[fn], nr, fn.num_outputs(), g)
    ready: list[Node] = []
    for fn, _ in root_edges:
        t = tasks[fn]
        if t.dependencies == 0:
            t.dependencies = -1  # queued
            ready.append(fn)
    return ready


def _input_grads(node: Node, task: _NodeTask, create_graph: bool) -> list[RTensor]:
    """3a) The node's gradients: its buffer (taken), zeros for outputs nothing reached, then its
    pre-hooks and retain_grad bookkeeping."""
    grads = task.buffer
    task.buffer = []
    grads = grads + [None] * (node.num_outputs() - len(grads))
    for k, g in enumerate(grads):
        if g is None:
            shape, dtype = node.output_meta[k]
            grads[k] = full(shape, 0.0, dtype)
    for nr, hook in node.pre_hooks:
        r = hook(grads[nr])
        if r is not None:
            grads[nr] = r
    _retain(node, grads, create_graph)
    return grads


def _retain(node: Node, grads: list[RTensor], create_graph: bool) -> None:
    """The .grad of outputs that asked for retain_grad()."""
    for nr, ref in node.retained:
        t = ref()
        if t is None:
            continue
        if t._grad is not None:
            t._grad = add(t._grad, grads[nr])
        else:
            t._grad = grads[nr] if create_graph else clone(grads[nr])


def _capture(node: Node, grads: list[RTensor], input_edges: list,
             captured: list[RTensor | None]) -> bool:
    """3b) grad(): the gradient arriving at an input's edge is captured. True when the node is
    not to be run: a leaf's accumulator, whose .grad grad() leaves alone."""
    for i, (fn, nr) in enumerate(input_edges):
        if fn is node:
            captured[i] = grads[nr]
    return isinstance(node, AccumulateGrad)


def _evaluate(node: Node, grads: list[RTensor], keep_graph: bool,
              anomaly: bool) -> Sequence[RTensor | None]:
    """3c) The node's rule on its output gradients, one gradient per input; then what it saved is
    freed unless the graph is kept."""
    if node.released:
        raise RuntimeError(FREED_MESSAGE.format(node.name()))
    outs = accumulate_leaf(node, grads) if type(node) is AccumulateGrad else node.apply(grads)
    if anomaly:
        _check_anomaly(node, outs)
    if not keep_graph:
        node.release_saved()
    return outs


def _check_anomaly(node: Node, outs: Sequence[RTensor | None]) -> None:
    """Anomaly mode: the first node whose backward returns NaN/inf names itself and its creator."""
    for i, g in enumerate(outs):
        if g is None or not is_floating(g.dtype) or np.isfinite(g.data).all():
            continue
        where = ("The forward call that created it:\n" + node.creation_trace
                 if node.creation_trace else
                 "(its forward ran outside detect_anomaly(), so where it was created is unknown)")
        raise RuntimeError(f"detect_anomaly: function '{node.name()}' returned nan or inf values "
                           f"in its output {i} (the gradient of input {i}, shape {g.shape}). "
                           f"{where}")


def _route_gradients(node: Node, outs: Sequence[RTensor | None], tasks: dict,
                     ready: list[Node]) -> None:
    """3d) Each input gradient, summed to the input's shape (undoing broadcasting) and cast to its
    dtype, into the next node's buffer; a next node whose last dependency this was is queued."""
    for i, (fn, nr) in enumerate(node.next_edges):
        if fn is None:
            continue
        t = tasks[fn]
        g = outs[i] if i < len(outs) else None
        if g is not None:
            shape, dtype = node.input_meta[i]
            if g.shape != shape:
                g = sum_to(g, shape)
            if g.dtype != dtype:
                g = to_dtype(g, dtype)
            _accumulate(t, nr, fn.num_outputs(), g)
        t.dependencies -= 1
        if t.dependencies == 0:
            ready.append(fn)


def _check_captured(captured: list[RTensor | None], allow_unused: bool) -> None:
    """4) grad(): every input must have received a gradient unless allow_unused."""
    for i, c in enumerate(captured):
        if c is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} was not used in the graph; pass "
                               "allow_unused=True to get None for it")


def run_backward(roots: Sequence[RTensor], grad_roots: Sequence[RTensor | None],
                 keep_graph: bool, create_graph: bool, inputs: Sequence[RTensor] | None,
                 allow_unused: bool) -> list[RTensor | None]:
    """Backward from ``roots`` seeded with ``grad_roots`` (None: ones, for a one-element root).

    With ``inputs`` None, gradients accumulate into leaves' .grad; otherwise the gradients
    reaching ``inputs`` are returned (grad()) and .grad is left alone.
    """
    roots, grad_roots = list(roots), list(grad_roots)
    if len(roots) != len(grad_roots):
        raise RuntimeError(f"backward: got {len(grad_roots)} gradients for {len(roots)} tensors")
    root_edges = []
    for i, r in enumerate(roots):
        if r is None or not r.requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        root_edges.append(gradient_edge(r))

    # Inputs of grad(): the gradient arriving at each one's edge is captured.
    capturing = inputs is not None
    input_edges = []
    for i, t in enumerate(inputs or ()):
        if t is None or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
        input_edges.append(gradient_edge(t))
    captured: list[RTensor | None] = [None] * len(input_edges)

    tasks: dict[Node, _NodeTask] = {}
    _count_dependencies(root_edges, tasks)
    ready = _seed_roots(roots, grad_roots, root_edges, tasks)

    # 3) Run each node once all the nodes that feed it have run.
    anomaly = is_anomaly_enabled()
    with GradMode(create_graph):
        while ready:
            node = ready.pop()
            grads = _input_grads(node, tasks[node], create_graph)
            skip = capturing and _capture(node, grads, input_edges, captured)
            outs = () if skip else _evaluate(node, grads, keep_graph, anomaly)
            del grads
            _route_gradients(node, outs, tasks, ready)
            del outs
            del tasks[node]

    if capturing:
        _check_captured(captured, allow_unused)
    return captured


def backward(roots: Sequence[RTensor], grads: Sequence[RTensor | None], retain_graph: bool,
             create_graph: bool) -> None:
    """Accumulates d(roots)/d(leaf) into every reachable leaf's .grad."""
    run_backward(roots, grads, bool(retain_graph), bool(create_graph), None, False)


def grad(outputs: Sequence[RTensor], inputs: Sequence[RTensor],
         grad_outputs: Sequence[RTensor | None], retain_graph: bool, create_graph: bool,
         allow_unused: bool) -> list[RTensor | None]:
    """The gradients of ``outputs`` reaching each of ``inputs`` (None if unused and allowed)."""
    return run_backward(outputs, grad_outputs, bool(retain_graph), bool(create_graph),
                        list(inputs), bool(allow_unused))


# --- custom Function nodes -----------------------------------------------------------------------
class PyFunctionNode(Node):
    """A node whose backward is a Python callable (fastgrad.autograd.Function): it takes the list
    of output gradients and returns one gradient (or None) per tensor input."""

    __slots__ = ("fn", "name_")

    def __init__(self, name: str, fn: Callable) -> None:
        super().__init__()
        self.name_ = name
        self.fn: Callable | None = fn

    def name(self) -> str:
        return self.name_

    def apply(self, grads: list[RTensor]) -> list[RTensor | None]:
        out = list(self.fn(list(grads)))
        if len(out) != len(self.next_edges):
            raise RuntimeError(f"function {self.name_} returned {len(out)} gradients but its "
                               f"forward had {len(self.next_edges)} tensor inputs")
        for i, g in enumerate(out):
            if g is not None and not isinstance(g, RTensor):
                raise TypeError(f"function {self.name_}: gradient {i} is a "
                                f"{type(g).__name__}, not a tensor")
            if g is not None and not self.needs_input_grad(i):
                out[i] = None
        return out

    def release_saved(self) -> None:
        super().release_saved()
        self.fn = None  # drops the ctx and what it saved


def function_apply(name: str, backward_fn: Callable, inputs: Sequence[RTensor],
                   outputs: Sequence[RTensor]) -> None:
    """Makes a PyFunctionNode the grad_fn of ``outputs`` when grad mode is on and an input
    requires grad (``inputs`` are the forward's tensor arguments, in order)."""
    if not any_requires_grad(inputs):
        return
    node = PyFunctionNode(name, backward_fn)
    set_history(node, list(inputs), list(outputs))
