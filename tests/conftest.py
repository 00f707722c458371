"""Shared fixtures: every test that takes ``backend`` runs on the C++ and the Python backend."""

from __future__ import annotations

import fastgrad
import numpy as np
import pytest
from fastgrad import _backend

BACKENDS = ["cpp", "python"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    name = request.param
    if name not in _backend.available():
        pytest.skip(f"the C++ backend did not import: {_backend._core_error}")
    prev = fastgrad.get_backend()
    fastgrad.set_backend(name)
    fastgrad.manual_seed(0)
    yield name
    fastgrad.set_backend(prev)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def torch_or_skip():  # type: ignore[no-untyped-def]
    return pytest.importorskip("torch", reason="PyTorch is not installed")
