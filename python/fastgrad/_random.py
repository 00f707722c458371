"""The random number generator behind rand, randn, uniform_, normal_, dropout and checkpoint's
replay: one NumPy generator, so both backends see the same values. Nothing above NumPy here."""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seeds the generator behind rand, randn, uniform_, normal_ and dropout."""
    global _generator
    _generator = np.random.default_rng(int(seed))


def _rng(generator: object = None) -> np.random.Generator:
    """The NumPy generator behind ``generator=``: a fastgrad.Generator's, a NumPy Generator
    itself, or (None) the global one that manual_seed seeds."""
    if generator is None:
        return _generator
    if isinstance(generator, np.random.Generator):
        return generator
    np_gen = getattr(generator, "_np", None)
    if not isinstance(np_gen, np.random.Generator):
        raise TypeError(f"generator: expected a fastgrad.Generator, got {type(generator).__name__}")
    return np_gen
