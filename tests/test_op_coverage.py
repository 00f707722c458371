"""The op table (fastgrad._optable) against what the backends and the Tensor API provide: a
primitive missing from either backend, a C++ binding missing from the table, a table row without
its generated method or function, or a differentiable unary primitive without a test case fails."""

from __future__ import annotations

import fastgrad
import pytest
from fastgrad import _backend, reference
from fastgrad._optable import OP_TABLE, PRIMITIVES, RUNTIME

# _core's names that are neither ops nor the backend contract: classes, build facts, test hooks.
CORE_EXTRAS = {"Node", "TensorImpl", "FastgradTypeError", "build_info", "live_counts", "_gemm",
               "_gemm_kernel_name", "install_fast_paths"}
NAMES = [p.name for p in PRIMITIVES] + list(RUNTIME)


def test_table_names_unique() -> None:
    assert len(NAMES) == len(set(NAMES))
    assert {p.kind for p in PRIMITIVES} <= {"unary", "binary", "custom"}


@pytest.mark.parametrize("b", _backend.available())
def test_every_primitive_in_backend(b: str) -> None:
    mod = _backend._BACKENDS[b]
    missing = [n for n in NAMES if not callable(getattr(mod, n, None))]
    assert not missing, f"backend {b} lacks {missing}"


def test_core_has_nothing_outside_the_table() -> None:
    if "cpp" not in _backend.available():
        pytest.skip("the C++ backend did not import")
    core = _backend._BACKENDS["cpp"]
    public = {n for n in dir(core) if not n.startswith("__")}
    assert public - set(NAMES) - CORE_EXTRAS == set()


def test_reference_exports_exactly_the_table() -> None:
    assert sorted(reference.__all__) == sorted(NAMES)


def test_generated_methods_and_functions() -> None:
    x = fastgrad.tensor([0.25, 0.5])
    for p in PRIMITIVES:
        if p.method:
            assert callable(getattr(fastgrad.Tensor, p.name, None)), f"Tensor.{p.name}"
            assert getattr(x, p.name)().shape == (2,)
        if p.function:
            assert callable(getattr(fastgrad, p.name, None)), f"fastgrad.{p.name}"
            assert p.name in fastgrad.__all__


def test_unary_primitives_have_test_cases() -> None:
    cases = {s.name for s in OP_TABLE}
    untested = [p.name for p in PRIMITIVES
                if p.kind == "unary" and p.differentiable and p.name not in cases]
    assert not untested, f"add OP_TABLE cases for {untested}"
