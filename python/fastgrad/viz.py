"""Pictures of the computational graph behind a tensor, in the lecture's style: op nodes, leaves as
boxes, each edge labelled with the forward value flowing along it (green) and, once known, its
gradient (red: a leaf's ``.grad``, a non-leaf's after ``retain_grad()``, or every edge's with
``draw(t, backward=True)``, which runs the backward pass itself).

Values come from the tensors themselves (nodes keep weak references to their outputs): an
intermediate that nothing holds any more (no rule saved it, or backward freed it) shows as
"(value freed)"; build the graph inside ``with fastgrad.viz.record():`` to keep every value.
``draw(t)`` returns Graphviz DOT text (no dependency); ``format="svg"|"png"`` runs Graphviz's
``dot`` program, which must be installed (``apt-get install graphviz``, ``brew install graphviz``
or ``conda install -c conda-forge graphviz``). Not here: layout (Graphviz does it). Example::

    with fastgrad.viz.record():
        f = (x + y) * z
    print(fastgrad.viz.draw(f, names={"x": x, "y": y, "z": z, "f": f}, backward=True))
"""

from __future__ import annotations

import html
import re
import shutil
from typing import Any

import numpy as np

from fastgrad import _backend
from fastgrad.tensor import Tensor

FORMATS = ("dot", "svg", "png")
VALUE_COLOR = "#1a7f37"
GRAD_COLOR = "#cf222e"


def _op_label(node: Any) -> str:
    """``MulBackward`` -> ``mul``, ``LogSoftmaxBackward`` -> ``log_softmax``."""
    name = node.name()
    name = name.removesuffix("Backward")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _summary(impl: Any, b: Any, max_elements: int) -> str:
    """A tensor as its values (small) or its shape and a summary (big)."""
    a = np.asarray(b.to_numpy(impl), dtype=np.float64)
    if a.size == 1:
        return f"{a.reshape(-1)[0]:.4g}"
    if a.size <= max_elements:
        body = ", ".join(f"{v:.4g}" for v in a.reshape(-1))
        return f"[{body}]" if a.ndim == 1 else f"{a.shape}: [{body}]"
    if a.size == 0:
        return f"shape {a.shape}"
    return f"shape {a.shape}, mean {a.mean():.3g}, |max| {np.abs(a).max():.3g}"


class _Graph:
    """Walks the graph from the root without recursion and writes the DOT statements."""

    def __init__(self, root: Tensor, names: dict[str, Tensor], max_elements: int) -> None:
        self.b = root._b
        self.names = {t._impl.key: n for n, t in names.items()}
        self.max_elements = max_elements
        self.ids: dict[int, str] = {}
        self.keep: list[Any] = []  # keeps node wrappers alive so id() stays unique
        # DOT statements; an edge is (source id, target id, value handle or None, producing node
        # or None, output number), labelled last so that a backward run after the walk shows.
        self.lines: list[Any] = []
        self.grads: dict[tuple[int, int], Any] = {}  # (id(node), nr) -> gradient (backward=True)

    def node_id(self, node: Any) -> tuple[str, bool]:
        key = id(node)
        if key in self.ids:
            return self.ids[key], False
        self.keep.append(node)
        self.ids[key] = f"n{len(self.ids)}"
        return self.ids[key], True

    def text_of(self, impl: Any, color: str) -> str:
        text = html.escape(_summary(impl, self.b, self.max_elements))
        return f'<font color="{color}">{text}</font>'

    def edge_label(self, value: Any, node: Any, nr: int) -> str:
        if value is None:
            return f'<<font color="{VALUE_COLOR}">(value freed)</font>>'
        grad = self.grads.get((id(node), nr)) if node is not None else None
        if grad is None:
            grad = value.grad
        parts = [self.text_of(value, VALUE_COLOR)]
        if grad is not None:
            parts.append(self.text_of(grad, GRAD_COLOR))
        return "<" + "<br/>".join(parts) + ">"

    def leaf_label(self, impl: Any) -> str:
        name = self.names.get(impl.key, "leaf")
        return name if impl.ndim == 0 else f"{name}\\n{tuple(impl.shape)}"

    def walk(self, root: Tensor) -> None:
        impl = root._impl
        out_name = self.names.get(impl.key, "output")
        self.lines.append(f'  out [label="{out_name}", shape=plaintext];')
        if impl.grad_fn is None:
            self.lines.append(f'  leaf [label="{self.leaf_label(impl)}", shape=box];')
            self.lines.append(("leaf", "out", impl, None, 0))
            return
        top, _ = self.node_id(impl.grad_fn)
        self.lines.append((top, "out", impl, impl.grad_fn, impl.output_nr))
        stack = [impl.grad_fn]
        while stack:
            node = stack.pop()
            nid = self.ids[id(node)]
            self.lines.append(f'  {nid} [label="{_op_label(node)}", shape=ellipse];')
            for fn, nr in node.next_functions:
                if fn is None:
                    continue
                fid, fresh = self.node_id(fn)
                leaf = fn.variable if fn.name() == "AccumulateGrad" else None
                if leaf is not None:
                    if fresh:
                        self.lines.append(f'  {fid} [label="{self.leaf_label(leaf)}", shape=box];')
                    self.lines.append((fid, nid, leaf, None, 0))
                    continue
                if fresh:
                    stack.append(fn)
                self.lines.append((fid, nid, fn.output(nr), fn, nr))

    def capture_gradients(self) -> None:
        """Pre-hooks on every producing node record the gradient of each output used."""
        for line in self.lines:
            if not isinstance(line, tuple) or line[3] is None or line[2] is None:
                continue
            node, nr = line[3], line[4]
            key = (id(node), nr)
            if key in self.grads:
                continue
            self.grads[key] = None

            def hook(g: Any, key: tuple[int, int] = key) -> None:
                self.grads[key] = g

            node.register_prehook(nr, hook)

    def text(self) -> str:
        head = ["digraph fastgrad {", "  rankdir=LR;",
                '  node [fontname="Helvetica"]; edge [fontname="Helvetica", fontsize=10];']
        body = []
        for line in self.lines:
            if isinstance(line, tuple):
                src, dst, value, node, nr = line
                line = f"  {src} -> {dst} [label={self.edge_label(value, node, nr)}];"
            body.append(line)
        return "\n".join(head + body + ["}"]) + "\n"


def to_dot(t: Tensor, names: dict[str, Tensor] | None = None, max_elements: int = 4,
           backward: bool = False) -> str:
    """The graph behind ``t`` as DOT text (see draw)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"draw: expected a Tensor, got {type(t).__name__}")
    g = _Graph(t, names or {}, max_elements)
    g.walk(t)
    if backward:
        g.capture_gradients()
        t.backward()
    return g.text()


class record:
    """Context manager: graphs built inside keep every forward value for ``draw``.

    Normally an intermediate that no backward rule saved is freed as soon as it is consumed, and
    ``draw`` shows "(value freed)" for it; inside ``record()`` each new node keeps a detached copy
    of its outputs' handles (memory: every intermediate lives as long as the graph). Example::

        with fastgrad.viz.record():
            f = ((x + y) * z).exp()
        print(fastgrad.viz.draw(f, backward=True))
    """

    def __enter__(self) -> None:
        self._prev = [(b, b.is_keep_outputs_enabled()) for b in _backend._BACKENDS.values()]
        for b, _ in self._prev:
            b.set_keep_outputs_enabled(True)

    def __exit__(self, *exc: object) -> None:
        for b, flag in self._prev:
            b.set_keep_outputs_enabled(flag)


def draw(t: Tensor, format: str = "dot", path: str | None = None,
         names: dict[str, Tensor] | None = None, max_elements: int = 4,
         backward: bool = False) -> str | bytes:
    """The computational graph behind ``t``: DOT text, or an SVG (text) / PNG (bytes) rendering.

    ``names`` maps labels to tensors (leaves and the output); tensors with at most
    ``max_elements`` elements show their values, bigger ones their shape, mean and largest
    magnitude. ``backward=True`` runs ``t.backward()`` after reading the graph, keeping every
    intermediate value and gradient: the full lecture picture. With ``path`` the result is also
    written there. Example: ``fastgrad.viz.draw(loss, format="svg", path="graph.svg")``.
    """
    if format not in FORMATS:
        raise ValueError(f"draw: format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format != "dot" and shutil.which("dot") is None:
        raise RuntimeError(
            f"draw: format={format!r} needs Graphviz's `dot` program, which is not on PATH. "
            "Install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
            "graphviz; conda: conda install -c conda-forge graphviz), or use format='dot' "
            "for the DOT text and render it with any Graphviz viewer."
        )
    dot = to_dot(t, names, max_elements, backward)
    if format == "dot":
        out: str | bytes = dot
    else:
        import subprocess

        r = subprocess.run(["dot", f"-T{format}"], input=dot.encode(), capture_output=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"draw: `dot -T{format}` failed ({r.returncode}): "
                               f"{r.stderr.decode(errors='replace').strip()}")
        out = r.stdout.decode() if format == "svg" else r.stdout
    if path is not None:
        mode = "wb" if isinstance(out, bytes) else "w"
        with open(path, mode) as f:
            f.write(out)
    return out


__all__ = ["draw", "record", "to_dot"]
