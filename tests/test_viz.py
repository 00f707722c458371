"""fastgrad.viz on both backends: the DOT text of seed example 1 carries its values and gradients
on the right edges; big tensors are summarised; rendering runs `dot` (a stand-in script here) and
says what is missing when Graphviz is not installed."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import fastgrad
import pytest
from fastgrad import viz


def edges(dot: str) -> dict[tuple[str, str], list[str]]:
    """(source label, target label) -> the texts on the edge (value, then gradient if any)."""
    labels = dict(re.findall(r'^\s*(\w+) \[label="([^"]*)"', dot, re.MULTILINE))
    out = {}
    for src, dst, label in re.findall(r"^\s*(\w+) -> (\w+) \[label=<(.*)>\];$", dot, re.MULTILINE):
        out[(labels.get(src, src), labels.get(dst, dst))] = re.findall(r">([^<]+)</font>", label)
    return out


def seed1() -> tuple:
    x, y, z = (fastgrad.tensor(v, dtype=fastgrad.float64, requires_grad=True)
               for v in (-2.0, 5.0, -4.0))
    q = x + y
    f = q * z
    return x, y, z, q, f


def test_seed1_values_and_gradients_on_the_edges(backend: str) -> None:
    x, y, z, q, f = seed1()
    names = {"x": x, "y": y, "z": z, "f": f}
    before = edges(viz.draw(f, names=names))
    assert before == {("x", "add"): ["-2"], ("y", "add"): ["5"], ("add", "mul"): ["3"],
                      ("z", "mul"): ["-4"], ("mul", "f"): ["-12"]}
    q.retain_grad()
    f.backward()
    dot = viz.draw(f, names=names)
    assert dot.startswith("digraph fastgrad {") and dot.rstrip().endswith("}")
    assert edges(dot) == {("x", "add"): ["-2", "-4"], ("y", "add"): ["5", "-4"],
                          ("add", "mul"): ["3", "-4"], ("z", "mul"): ["-4", "3"],
                          ("mul", "f"): ["-12"]}


def test_unnamed_big_and_freed(backend: str) -> None:
    w = fastgrad.randn(64, 32, requires_grad=True)
    h = (fastgrad.randn(8, 64) @ w).relu().log_softmax(-1)
    e = edges(viz.draw(h.sum()))
    assert e[("leaf\\n(64, 32)", "matmul")][0].startswith("shape (64, 32), mean ")
    assert ("log_softmax", "sum") in e and ("relu", "log_softmax") in e
    x = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2.0).sum()  # exp's output is held only by mul's saved tensors
    y.backward()
    e = edges(viz.draw(y))
    assert e[("exp", "mul")] == ["(value freed)"]
    assert e[("leaf\\n(2,)", "exp")] == ["[1, 2]", "[5.437, 14.78]"]
    assert edges(viz.draw(x)) == {("leaf\\n(2,)", "output"): ["[1, 2]", "[5.437, 14.78]"]}


def test_render_runs_dot(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\necho "rendered $1"; cat\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    *_, f = seed1()
    out = tmp_path / "graph.svg"
    svg = viz.draw(f, format="svg", path=str(out))
    assert svg.startswith("rendered -Tsvg\ndigraph fastgrad {") and out.read_text() == svg
    png = viz.draw(f, format="png")
    assert isinstance(png, bytes) and png.startswith(b"rendered -Tpng")
    fake.write_text("#!/bin/sh\necho 'syntax error' >&2; exit 3\n")
    with pytest.raises(RuntimeError, match=r"draw: `dot -Tsvg` failed \(3\): syntax error"):
        viz.draw(f, format="svg")


def test_errors(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    *_, f = seed1()
    with pytest.raises(RuntimeError, match=r"draw: format='png' needs Graphviz's `dot` program, "
                                           r"which is not on PATH\. Install Graphviz"):
        viz.draw(f, format="png", path=str(tmp_path / "g.png"))
    assert not (tmp_path / "g.png").exists()
    with pytest.raises(ValueError, match="draw: format must be one of dot, svg, png, got 'pdf'"):
        viz.draw(f, format="pdf")
    with pytest.raises(TypeError, match="draw: expected a Tensor, got list"):
        viz.draw([1.0])
    p = tmp_path / "g.dot"
    assert viz.draw(f, path=str(p)) == p.read_text()


def test_seed3_full_picture_with_record_and_backward(backend: str) -> None:
    w0, x0, w1, x1, w2 = (fastgrad.tensor(v, dtype=fastgrad.float64, requires_grad=True)
                          for v in (2.0, -1.0, -3.0, -2.0, -3.0))
    with viz.record():
        f = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
    assert not fastgrad._backend.current.is_keep_outputs_enabled()
    e = edges(viz.draw(f, names={"w0": w0, "x0": x0, "w1": w1, "x1": x1, "w2": w2, "f": f},
                       backward=True))
    # Every wire of the lecture's picture: value, then gradient.
    assert e[("div", "f")] == ["0.7311", "1"]
    assert e[("add", "div")] == ["1.368", "-0.5344"]
    assert e[("exp", "add")] == ["0.3679", "-0.5344"]
    assert e[("neg", "exp")] == ["-1", "-0.1966"]
    assert e[("add", "neg")] == ["1", "0.1966"]
    assert e[("w0", "mul")] == ["2", "-0.1966"] and e[("x0", "mul")] == ["-1", "0.3932"]
    assert e[("w1", "mul")] == ["-3", "-0.3932"] and e[("x1", "mul")] == ["-2", "-0.5898"]
    assert e[("w2", "add")] == ["-3", "0.1966"]
    assert w0.grad.item() == pytest.approx(-0.19661193, abs=1e-8)  # backward really ran
    # Outside record(), an intermediate nothing saved is gone.
    g = (w0 * x0 + w2).exp()
    assert edges(viz.draw(g))[("add", "exp")] == ["(value freed)"]
