"""The random number generator behind rand, randn, uniform_, normal_, dropout and checkpoint's
replay: one NumPy generator, so both backends see the same values. Nothing above NumPy here."""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seeds the generator behind rand, randn, uniform_, normal_ and dropout."""
    global _generator
    _generator = np.random.default_rng(int(seed))


def _rng() -> np.random.Generator:
    return _generator
