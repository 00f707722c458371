"""python/fastgrad/_core.pyi is kept in step with the extension: the same names, the same arity.

A new binding without a stub entry (or a stub entry for a binding that is gone) fails here; the
message lists what to add or remove. Not checked: the parameter and return types themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fastgrad
import pytest
from fastgrad._optable import PRIMITIVES

STUB = Path(fastgrad.__file__).resolve().parent / "_core.pyi"
# pybind11's own attributes on classes it makes, not part of the API.
_INTERNAL = {"_pybind11_conduit_v1_"}


def _core():  # type: ignore[no-untyped-def]
    from fastgrad import _backend

    if "cpp" not in _backend.available():
        pytest.skip(f"the C++ backend did not import: {_backend._core_error}")
    from fastgrad import _core

    return _core


def _stub() -> ast.Module:
    if not STUB.exists():
        pytest.fail(f"{STUB} is missing")
    return ast.parse(STUB.read_text(), str(STUB))


def _public(names: list[str]) -> set[str]:
    return {n for n in names if not n.startswith("__") and n not in _INTERNAL}


def _stub_names(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    out: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
    return out


def _module_names(tree: ast.Module) -> dict[str, ast.stmt]:
    # The stub's own type aliases (_DType: TypeAlias = int) are not names of _core: skipped.
    return {
        n: s
        for n, s in _stub_names(tree.body).items()
        if not (isinstance(s, ast.AnnAssign) and ast.unparse(s.annotation) == "TypeAlias")
    }


def test_stub_has_every_name_of_core() -> None:
    core = _core()
    stub = set(_module_names(_stub()))
    names = _public(dir(core))
    # Unary and binary primitives are bound from the op table; the stub's module __getattr__
    # types them (Tensor f(Tensor) / f(Tensor, Tensor)), so a new one needs no stub line.
    generated = {p.name for p in PRIMITIVES if p.kind in ("unary", "binary")}
    missing, extra = sorted(names - stub - generated), sorted(stub - names - {"__getattr__"})
    assert not missing, f"_core has names _core.pyi lacks (add them to the stub): {missing}"
    assert not extra, f"_core.pyi has names _core lacks (remove them from the stub): {extra}"


def test_stub_classes_have_every_member() -> None:
    core = _core()
    for name, node in _module_names(_stub()).items():
        cls = getattr(core, name, None)  # a name missing from _core fails the test above
        if not isinstance(node, ast.ClassDef) or cls is None or issubclass(cls, BaseException):
            continue
        stub = set(_stub_names(node.body))
        names = _public(list(vars(cls)))
        missing, extra = sorted(names - stub), sorted(stub - names)
        assert not missing, f"_core.{name} has members _core.pyi lacks: {missing}"
        assert not extra, f"_core.pyi's {name} has members _core.{name} lacks: {extra}"


def _split_top_level(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def _arity_from_pybind_doc(fn: object, name: str) -> int | None:
    """Parameter count from pybind11's signature line ``name(arg0: T, ...) -> R``, or None."""
    doc = (getattr(fn, "__doc__", None) or "").lstrip()
    if not doc.startswith(name + "(") or "Overloaded function" in doc:
        return None
    head = doc.splitlines()[0]
    inner = head[len(name) + 1 : head.rindex(")")]
    params = [p for p in _split_top_level(inner) if p.strip()]
    return len([p for p in params if not p.strip().startswith("self")])


def test_stub_arity_matches_bindings() -> None:
    core = _core()
    wrong = []
    for name, node in _module_names(_stub()).items():
        if not isinstance(node, ast.FunctionDef) or not hasattr(core, name):
            continue
        n = _arity_from_pybind_doc(getattr(core, name), name)
        if n is None:
            continue
        a = node.args
        ours = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
        if ours != n:
            wrong.append(f"{name}: stub {ours}, binding {n}")
    assert not wrong, f"parameter counts differ between _core.pyi and _core: {wrong}"


def test_py_typed_marker_ships() -> None:
    assert (STUB.parent / "py.typed").exists()
