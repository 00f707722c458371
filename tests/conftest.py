"""Shared fixtures: every test that takes ``backend`` runs on the C++ and the Python backend."""

from __future__ import annotations

import os

import fastgrad
import numpy as np
import pytest
from fastgrad import _backend

# FASTGRAD_TEST_BACKENDS=cpp runs the backend-parametrized tests on the C++ backend only:
# tools/sanitize.sh sets it, since AddressSanitizer has nothing to check in the NumPy backend.
BACKENDS = os.environ.get("FASTGRAD_TEST_BACKENDS", "cpp,python").split(",")


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
